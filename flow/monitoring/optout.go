package monitoring

import (
	"context"
	"errors"
	"fmt"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"strings"
)

// SMS handles STOP and START from a contact's phone. Every contact the
// bridge texts at that number is affected: Twilio's opt-out is per number.
// Other texts are not the monitoring queue's business and are acked.
func (f *Flow) SMS(ctx context.Context, s event.SMS) error {
	kind := strings.ToUpper(strings.TrimSpace(s.OptOutType))
	if kind != "STOP" && kind != "START" {
		return nil
	}
	ids, err := f.cfg.Contacts.ContactsByPhone(ctx, s.From)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		f.log.Info("opt-out keyword from a number the bridge never texted", "message_sid", s.MessageSID, "type", kind)
		return nil
	}
	var errs []error
	for _, id := range ids {
		var err error
		if kind == "STOP" {
			err = f.stop(ctx, id, s)
		} else {
			err = f.start(ctx, id, s)
		}
		if errors.Is(err, errKeywordSuperseded) {
			f.log.Info("opt-out keyword older than the one applied, or applied before; ignored", "message_sid", s.MessageSID, "contact_id", id, "type", kind)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.log.Info("opt-out keyword applied", "message_sid", s.MessageSID, "contact_id", id, "type", kind)
	}
	if len(errs) == 0 {
		return nil
	}
	// A retry repeats only idempotent steps, so one contact's transient
	// failure retries them all; only all-permanent dead-letters at once.
	joined := errors.Join(errs...)
	for _, e := range errs {
		if !queue.IsPermanent(e) {
			return fmt.Errorf("opt-out keyword %s: %v", s.MessageSID, joined)
		}
	}
	return queue.Permanent(joined)
}

// stop: flag first (no new scheduling), cancel what is left, then write the
// opt-out field on the contact.
func (f *Flow) stop(ctx context.Context, id string, s event.SMS) (err error) {
	ctx, release, err := f.cfg.Contacts.Lock(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	ord, err := f.keywordOrder(ctx, id, s)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			err = f.keywordApplied(ctx, id, s, ord)
		}
	}()
	if err := f.cfg.Contacts.SetOptOut(ctx, id, true); err != nil {
		return err
	}
	c, found, err := f.cfg.Contacts.Load(ctx, id)
	if err != nil {
		return err
	}
	var rerr error
	if found {
		// A reminder of unknown outcome may be scheduled after all: find
		// it so that it is canceled below. On failure cancel the rest,
		// write the field and fail, so the queue tries again.
		if rerr = f.reconcile(ctx, id, c); rerr != nil {
			f.log.Warn("reconciling reminders of unknown outcome failed", "contact_id", id, "err", queue.LogText(rerr))
		}
		n, err := f.cancelDays(ctx, id, c, nil)
		if err != nil {
			return err
		}
		if err := f.setPending(ctx, id, &c, 0); err != nil {
			return err
		}
		f.log.Info("reminders canceled on STOP", "contact_id", id, "canceled", n)
		// Monitoring ended for this contact: retention starts, escalation stops.
		if err := f.watchID(ctx, id); err != nil {
			return err
		}
	}
	if err := f.writeOptOut(ctx, id, c, true); err != nil {
		return err
	}
	return rerr
}

// start: clear the flag and the field, then resume the days left if the
// contact is still in monitoring.
func (f *Flow) start(ctx context.Context, id string, s event.SMS) (err error) {
	ctx, release, err := f.cfg.Contacts.Lock(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	ord, err := f.keywordOrder(ctx, id, s)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			err = f.keywordApplied(ctx, id, s, ord)
		}
	}()
	if err := f.cfg.Contacts.SetOptOut(ctx, id, false); err != nil {
		return err
	}
	c, found, err := f.cfg.Contacts.Load(ctx, id)
	if err != nil {
		return err
	}
	if err := f.writeOptOut(ctx, id, c, false); err != nil {
		return err
	}
	if found {
		if err := f.saveContact(ctx, id, c); err != nil {
			return err
		}
	}
	m := f.cfg.Mappings.Current()
	if !found || !c.Active || !f.cfg.Enabled || m == nil || m.Reminders() == nil {
		return nil
	}
	n, err := f.schedule(ctx, m.Reminders(), id, &c)
	if err != nil {
		return err
	}
	f.log.Info("reminders resumed on START", "contact_id", id, "scheduled", n)
	return nil
}

func (f *Flow) writeOptOut(ctx context.Context, id string, c contacts.Contact, on bool) error {
	m := f.cfg.Mappings.Current()
	if m == nil {
		return nil
	}
	object, field := m.OptOutField()
	if field == "" {
		return nil
	}
	if c.Object != "" && !strings.EqualFold(c.Object, object) {
		return nil // the contact is not a record of the object opt-outs live on
	}
	if err := f.cfg.CRM.Update(ctx, object, id, salesforce.Record{field: on}); err != nil {
		return queue.Classify(fmt.Errorf("write %s.%s of %s: %w", object, field, id, err))
	}
	return nil
}
