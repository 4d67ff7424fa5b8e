package monitoring

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/sendgrid"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// stateSent: the bridge sent the day itself (sid: the message, call or email).
const stateSent = "sent"

// viaBridge marks a day's attempts the bridge made itself (dayState.Via).
const viaBridge = "bridge"

// VoicePath is the route of a reminder call's TwiML; the token is the
// day's survey link token.
const VoicePath = "/webhooks/twilio/voice/"

// voiceRing is how long a reminder call rings before it counts as not answered.
const voiceRing = 30

// sendDay sends a claimed day now, on the contact's channel: a day Twilio
// cannot schedule (too near, or a channel without a scheduler). It is at
// most once: an ambiguous answer is never simply repeated. stop reports
// that the number is opted out (21610).
func (f *Flow) sendDay(ctx context.Context, r *mapping.Reminders, id, date string, at time.Time, c *contacts.Contact) (stop bool, err error) {
	release := func() error { return f.cfg.Store.Del(unlockCtx(ctx), dayKey(id, date)) }
	log := f.log.With("contact_id", id, "date", date, "channel", c.ChannelOrSMS())
	link, err := f.cfg.Links.DayLink(id, date, c.Language, f.cfg.Location)
	if err != nil {
		_ = release()
		return false, fmt.Errorf("survey link for %s %s: %w", id, date, err)
	}
	attempt := dayState{State: stateClaimed, SendAt: at.Unix(), Tried: f.cfg.Now().Unix(), Via: viaBridge}
	save := func(st dayState) error {
		st.SendAt, st.BodyHash, st.Tried, st.Via = attempt.SendAt, attempt.BodyHash, attempt.Tried, attempt.Via
		return f.saveDay(unlockCtx(ctx), id, date, st)
	}
	skip := func(why string) (bool, error) {
		log.Warn("reminder day skipped: "+why, "send_at", at.Unix())
		f.m.reminder(c.ChannelOrSMS(), "bridge", "skipped")
		return false, save(dayState{State: stateSkipped})
	}

	channel := c.ChannelOrSMS()
	var sid string
	var sendErr error
	switch channel {
	case mapping.ChannelSMS, mapping.ChannelWhatsApp:
		if f.cfg.Sender == nil {
			return skip("no sender for messages")
		}
		tpl, hasTpl := r.WhatsAppTemplate(c.Language)
		if channel == mapping.ChannelWhatsApp && hasTpl {
			attempt.State = stateClaimed
			if err := f.saveDay(ctx, id, date, attempt); err != nil {
				_ = release()
				return false, err
			}
			sid, sendErr = f.cfg.Sender.SendContent(ctx, "whatsapp:"+c.Phone, tpl, map[string]string{"1": c.FirstName, "2": link})
			break
		}
		// SMS, or WhatsApp in a language without an approved template:
		// WhatsApp refuses free text, so the contact's SMS carries it.
		body := r.Render(c.Language, c.FirstName, link)
		attempt.BodyHash = bodyHash(body) // lets reconcile find it after an ambiguous answer
		if err := f.saveDay(ctx, id, date, attempt); err != nil {
			_ = release()
			return false, err
		}
		sid, sendErr = f.cfg.Sender.SendMessage(ctx, c.Phone, body)
	case mapping.ChannelVoice:
		if f.cfg.Caller == nil || f.cfg.VoiceFrom == "" {
			return skip("voice reminders are off (no caller id)")
		}
		if err := f.pace(ctx); err != nil {
			_ = release()
			return false, err
		}
		if err := f.saveDay(ctx, id, date, attempt); err != nil {
			_ = release()
			return false, err
		}
		sid, sendErr = f.cfg.Caller.CreateCall(ctx, twilio.CallRequest{
			To: c.Phone, From: f.cfg.VoiceFrom, URL: voiceURL(link), RingSeconds: voiceRing,
		})
	case mapping.ChannelEmail:
		if f.cfg.Mailer == nil {
			return skip("email reminders are off (no SendGrid key)")
		}
		if c.Email == "" {
			return skip("no email address on the record")
		}
		if err := f.saveDay(ctx, id, date, attempt); err != nil {
			_ = release()
			return false, err
		}
		sid, sendErr = f.cfg.Mailer.Send(ctx, sendgrid.Email{
			To: c.Email, Subject: r.EmailSubject(c.Language), Text: r.Render(c.Language, c.FirstName, link),
			CustomArgs: map[string]string{"contact_id": id, "date": date},
		})
	default:
		return skip("unknown channel")
	}

	switch {
	case sendErr == nil:
		log.Info("reminder sent by the bridge", "sid", sid)
		f.m.reminder(channel, "bridge", "ok")
		return false, save(dayState{State: stateSent, SID: sid})
	case twilio.HasCode(sendErr, twilio.CodeUnsubscribed):
		log.Info("number opted out at Twilio; reminders stop")
		if err := save(dayState{State: stateBlocked}); err != nil {
			return true, err
		}
		return true, f.cfg.Contacts.SetOptOut(unlockCtx(ctx), id, true)
	case twilio.IsAmbiguous(sendErr) || sendgrid.IsAmbiguous(sendErr):
		// Perhaps sent: never again for this day. An SMS (it has a body
		// hash) is settled by reconcile; the others stay unknown.
		log.Warn("reminder outcome unknown; not repeated", "err", queue.LogText(sendErr))
		f.m.reminder(channel, "bridge", "unknown")
		if err := save(dayState{State: stateUnknown}); err != nil {
			return false, err
		}
		if attempt.BodyHash != "" {
			if err := f.editUnknown(unlockCtx(ctx), id, attempt.Tried); err != nil {
				return false, err
			}
		}
		return false, nil
	case isPermanentSend(sendErr):
		log.Warn("reminder refused by the vendor; day skipped", "err", queue.LogText(sendErr))
		f.m.reminder(channel, "bridge", "refused")
		return false, save(dayState{State: stateSkipped})
	default:
		// Surely not sent: the claim goes, and the next round tries again.
		f.m.reminder(channel, "bridge", "error")
		if err := release(); err != nil {
			return false, err
		}
		return false, fmt.Errorf("send reminder %s %s: %s", id, date, queue.LogText(sendErr))
	}
}

