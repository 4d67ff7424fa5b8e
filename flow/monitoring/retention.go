package monitoring

import (
	"context"
	"fmt"

	"github.com/cityhealth/bridge/contacts"
)

// Watcher hears of every saved change of a contact in monitoring, so that
// escalation can expect its days and the admin page count its channel.
type Watcher interface {
	ContactChanged(ctx context.Context, c contacts.Change) error
}

// saveContact stores c in the registry (which stamps the end of monitoring
// and moves the retention deadline) and tells the Watcher. It runs under
// the contact's lock.
func (f *Flow) saveContact(ctx context.Context, id string, c contacts.Contact) error {
	saved, active, err := f.cfg.Contacts.Save(ctx, id, c)
	if err != nil {
		return err
	}
	return f.announce(ctx, id, saved, active)
}

// watchID is saveContact for paths that changed the opt-out but not the
// state.
func (f *Flow) watchID(ctx context.Context, id string) error {
	c, found, err := f.cfg.Contacts.Load(ctx, id)
	if err != nil || !found {
		return err
	}
	return f.saveContact(ctx, id, c)
}

func (f *Flow) announce(ctx context.Context, id string, c contacts.Contact, active bool) error {
	if f.cfg.Watcher == nil {
		return nil
	}
	out := contacts.Change{ID: id, Object: c.Object, Active: active, Channel: c.ChannelOrSMS(), RetainUntil: f.cfg.Contacts.RetainUntil(c)}
	if m := f.cfg.Mappings.Current(); m != nil && m.Reminders() != nil {
		for _, date := range c.Dates() {
			at, err := f.sendAt(m.Reminders(), &c, date)
			if err != nil {
				continue
			}
			out.Days = append(out.Days, contacts.Day{Date: date, SendAt: at})
		}
	}
	if err := f.cfg.Watcher.ContactChanged(ctx, out); err != nil {
		return fmt.Errorf("watch contact %s: %w", id, err)
	}
	return nil
}

// Reminded reports whether the contact is still in monitoring and date's
// reminder went out (or is surely with Twilio to go out): a day counts as
// missed only then. Days canceled, skipped, refused, or of unknown outcome
// do not.
func (f *Flow) Reminded(ctx context.Context, contactID, date string) (bool, error) {
	c, found, err := f.cfg.Contacts.Load(ctx, contactID)
	if err != nil || !found || !c.Active || c.Ended != 0 {
		return false, err
	}
	if out, err := f.cfg.Contacts.OptedOut(ctx, contactID); err != nil || out {
		return false, err
	}
	d, found, err := f.loadDay(ctx, contactID, date)
	if err != nil || !found {
		return false, err
	}
	switch d.State {
	case stateCanceled, stateSkipped, stateBlocked, stateClaimed, stateUnknown:
		return false, nil
	}
	return true, nil
}

// Forget deletes what the flow keeps of a contact whose retention ended
// (contacts.Forgetter): its days, their survey used marks, and its entries
// in the rolling schedule and the unknown index. The registry calls it
// under the contact's lock, before it deletes the contact's state.
func (f *Flow) Forget(ctx context.Context, contactID string, _ []string) error {
	c, _, err := f.cfg.Contacts.Load(ctx, contactID)
	if err != nil {
		return err
	}
	var keys []string
	for _, date := range c.Dates() {
		keys = append(keys, dayKey(contactID, date))
		if f.cfg.UsedKey != nil {
			keys = append(keys, f.cfg.UsedKey(contactID, date))
		}
	}
	if err := f.cfg.Store.Del(ctx, keys...); err != nil {
		return fmt.Errorf("delete days of %s: %w", contactID, err)
	}
	if err := f.editUnknown(ctx, contactID, 0); err != nil {
		return err
	}
	// The rolling schedule holds ids only, but leave nothing behind.
	return f.setDue(ctx, contactID, 0)
}
