package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cityhealth/bridge/event"
)

// The contact's state, opt-out, phone index and lock are the contact
// registry's (package contacts); the days are the flow's own.
func dayKey(id, date string) string { return "monitoring:day:" + id + ":" + date }

const (
	// dueKey is the rolling schedule: a sorted set of contact ids scored by
	// the unix time the bridge must next act for them (hand a day to
	// Twilio, or send one itself). One key, hash-tagged so that the lease
	// and the schedule share a Cluster slot.
	dueKey   = "monitoring:{schedule}:due"
	leaseKey = "monitoring:{schedule}:lease"
	// unknownKey indexes contacts with days of unknown outcome for Run to
	// reconcile: a sorted set scored by the unix time of the contact's
	// latest ambiguous attempt. It shares the schedule's slot.
	unknownKey = "monitoring:{schedule}:unknown"
	// legacyUnknownKey is the JSON blob (contact id -> unix time) that
	// bridges before the sorted set kept; Run migrates it once.
	legacyUnknownKey = "monitoring:unknown"
	// dayKeep: a day's claim outlives its send time by this much, which
	// covers Salesforce's 24 h of retries with room to spare.
	dayKeep = 7 * 24 * time.Hour
)

// unlockCtx is for writes that record what a vendor already did: they
// must happen even when the caller's context has just ended.
func unlockCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (f *Flow) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, found, err := f.cfg.Store.Get(ctx, key)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func (f *Flow) setJSON(ctx context.Context, key string, v any, ttl time.Duration) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return f.cfg.Store.Set(ctx, key, string(raw), ttl)
}

func (f *Flow) loadDay(ctx context.Context, id, date string) (dayState, bool, error) {
	var d dayState
	found, err := f.getJSON(ctx, dayKey(id, date), &d)
	if err != nil {
		return dayState{}, false, fmt.Errorf("load day %s %s: %w", id, date, err)
	}
	return d, found, nil
}

func (f *Flow) dayTTL(sendAt time.Time) time.Duration {
	return max(time.Hour, sendAt.Add(dayKeep).Sub(f.cfg.Now()))
}

func (f *Flow) saveDay(ctx context.Context, id, date string, d dayState) error {
	if err := f.setJSON(ctx, dayKey(id, date), d, f.dayTTL(time.Unix(d.SendAt, 0))); err != nil {
		return fmt.Errorf("save day %s %s: %w", id, date, err)
	}
	return nil
}

// claimDay claims an unclaimed day (SET NX), or re-claims a resumable one
// under the contact lock.
func (f *Flow) claimDay(ctx context.Context, id, date string, sendAt time.Time) (bool, error) {
	d := dayState{State: stateClaimed, SendAt: sendAt.Unix()}
	raw, _ := json.Marshal(d)
	ok, err := f.cfg.Store.SetNX(ctx, dayKey(id, date), string(raw), f.dayTTL(sendAt))
	if err != nil {
		return false, fmt.Errorf("claim day %s %s: %w", id, date, err)
	}
	if ok {
		return true, nil
	}
	old, found, err := f.loadDay(ctx, id, date)
	if err != nil || !found || !resumable(old.State) {
		return false, err
	}
	return true, f.saveDay(ctx, id, date, d)
}

// setDue puts id in the rolling schedule at unix time at, or takes it out (0).
func (f *Flow) setDue(ctx context.Context, id string, at int64) error {
	var err error
	if at == 0 {
		err = f.sched.ZRem(ctx, dueKey, id)
	} else {
		err = f.sched.ZAdd(ctx, dueKey, id, float64(at))
	}
	if err != nil {
		return fmt.Errorf("rolling schedule: %w", err)
	}
	return nil
}

// due lists the contacts whose next action has come by now.
func (f *Flow) due(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	ids, err := f.sched.ZDue(ctx, dueKey, float64(now.Unix()), limit)
	if err != nil {
		return nil, fmt.Errorf("rolling schedule: %w", err)
	}
	return ids, nil
}

// editUnknown puts id in the index of contacts with days to reconcile,
// scored by the attempt time tried, or takes it out (tried 0). Callers hold
// the contact's lock and pass the contact's latest open attempt, so the
// score is the latest attempt of unknown outcome.
func (f *Flow) editUnknown(ctx context.Context, id string, tried int64) error {
	var err error
	if tried == 0 {
		err = f.sched.ZRem(ctx, unknownKey, id)
	} else {
		err = f.sched.ZAdd(ctx, unknownKey, id, float64(tried))
	}
	if err != nil {
		return fmt.Errorf("unknown index: %w", err)
	}
	return nil
}

// unknownDue lists up to limit contacts whose latest ambiguous attempt is
// at least Grace old: reconcile can conclude for them.
func (f *Flow) unknownDue(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	ids, err := f.sched.ZDue(ctx, unknownKey, float64(now.Add(-f.cfg.Grace).Unix()), limit)
	if err != nil {
		return nil, fmt.Errorf("unknown index: %w", err)
	}
	return ids, nil
}

func keywordKey(id string) string { return "monitoring:keyword:" + id }

// keywordSIDsKept bounds the applied-keyword SIDs remembered per contact.
const keywordSIDsKept = 32

// errKeywordSuperseded: a STOP or START older than the one last applied to
// the contact, or one already applied (a replay): nothing is done.
var errKeywordSuperseded = errors.New("opt-out keyword superseded")

// keywordState is the last STOP/START applied to a contact: when Twilio
// received it (event.SMS.OrderedAt) and the SIDs of those applied, so a
// replay, or an older START arriving late (by the reconciler), never undoes
// a newer STOP. No personal data: a time and message SIDs.
type keywordState struct {
	At   time.Time `json:"at"`
	SIDs []string  `json:"sids"`
}

// keywordOrder reads the contact's keyword state and refuses s when it is
// not newer than the last applied or was applied before. Call under the
// contact lock.
func (f *Flow) keywordOrder(ctx context.Context, id string, s event.SMS) (keywordState, error) {
	var st keywordState
	if _, err := f.getJSON(ctx, keywordKey(id), &st); err != nil {
		return st, fmt.Errorf("read keyword order of %s: %w", id, err)
	}
	if slices.Contains(st.SIDs, s.MessageSID) || !st.At.IsZero() && !s.OrderedAt().After(st.At) {
		return st, errKeywordSuperseded
	}
	return st, nil
}

// keywordApplied records s as the last keyword applied. Like the opt-out
// flag it never expires.
func (f *Flow) keywordApplied(ctx context.Context, id string, s event.SMS, st keywordState) error {
	st.At = s.OrderedAt()
	st.SIDs = append(st.SIDs, s.MessageSID)
	if n := len(st.SIDs); n > keywordSIDsKept {
		st.SIDs = st.SIDs[n-keywordSIDsKept:]
	}
	raw, _ := json.Marshal(st)
	if err := f.cfg.Store.Set(unlockCtx(ctx), keywordKey(id), string(raw), 0); err != nil {
		return fmt.Errorf("write keyword order of %s: %w", id, err)
	}
	return nil
}