// isPermanentSend: a 4xx other than 429 from Twilio or SendGrid.
func isPermanentSend(err error) bool {
	var tw *twilio.APIError
	if errors.As(err, &tw) {
		return tw.Status >= 400 && tw.Status < 500 && tw.Status != 429
	}
	var sg *sendgrid.APIError
	if errors.As(err, &sg) {
		return !sendgrid.IsTransient(err)
	}
	return false
}

// voiceURL turns a survey link into its call's TwiML URL: the same token.
func voiceURL(link string) string {
	i := strings.LastIndex(link, "/survey/")
	if i < 0 {
		return link
	}
	return link[:i] + VoicePath + link[i+len("/survey/"):]
}

// pace waits for a call slot: one per 1/CallsPerSecond across every
// instance, taken with SET NX on the slot's number.
func (f *Flow) pace(ctx context.Context) error {
	period := time.Duration(float64(time.Second) / f.cfg.CallsPerSecond)
	for {
		now := time.Now()
		// The first slot starting from now: calls are a whole period apart.
		slot := (now.UnixNano() + int64(period) - 1) / int64(period)
		for i := int64(0); i < 600; i++ {
			ok, err := f.cfg.Store.SetNX(ctx, "monitoring:{voice}:slot:"+strconv.FormatInt(slot+i, 10), "1", period*time.Duration(i+2)+time.Second)
			if err != nil {
				return fmt.Errorf("voice pacing: %w", err)
			}
			if !ok {
				continue
			}
			wait := time.Until(time.Unix(0, (slot+i)*int64(period)))
			if wait <= 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Delivery handles a failed message that means the number cannot receive
// texts (30003, 30005, 30006): every contact texted at it moves to
// reminders.fallback for the rest of its days, once, and the change is
// written on the record as an activity.
func (f *Flow) Delivery(ctx context.Context, d event.Delivery) error {
	m := f.cfg.Mappings.Current()
	if m == nil || m.Reminders() == nil || m.Reminders().Fallback() == "" {
		return nil
	}
	fb := m.Reminders().Fallback()
	ids, err := f.cfg.Contacts.ContactsByPhone(ctx, d.To)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := f.fallBack(ctx, m, id, fb, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f *Flow) fallBack(ctx context.Context, m *mapping.Mapping, id, fb string, d event.Delivery) error {
	ctx, release, err := f.cfg.Contacts.Lock(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	c, found, err := f.cfg.Contacts.Load(ctx, id)
	if err != nil || !found {
		return err
	}
	from := c.ChannelOrSMS()
	if from == mapping.ChannelVoice || from == mapping.ChannelEmail || c.FellBack || from == fb {
		return nil // calls and email are not texts; and a contact falls back once
	}
	// What Twilio holds goes to the old channel: cancel it; the canceled
	// days are sent on the new channel.
	n, err := f.cancelDays(ctx, id, c, nil)
	if err != nil {
		return err
	}
	c.Channel, c.FellBack = fb, true
	// The activity before the state: a retry after a failed write finds
	// the contact not yet moved and writes it again (an upsert: one row).
	if err := f.fallbackActivity(ctx, m, id, c, d); err != nil {
		return err
	}
	if err := f.saveContact(ctx, id, c); err != nil {
		return err
	}
	f.m.fallbacks.WithLabelValues(from, fb).Inc()
	f.log.Info("contact moved to the fallback channel", "contact_id", id, "from", from, "to", fb, "error_code", d.ErrorCode, "canceled", n)
	if !c.Active || !f.cfg.Enabled {
		return nil
	}
	if ok, err := f.cfg.Contacts.OptedOut(ctx, id); err != nil || ok {
		return err
	}
	c.Pending = -1
	_, err = f.schedule(ctx, m.Reminders(), id, &c)
	return err
}

// fallbackActivity writes the channel change once per contact, upserted
// by "<contact>-fallback".
func (f *Flow) fallbackActivity(ctx context.Context, m *mapping.Mapping, id string, c contacts.Contact, d event.Delivery) error {
	o := m.OutcomeToCRM()
	if f.cfg.Activities == nil || o == nil {
		return nil
	}
	if c.Object != "" && !strings.EqualFold(c.Object, "Contact") && !strings.EqualFold(c.Object, "Lead") {
		return nil // WhoId takes contacts and leads only
	}
	fields := salesforce.Record{
		"WhoId":        id,
		"Subject":      "Reminders moved to " + c.ChannelOrSMS(),
		"Description":  fmt.Sprintf("Twilio error %d on message %s: the number cannot receive texts. Daily reminders now go by %s.", d.ErrorCode, d.MessageSID, c.ChannelOrSMS()),
		"Status":       "Completed",
		"ActivityDate": d.At.In(f.cfg.Location).Format("2006-01-02"),
	}
	if _, err := f.cfg.Activities.Upsert(ctx, o.Object(), o.ExternalIDField(), id+"-fallback", fields); err != nil {
		return queue.Classify(fmt.Errorf("write fallback activity of %s: %w", id, err))
	}
	return nil
}
