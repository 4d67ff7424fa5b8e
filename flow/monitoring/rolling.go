package monitoring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// The rolling schedule. Each contact in monitoring sits in one sorted set
// (dueKey) scored by when the bridge must next act for it: hand a day to
// Twilio's scheduler when the day comes within Horizon, or send a day
// itself at its time (channels Twilio cannot schedule, and days too near
// for its 15-minute minimum). So Twilio never holds more than Horizon's
// days per contact (3 at 48 h), whatever the city's volume.

// schedulable reports whether Twilio's scheduler can take a day of the
// channel. Only plain SMS: WhatsApp templates are sent by the bridge at
// their time (a scheduled template could not be found again by its body
// after an ambiguous answer), and calls and email have no scheduler.
func schedulable(channel string) bool { return channel == mapping.ChannelSMS }

// errScheduleCap: Twilio refused a day for its account-wide cap (35125).
var errScheduleCap = errors.New("monitoring: Twilio's cap of scheduled messages reached")

// capRetry is how soon a day refused for the cap is tried again.
const capRetry = 5 * time.Minute

// schedule acts on every day of c whose time to act has come: days within
// Horizon go to Twilio's scheduler, days the bridge sends itself go out
// when their time has come. The contact's next action goes to the rolling
// schedule. It returns how many days it handed over or sent.
func (f *Flow) schedule(ctx context.Context, r *mapping.Reminders, id string, c *contacts.Contact) (int, error) {
	now := f.cfg.Now()
	handled, late := 0, 0
	var next int64 // the earliest later action
	defer func() {
		if late > 0 {
			f.log.Info("reminder days long past their time not sent", "contact_id", id, "days", late)
		}
	}()
	for _, date := range c.Dates() {
		at, err := f.sendAt(r, c, date)
		if err != nil {
			return handled, err
		}
		if at.Before(now.Add(-f.cfg.Late)) {
			if open, err := f.dayOpen(ctx, id, date); err == nil && open && at.After(now.Add(-2*24*time.Hour)) {
				late++ // recent enough to matter; older days are history
			}
			continue
		}
		viaTwilio := schedulable(c.ChannelOrSMS()) && !at.Before(now.Add(MinLead+leadMargin))
		act := at // the bridge sends it itself at its time
		if viaTwilio {
			act = at.Add(-f.cfg.Horizon)
		}
		if act.After(now) {
			open, err := f.dayOpen(ctx, id, date)
			if err != nil {
				return handled, err
			}
			if open && (next == 0 || act.Unix() < next) {
				next = act.Unix()
			}
			continue
		}
		claimed, err := f.claimDay(ctx, id, date, at)
		if err != nil {
			return handled, err
		}
		if !claimed {
			continue
		}
		var stop, deferred bool
		if viaTwilio {
			stop, deferred, err = f.scheduleDay(ctx, r, id, date, at, c)
			if deferred && err == nil {
				// Twilio refused the time for now (35114/35115/35117):
				// tried again later, or sent by the bridge once too near.
				if retry := deferRetry(now, at).Unix(); next == 0 || retry < next {
					next = retry
				}
				continue
			}
			if errors.Is(err, errScheduleCap) {
				// Tried again soon; once too near, the bridge sends it.
				retry := min(now.Add(capRetry).Unix(), at.Add(-MinLead-leadMargin).Unix())
				if next == 0 || retry < next {
					next = retry
				}
				continue
			}
		} else {
			stop, err = f.sendDay(ctx, r, id, date, at, c)
		}
		if err != nil {
			return handled, err
		}
		if stop {
			next = 0 // opted out: nothing more to schedule
			break
		}
		handled++
	}
	return handled, f.setPending(ctx, id, c, next)
}

// dayOpen reports whether a day is still to be handed over or sent.
func (f *Flow) dayOpen(ctx context.Context, id, date string) (bool, error) {
	d, found, err := f.loadDay(ctx, id, date)
	if err != nil {
		return false, err
	}
	return !found || resumable(d.State), nil
}

