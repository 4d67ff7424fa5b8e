package monitoring

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
)

// DefaultRetention is BRIDGE_RETENTION's default: 14 days.
const DefaultRetention = 336 * time.Hour

// Deadlines is a schedule of contacts to forget (redis.Schedule).
type Deadlines interface {
	Set(ctx context.Context, at time.Time, members ...string) error
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
	Done(ctx context.Context, member string, claimedAt time.Time, lease time.Duration) error
}

// Watcher hears of every saved change of a contact in monitoring, so that
// escalation can expect its days and the admin page count its channel.
type Watcher interface {
	ContactChanged(ctx context.Context, c Contact) error
}

// Forgetter deletes what another part of the bridge keeps of a contact
// when its retention ends. phones are the numbers the contact was texted
// at, for stores keyed or filled by number.
type Forgetter interface {
	Forget(ctx context.Context, contactID string, phones []string) error
}

// Contact is what a Watcher learns: ids, dates and times, never a number
// or a name.
type Contact struct {
	ID, Object string
	// Active is true while reminders go out: in monitoring, not opted out.
	Active  bool
	Channel string
	Days    []Day
	// RetainUntil is when the bridge forgets the contact.
	RetainUntil time.Time
}

// Day is one monitoring day and its reminder's send time.
type Day struct {
	Date   string // YYYY-MM-DD
	SendAt time.Time
}

// retainUntil is the retention deadline: BRIDGE_RETENTION after monitoring
// ended (opt-out, the record leaving monitoring) or, while it runs, after
// the end of its last day.
func (f *Flow) retainUntil(c contactState) time.Time {
	if c.Ended > 0 {
		return time.Unix(c.Ended, 0).Add(f.cfg.Retention)
	}
	end := f.cfg.Now()
	if ds := c.dates(); len(ds) > 0 {
		if last, err := time.ParseInLocation("2006-01-02", ds[len(ds)-1], f.cfg.Location); err == nil {
			end = last.AddDate(0, 0, 1)
		}
	}
	return end.Add(f.cfg.Retention)
}

// watch stamps when monitoring ended (or clears it when it resumes), moves
// the contact's retention deadline and tells the Watcher. It runs after
// each save of the contact, under its lock.
func (f *Flow) watch(ctx context.Context, id string, c contactState) error {
	optedOut, err := f.OptedOut(ctx, id)
	if err != nil {
		return err
	}
	active := c.Active && !optedOut
	switch {
	case !active && c.Ended == 0:
		c.Ended = f.cfg.Now().Unix()
	case active && c.Ended != 0:
		c.Ended = 0
	default:
		return f.announce(ctx, id, c, active)
	}
	if err := f.setJSON(ctx, contactKey(id), c, f.contactTTL(c)); err != nil {
		return fmt.Errorf("save contact %s: %w", id, err)
	}
	return f.announce(ctx, id, c, active)
}

// watchID is watch for paths that changed the opt-out but not the state.
func (f *Flow) watchID(ctx context.Context, id string) error {
	c, found, err := f.loadContact(ctx, id)
	if err != nil || !found {
		return err
	}
	return f.watch(ctx, id, c)
}

func (f *Flow) announce(ctx context.Context, id string, c contactState, active bool) error {
	until := f.retainUntil(c)
	if f.cfg.Deadlines != nil {
		if err := f.cfg.Deadlines.Set(ctx, until, id); err != nil {
			return err
		}
	}
	if f.cfg.Watcher == nil {
		return nil
	}
	out := Contact{ID: id, Object: c.Object, Active: active, Channel: c.channel(), RetainUntil: until}
	if m := f.cfg.Mappings.Current(); m != nil && m.Reminders() != nil {
		for _, date := range c.dates() {
			at, err := f.sendAt(m.Reminders(), &c, date)
			if err != nil {
				continue
			}
			out.Days = append(out.Days, Day{Date: date, SendAt: at})
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
	c, found, err := f.loadContact(ctx, contactID)
	if err != nil || !found || !c.Active || c.Ended != 0 {
		return false, err
	}
	if out, err := f.OptedOut(ctx, contactID); err != nil || out {
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

// retentionLease is how long a sweeping instance holds a deadline; one that
// dies (or finds the contact busy) leaves it due again after this, still
// within the 2 minutes SPEC allows with a 30 s sweep.
const retentionLease = time.Minute

// SweepRetention forgets every contact whose retention deadline has passed
// and returns how many it forgot. RunRetention calls it every interval.
func (f *Flow) SweepRetention(ctx context.Context) (int, error) {
	if f.cfg.Deadlines == nil {
		return 0, nil
	}
	n := 0
	var errs []error
	for {
		now := f.cfg.Now()
		ids, err := f.cfg.Deadlines.Claim(ctx, now, retentionLease, 100)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			forgot, err := f.forget(ctx, id, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("forget contact %s: %w", id, err))
				continue
			}
			if forgot {
				n++
			}
		}
		if len(ids) < 100 || ctx.Err() != nil {
			return n, errors.Join(errs...)
		}
	}
}

// forget deletes the bridge's own copy of one contact: its state, days,
// phone index entries, and what the Forgetters keep, unless the contact
// came back to monitoring meanwhile (then its deadline moves).
func (f *Flow) forget(ctx context.Context, id string, claimedAt time.Time) (bool, error) {
	ctx, release, err := f.lockContact(ctx, id)
	if err != nil {
		return false, err // ErrBusy: due again after the lease
	}
	defer release()
	c, found, err := f.loadContact(ctx, id)
	if err != nil {
		return false, err
	}
	if found {
		if until := f.retainUntil(c); until.After(claimedAt) {
			return false, f.cfg.Deadlines.Set(ctx, until, id)
		}
	}
	var phones []string
	if found && c.Phone != "" {
		phones = append(phones, c.Phone)
		if err := f.rememberPhone(ctx, c.Phone, id, false); err != nil {
			return false, err
		}
	}
	for _, fg := range f.cfg.Forgetters {
		if err := fg.Forget(ctx, id, phones); err != nil {
			return false, err
		}
	}
	// The opt-out flag stays (a record id and "1"): a STOP must outlive
	// retention, or a later record change could remind the contact again
	// on a channel Twilio does not police (voice, email).
	keys := []string{contactKey(id)}
	for _, date := range c.dates() {
		keys = append(keys, dayKey(id, date), survey.UsedKey(id, date))
	}
	if err := f.cfg.Store.Del(ctx, keys...); err != nil {
		return false, fmt.Errorf("delete contact %s: %w", id, err)
	}
	if err := f.editUnknown(ctx, id, 0); err != nil {
		return false, err
	}
	if err := f.setDue(ctx, id, 0); err != nil { // the rolling schedule holds ids only, but leave nothing behind
		return false, err
	}
	if err := f.cfg.Deadlines.Done(ctx, id, claimedAt, retentionLease); err != nil {
		return false, err
	}
	f.log.Info("contact forgotten: retention ended", "contact_id", id)
	return true, nil
}

// RunRetention sweeps every interval (default 30 s) until ctx ends.
func (f *Flow) RunRetention(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := f.SweepRetention(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("retention sweep failed", "forgotten", n, "err", queue.LogText(err))
		} else if n > 0 {
			f.log.Info("retention sweep", "forgotten", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
