package monitoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// Record applies one change of a record of the reminders' object: it
// schedules the contact's reminders while the record is active and not
// opted out, and cancels what is left otherwise.
func (f *Flow) Record(ctx context.Context, rec event.Record) error {
	m := f.cfg.Mappings.Current()
	if m == nil || m.Reminders() == nil || !strings.EqualFold(rec.Object, m.Reminders().Object()) || rec.RecordID == "" {
		return nil
	}
	r := m.Reminders()
	id := rec.RecordID
	ctx, release, err := f.cfg.Contacts.Lock(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	log := f.log.With("contact_id", id, "notification_id", rec.NotificationID)

	old, found, err := f.cfg.Contacts.Load(ctx, id)
	if err != nil {
		return err
	}
	lm := lastModified(rec.Fields)
	if lm != "" && old.LastModified != "" && lm < old.LastModified {
		log.Info("stale notification ignored")
		return nil
	}
	fields := mapping.Record(rec.Fields)
	optedOut, err := f.cfg.Contacts.OptedOut(ctx, id)
	if err != nil {
		return err
	}
	optedOut = optedOut || recordOptedOut(m, rec)

	// Settle days of unknown outcome first, so that what turns out to be
	// scheduled is canceled or kept like any other day. A failure leaves
	// them for a later try (and Run); the rest of the work goes on.
	var rerr error
	if found {
		if rerr = f.reconcile(ctx, id, old); rerr != nil {
			log.Warn("reconciling reminders of unknown outcome failed", "err", queue.LogText(rerr))
		}
	}
	if !r.Active(fields) || optedOut {
		if !found {
			return nil
		}
		n, err := f.cancelDays(ctx, id, old, nil)
		if err != nil {
			return err
		}
		cur := old
		// Active is "in monitoring": an opted-out contact may START again.
		cur.Active, cur.LastModified = r.Active(fields), maxString(lm, old.LastModified)
		if err := f.setPending(ctx, id, &cur, 0); err != nil {
			return err
		}
		if err := f.saveContact(ctx, id, cur); err != nil {
			return err
		}
		log.Info("reminders stopped", "canceled", n, "opted_out", optedOut)
		return rerr
	}
	if !f.cfg.Enabled {
		log.Debug("reminders are off: no messaging service")
		return rerr
	}

	to, err := r.To(fields)
	if err != nil {
		// An email contact needs no phone number.
		if r.Channel(fields) != mapping.ChannelEmail || r.Email(fields) == "" {
			return queue.Classify(fmt.Errorf("reminders of %s: %w", id, err))
		}
		to = ""
	}
	plan := PlanReminders(r, fields, f.cfg.Now(), f.cfg.Location, "")
	start := plan.Start
	if !plan.StartFromRecord && found && old.Start != "" {
		start = old.Start // "today" must not move with every later change
	}
	cur := contacts.Contact{
		Object: rec.Object, Phone: to, FirstName: r.Name(fields), Language: f.cfg.Links.Language(r.Language(fields)),
		Start: start, Days: r.Days(), Active: true, LastModified: maxString(lm, old.LastModified),
		Pending: old.Pending, Channel: r.Channel(fields), Email: r.Email(fields), Time: plan.Time,
	}
	if found && old.FellBack && old.Phone == cur.Phone {
		// The number still cannot receive texts: keep the fallback.
		cur.Channel, cur.FellBack = old.Channel, true
	}

	if found {
		// A new number: what is scheduled goes to the old one. Cancel it;
		// canceled days are rescheduled to the new number below.
		var keep func(string) bool
		if old.Phone == cur.Phone && old.ChannelOrSMS() == cur.ChannelOrSMS() && old.Time == cur.Time {
			keep = inSet(cur.Dates())
		}
		if n, err := f.cancelDays(ctx, id, old, keep); err != nil {
			return err
		} else if n > 0 {
			log.Info("reminders moved", "canceled", n, "phone_changed", old.Phone != cur.Phone, "channel", cur.ChannelOrSMS())
		}
		if old.Phone != cur.Phone {
			// Days of the old number not handed over are dropped with it:
			// the rolling schedule is recomputed below.
			if err := f.setPending(ctx, id, &cur, 0); err != nil {
				return err
			}
		}
		if old.Phone != "" && old.Phone != cur.Phone {
			if err := f.cfg.Contacts.ForgetPhone(ctx, old.Phone, id); err != nil {
				return err
			}
		}
	}
	// Remember the number before texting it, so a quick STOP finds the contact.
	if err := f.cfg.Contacts.RememberPhone(ctx, cur.Phone, id); err != nil {
		return err
	}
	if err := f.saveContact(ctx, id, cur); err != nil {
		return err
	}
	n, err := f.schedule(ctx, r, id, &cur)
	if err != nil {
		return err
	}
	log.Info("reminders scheduled", "scheduled", n, "days", cur.Days)
	return rerr
}

func recordOptedOut(m *mapping.Mapping, rec event.Record) bool {
	obj, field := m.OptOutField()
	if field == "" || !strings.EqualFold(obj, rec.Object) {
		return false
	}
	for k, v := range rec.Fields {
		if strings.EqualFold(k, field) {
			switch x := v.(type) {
			case bool:
				return x
			case string:
				return strings.EqualFold(strings.TrimSpace(x), "true")
			}
		}
	}
	return false
}

// sendAt is the day's reminder time in the reminders' zone, at the
// contact's own time when it has one (as PlanReminders plans it).
func (f *Flow) sendAt(r *mapping.Reminders, c *contacts.Contact, date string) (time.Time, error) {
	d, err := time.Parse("2006-01-02", date)
	if err != nil {
		return time.Time{}, err
	}
	own := ""
	if c != nil {
		own = c.Time
	}
	return dayAt(r, d, own, f.cfg.Location), nil
}

// deferRetry is when a day Twilio refused as outside its window is tried
// again: in an hour, or sooner while the day can still be scheduled.
func deferRetry(now, at time.Time) time.Time {
	retry := now.Add(time.Hour)
	if last := at.Add(-(MinLead + leadMargin + time.Minute)); last.Before(retry) && last.After(now) {
		retry = last
	}
	return retry
}

// scheduleDay makes the one Twilio call for a claimed day. stop reports
// that Twilio refused the number (21610); deferred, that Twilio refused the
// day's time for now and the day was released to be tried again.
func (f *Flow) scheduleDay(ctx context.Context, r *mapping.Reminders, id, date string, at time.Time, c *contacts.Contact) (stop, deferred bool, err error) {
	release := func() error { return f.cfg.Store.Del(unlockCtx(ctx), dayKey(id, date)) }
	link, err := f.cfg.Links.DayLink(id, date, c.Language, f.cfg.Location)
	if err != nil {
		_ = release()
		return false, false, fmt.Errorf("survey link for %s %s: %w", id, date, err)
	}
	body := r.Render(c.Language, c.FirstName, link)
	attempt := dayState{State: stateClaimed, SendAt: at.Unix(), BodyHash: bodyHash(body), Tried: f.cfg.Now().Unix()}
	// The claim names the attempt before Twilio hears of it, so that an
	// ambiguous answer can be looked up later.
	if err := f.saveDay(ctx, id, date, attempt); err != nil {
		_ = release()
		return false, false, err
	}
	sid, err := f.cfg.Messages.ScheduleMessage(ctx, c.Phone, body, at)
	// Twilio has answered (or not): record it even if ctx just ended.
	save := func(st dayState) error {
		st.SendAt, st.BodyHash, st.Tried = attempt.SendAt, attempt.BodyHash, attempt.Tried
		return f.saveDay(unlockCtx(ctx), id, date, st)
	}
	switch {
	case err == nil:
		f.m.reminder(mapping.ChannelSMS, "twilio_scheduler", "ok")
		if err := save(dayState{State: stateScheduled, SID: sid}); err != nil {
			f.log.Error("scheduled message not recorded; it cannot be canceled", "contact_id", id, "date", date, "sid", sid, "err", err)
			return false, false, err
		}
		return false, false, nil
	case twilio.HasCode(err, twilio.CodeUnsubscribed):
		f.log.Info("number opted out at Twilio; reminders stop", "contact_id", id, "date", date)
		if err := save(dayState{State: stateBlocked}); err != nil {
			return true, false, err
		}
		return true, false, f.cfg.Contacts.SetOptOut(unlockCtx(ctx), id, true)
	case twilio.IsSchedulingWindow(err):
		// 35114, 35115 or 35117: this day cannot be scheduled now (Twilio's
		// clock or window differs from ours). Never fail the contact: the
		// other days go on. A day still ahead is tried again later.
		if at.After(f.cfg.Now().Add(MinLead + leadMargin)) {
			f.log.Info("reminder time refused by Twilio; day deferred", "contact_id", id, "date", date, "code", twilioCode(err))
			return false, true, release()
		}
		f.log.Warn("reminder time refused by Twilio; day skipped", "contact_id", id, "date", date, "code", twilioCode(err))
		return false, false, save(dayState{State: stateSkipped})
	case twilio.HasCode(err, twilio.CodeScheduleCap):
		// Twilio holds its cap of scheduled messages: the day stays in the
		// rolling schedule, handed over later or sent by the bridge.
		f.log.Error("Twilio's cap of scheduled messages reached (35125); day kept in the bridge's schedule", "contact_id", id, "date", date)
		if rerr := release(); rerr != nil {
			return false, false, rerr
		}
		return false, false, errScheduleCap
	case twilio.IsAmbiguous(err):
		// The message may exist: never ask again for this day before
		// reconcile has looked for it.
		f.log.Warn("reminder outcome unknown; day left for reconciliation", "contact_id", id, "date", date, "err", queue.LogText(err))
		if serr := save(dayState{State: stateUnknown}); serr != nil {
			return false, false, serr
		}
		if serr := f.editUnknown(unlockCtx(ctx), id, attempt.Tried); serr != nil {
			return false, false, serr
		}
		return false, false, err
	default:
		if rerr := release(); rerr != nil {
			return false, false, rerr
		}
		return false, false, queue.Classify(fmt.Errorf("schedule reminder %s %s: %w", id, date, err))
	}
}

// cancelDays cancels the scheduled reminders of c whose date keep rejects
// (nil keep: all of them) and returns how many it canceled.
func (f *Flow) cancelDays(ctx context.Context, id string, c contacts.Contact, keep func(string) bool) (int, error) {
	now := f.cfg.Now()
	n := 0
	for _, date := range c.Dates() {
		if keep != nil && keep(date) {
			continue
		}
		d, found, err := f.loadDay(ctx, id, date)
		if err != nil {
			return n, err
		}
		if !found {
			continue // never scheduled: Run skips inactive or opted-out contacts
		}
		switch d.State {
		case stateScheduled:
		case stateClaimed, stateUnknown:
			f.log.Warn("reminder of unknown outcome cannot be canceled", "contact_id", id, "date", date)
			continue
		default:
			continue
		}
		if time.Unix(d.SendAt, 0).Before(now.Add(-time.Hour)) {
			d.State = stateGone // sent long ago; no call needed
			if err := f.saveDay(ctx, id, date, d); err != nil {
				return n, err
			}
			continue
		}
		err = f.cfg.Messages.CancelMessage(ctx, d.SID)
		switch {
		case err == nil:
			d.State = stateCanceled
			n++
		case twilio.HasCode(err, twilio.CodeNotCancelable) || isNotFound(err):
			d.State = stateGone // already sent or canceled: fine
		default:
			return n, queue.Classify(fmt.Errorf("cancel reminder %s %s: %w", id, date, err))
		}
		if err := f.saveDay(unlockCtx(ctx), id, date, d); err != nil {
			return n, err
		}
	}
	return n, nil
}

// bodyHash identifies an attempt by the exact body sent.
func bodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// unsettled reports whether d is an attempt of unknown outcome that
// reconcile can settle: marked unknown, or claimed by an asker that is
// surely gone (its lock has run out). Days without a body hash predate
// reconciliation and stay as they are.
func (f *Flow) unsettled(d dayState, now time.Time) bool {
	if d.BodyHash == "" || d.Tried == 0 {
		return false
	}
	return d.State == stateUnknown ||
		(d.State == stateClaimed && now.Sub(time.Unix(d.Tried, 0)) > f.lockTTL)
}

// reconcile settles c's days of unknown outcome with Twilio's list of
// messages to c's number, under the contact lock. A message with the
// attempt's body is adopted: the day becomes scheduled with its sid (or
// gone, if it has left the schedule). When none has appeared Grace after
// the attempt, Twilio created nothing: the claim is released so that the
// day is scheduled again, or the day is skipped when it is too late for
// Twilio's window. Days still within Grace keep the contact in the
// unknown index for Run.
func (f *Flow) reconcile(ctx context.Context, id string, c contacts.Contact) error {
	now := f.cfg.Now()
	type open struct {
		date string
		d    dayState
	}
	var days []open
	for _, date := range c.Dates() {
		d, found, err := f.loadDay(ctx, id, date)
		if err != nil {
			return err
		}
		if found && f.unsettled(d, now) {
			days = append(days, open{date, d})
		}
	}
	if len(days) == 0 || strings.TrimSpace(c.Phone) == "" {
		return f.editUnknown(ctx, id, 0)
	}
	list, err := f.cfg.Messages.ListMessagesTo(ctx, c.Phone)
	if err != nil {
		return queue.Classify(fmt.Errorf("reconcile reminders of %s: %w", id, err))
	}
	byHash := make(map[string]twilio.Message, len(list))
	for _, m := range list {
		h := bodyHash(m.Body)
		if prev, dup := byHash[h]; !dup || prev.Status != "scheduled" {
			byHash[h] = m // a live one wins over a copy that left the schedule
		}
	}
	var latest int64 // attempts still within Grace
	for _, o := range days {
		d := o.d
		m, ok := byHash[d.BodyHash]
		switch {
		case ok && m.Status == "scheduled":
			d.State, d.SID = stateScheduled, m.SID
			f.log.Info("reminder of unknown outcome found scheduled; adopted", "contact_id", id, "date", o.date, "sid", m.SID)
		case ok:
			d.State, d.SID = stateGone, m.SID
			f.log.Info("reminder of unknown outcome found no longer scheduled", "contact_id", id, "date", o.date, "sid", m.SID, "status", m.Status)
		case now.Sub(time.Unix(d.Tried, 0)) < f.cfg.Grace:
			latest = max(latest, d.Tried)
			continue
		case time.Unix(d.SendAt, 0).Before(now.Add(MinLead+leadMargin)) &&
			!(d.Via == viaBridge && time.Unix(d.SendAt, 0).After(now.Add(-f.cfg.Late))):
			// (A day the bridge sends itself may still go, until Late.)
			d.State = stateSkipped
			f.log.Warn("reminder of unknown outcome was never created; too late to retry, day skipped", "contact_id", id, "date", o.date)
		default:
			if err := f.cfg.Store.Del(unlockCtx(ctx), dayKey(id, o.date)); err != nil {
				return fmt.Errorf("release day %s %s: %w", id, o.date, err)
			}
			f.log.Info("reminder of unknown outcome was never created; day released", "contact_id", id, "date", o.date)
			continue
		}
		if err := f.saveDay(unlockCtx(ctx), id, o.date, d); err != nil {
			return err
		}
	}
	return f.editUnknown(ctx, id, latest)
}

func isNotFound(err error) bool {
	var ae *twilio.APIError
	return errors.As(err, &ae) && ae.Status == 404
}

// setPending keeps the rolling schedule in step with c.Pending.
func (f *Flow) setPending(ctx context.Context, id string, c *contacts.Contact, next int64) error {
	if c.Pending == next {
		return nil
	}
	if err := f.setDue(ctx, id, next); err != nil {
		return err
	}
	c.Pending = next
	return f.saveContact(ctx, id, *c)
}

func inSet(list []string) func(string) bool {
	set := make(map[string]bool, len(list))
	for _, s := range list {
		set[s] = true
	}
	return func(s string) bool { return set[s] }
}

func maxString(a, b string) string {
	if a > b {
		return a
	}
	return b
}

func twilioCode(err error) int {
	var ae *twilio.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}
