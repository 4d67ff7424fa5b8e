package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"slices"
	"strings"
	"time"
)

// ContactChanged keeps the due missed-day checks and the channel index in
// step with a contact's monitoring (monitoring.Watcher): each reminded day
// is checked once its send time plus escalate.grace has passed. The dates
// with a check are listed in the contact's hash, so nothing scans the
// whole schedule.
func (f *Flow) ContactChanged(ctx context.Context, c contacts.Change) error {
	scheduled, err := f.dueDates(ctx, c.ID)
	if err != nil {
		return err
	}
	m := f.cfg.Mappings.Current()
	on := c.Active && m != nil && m.Escalate() != nil && m.Escalate().MissedDays() > 0
	want := map[string]time.Time{}
	if on {
		now, grace := f.cfg.Now(), m.Escalate().Grace()
		for _, d := range c.Days {
			if due := d.SendAt.Add(grace); due.After(now) {
				want[dueMember(c.ID, d.Date)] = due
			}
		}
	}
	// Drop the checks of days the contact no longer has (or all of them
	// when it left monitoring); a past-due check of a current day is
	// claimed already, or will be, and finishes on its own.
	var stale []string
	keep := scheduled[:0]
	for _, date := range scheduled {
		if !on || !dayIn(c.Days, date) {
			stale = append(stale, dueMember(c.ID, date))
		} else {
			keep = append(keep, date)
		}
	}
	if err := f.due.Remove(ctx, stale...); err != nil {
		return err
	}
	if err := f.due.SetEach(ctx, want); err != nil {
		return err
	}
	for member := range want {
		if _, date, _ := strings.Cut(member, "|"); !slices.Contains(keep, date) {
			keep = append(keep, date)
		}
	}
	if err := f.setDueDates(ctx, c.ID, keep); err != nil {
		return err
	}
	if !c.Active {
		return f.cfg.Store.HDel(ctx, channelsKey, c.ID)
	}
	return f.cfg.Store.HSet(ctx, channelsKey, c.ID, channelOf(c), 0)
}

func dueMember(id, date string) string { return id + "|" + date }

func channelOf(c contacts.Change) string {
	if c.Channel == "" {
		return mapping.ChannelSMS
	}
	return c.Channel
}

func dayIn(days []contacts.Day, date string) bool {
	for _, d := range days {
		if d.Date == date {
			return true
		}
	}
	return false
}

// dueLease is how long a claimed check waits for its enqueue; a claimer
// that dies leaves it due again after this.
const dueLease = 2 * time.Minute

// EnqueueDue moves the missed-day checks that are due into the escalation
// queue, and returns how many. Any instance may run it: a check is claimed
// atomically, and its queue key makes a repeat a no-op.
func (f *Flow) EnqueueDue(ctx context.Context) (int, error) {
	n := 0
	for {
		now := f.cfg.Now()
		members, err := f.due.Claim(ctx, now, dueLease, 100)
		if err != nil {
			return n, err
		}
		date := now.In(f.cfg.Location).Format("2006-01-02")
		items := make([]queue.Item, 0, len(members))
		for _, m := range members {
			id, day, _ := strings.Cut(m, "|")
			payload, _ := json.Marshal(event.Escalation{Kind: event.EscalationMissed, ContactID: id, Day: day, Date: date})
			items = append(items, queue.Item{Key: "missed:" + id + ":" + day, Payload: payload})
		}
		if len(items) > 0 {
			if _, err := f.cfg.Queue.Enqueue(ctx, items...); err != nil {
				return n, err // due again when the lease ends
			}
		}
		for _, m := range members {
			if err := f.due.Done(ctx, m, now, dueLease); err != nil {
				return n, err
			}
		}
		n += len(members)
		if len(members) < 100 || ctx.Err() != nil {
			return n, nil
		}
	}
}

// Run enqueues due missed-day checks every Interval until ctx ends.
func (f *Flow) Run(ctx context.Context) {
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	for {
		if n, err := f.EnqueueDue(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("enqueueing missed-day checks failed", "enqueued", n, "err", err)
		} else if n > 0 {
			f.log.Info("missed-day checks enqueued", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// missed checks one day whose grace has passed: unanswered and reminded,
// it is missed; escalate.missed_days missed in a row escalate, and those
// days count no more (an answer breaks the row as well).
func (f *Flow) missed(ctx context.Context, m *mapping.Mapping, ev event.Escalation) error {
	x := m.Escalate()
	if x.MissedDays() == 0 || !validDate(ev.Day) {
		return nil
	}
	mark, err := f.dayMark(ctx, ev.ContactID, ev.Day)
	if err != nil || mark == dayAnswered || mark == dayCounted {
		return err
	}
	if mark == "" {
		answered, err := f.answered(ctx, ev.ContactID, ev.Day)
		if err != nil || answered {
			return err
		}
		reminded, err := f.cfg.Monitor.Reminded(ctx, ev.ContactID, ev.Day)
		if err != nil || !reminded {
			return err
		}
		if err := f.markDay(ctx, ev.ContactID, ev.Day, dayMissed); err != nil {
			return err
		}
		if err := f.logMissed(ctx, ev.ContactID, ev.Day); err != nil {
			return err
		}
		f.log.Info("monitoring day missed", "contact_id", ev.ContactID, "day", ev.Day)
		f.metrics.missed.Inc()
	}
	marks, err := f.marks(ctx, ev.ContactID)
	if err != nil {
		return err
	}
	var run []string
	for d := ev.Day; marks[d] == dayMissed; d = prevDay(d) {
		run = append(run, d)
	}
	if len(run) < x.MissedDays() {
		return nil
	}
	if err := f.escalate(ctx, m, ev.ContactID, ev.Date, ReasonMissedDays, nil); err != nil {
		if errors.Is(err, ErrBusy) {
			return err
		}
		return fmt.Errorf("escalate missed days: %w", err)
	}
	for _, d := range run {
		if err := f.markDay(ctx, ev.ContactID, d, dayCounted); err != nil {
			return err
		}
	}
	return nil
}

func prevDay(date string) string {
	t, err := time.Parse("2006-01-02", date)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, -1).Format("2006-01-02")
}