// Run works the rolling schedule every Interval and reconciles days of
// unknown outcome. One instance at a time holds the schedule's lease; the
// others wait their turn (the per-contact locks keep them correct anyway).
// It returns when ctx ends.
func (f *Flow) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	migrated := false
	for {
		if !migrated {
			migrated = f.migratePending(ctx) == nil && f.migrateUnknown(ctx) == nil
		}
		if f.cfg.Enabled {
			if n, err := f.SchedulePending(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("rolling schedule round failed", "handled", n, "err", queue.LogText(err))
			} else if n > 0 {
				f.log.Info("rolling schedule round", "handled", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// roundLimit bounds the contacts one round takes from the schedule; the
// rest wait for the next round (every Interval).
const roundLimit = 2000

// SchedulePending is one round of Run: under the schedule's lease it
// reconciles the days of unknown outcome whose grace is over, and acts for
// the contacts whose next action has come. It returns how many days it
// handed over or sent.
func (f *Flow) SchedulePending(ctx context.Context) (int, error) {
	m := f.cfg.Mappings.Current()
	if m == nil || m.Reminders() == nil {
		return 0, nil
	}
	r := m.Reminders()
	// A dead holder's lease runs out within two rounds.
	got, err := f.cfg.Store.SetNX(ctx, leaseKey, "1", max(2*f.cfg.Interval, 2*time.Second))
	if err != nil {
		return 0, fmt.Errorf("rolling schedule lease: %w", err)
	}
	if !got {
		return 0, nil
	}
	defer func() { _ = f.cfg.Store.Del(context.WithoutCancel(ctx), leaseKey) }()

	now := f.cfg.Now()
	ids, err := f.due(ctx, now, roundLimit)
	if err != nil {
		return 0, err
	}
	// Days of unknown outcome whose grace is over: reconcile can conclude.
	unknown, err := f.unknownDue(ctx, now, roundLimit)
	if err != nil {
		return 0, err
	}
	due := map[string]bool{}
	for _, id := range append(ids, unknown...) {
		due[id] = true
	}
	// Contacts in parallel (calls stay paced across all of them).
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		total int
		errs  []error
		sem   = make(chan struct{}, f.cfg.Parallelism)
	)
	for id := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := f.schedulePendingContact(ctx, r, id)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && !errors.Is(err, ErrBusy) {
				errs = append(errs, fmt.Errorf("contact %s: %w", id, err))
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

func (f *Flow) schedulePendingContact(ctx context.Context, r *mapping.Reminders, id string) (int, error) {
	ctx, release, err := f.cfg.Contacts.Lock(ctx, id)
	if err != nil {
		return 0, err
	}
	defer release()
	c, found, err := f.cfg.Contacts.Load(ctx, id)
	if err != nil {
		return 0, err
	}
	if !found {
		// Nothing to schedule or reconcile; a new record change re-adds it.
		if err := f.editUnknown(ctx, id, 0); err != nil {
			return 0, err
		}
		return 0, f.setDue(ctx, id, 0)
	}
	if err := f.reconcile(ctx, id, c); err != nil {
		return 0, err
	}
	optedOut, err := f.cfg.Contacts.OptedOut(ctx, id)
	if err != nil {
		return 0, err
	}
	if !c.Active || optedOut {
		// Whatever reconcile adopted must not go out.
		if _, err := f.cancelDays(ctx, id, c, nil); err != nil {
			return 0, err
		}
		// Nothing to schedule; START or a new record change re-adds it.
		if err := f.setDue(ctx, id, 0); err != nil {
			return 0, err
		}
		c.Pending = 0
		return 0, f.saveContact(ctx, id, c)
	}
	// The score is the contact's next action; a due entry means "look now".
	c.Pending = -1
	return f.schedule(ctx, r, id, &c)
}

// legacyPendingKey is the JSON index of contacts with days beyond Twilio's
// window that bridges before the rolling schedule kept.
const legacyPendingKey = "monitoring:pending"

// migratePending moves the legacy index into the rolling schedule, each
// contact due now (its round recomputes the next action), then deletes it.
func (f *Flow) migratePending(ctx context.Context) error {
	idx := map[string]int64{}
	found, err := f.getJSON(ctx, legacyPendingKey, &idx)
	if err != nil || !found {
		return err
	}
	now := f.cfg.Now().Unix()
	for id := range idx {
		if err := f.setDue(ctx, id, now); err != nil {
			f.log.Warn("legacy pending index not migrated yet", "err", err)
			return err
		}
	}
	f.log.Info("legacy pending index moved to the rolling schedule", "contacts", len(idx))
	return f.cfg.Store.Del(ctx, legacyPendingKey)
}

// migrateUnknown moves the legacy JSON unknown index (contact id -> unix
// time) into the sorted set, each contact at its own time, then deletes
// it. (An entry written meanwhile may get the older time: its contact is
// only looked at sooner, and reconcile puts it back as it finds it.)
func (f *Flow) migrateUnknown(ctx context.Context) error {
	idx := map[string]int64{}
	found, err := f.getJSON(ctx, legacyUnknownKey, &idx)
	if err != nil || !found {
		return err
	}
	for id, tried := range idx {
		if tried <= 0 {
			continue
		}
		if err := f.sched.ZAdd(ctx, unknownKey, id, float64(tried)); err != nil {
			f.log.Warn("legacy unknown index not migrated yet", "err", err)
			return fmt.Errorf("unknown index: %w", err)
		}
	}
	f.log.Info("legacy unknown index moved to a sorted set", "contacts", len(idx))
	return f.cfg.Store.Del(ctx, legacyUnknownKey)
}
