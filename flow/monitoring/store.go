package monitoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cityhealth/bridge/event"
)

func contactKey(id string) string      { return "monitoring:contact:" + id }
func dayKey(id, date string) string    { return "monitoring:day:" + id + ":" + date }
func optOutKey(id string) string       { return "monitoring:optout:" + id }
func lockKey(kind, name string) string { return "monitoring:lock:" + kind + ":" + name }

// phoneKey hashes the number, so key names (and errors quoting them) carry
// no phone number.
func phoneKey(phone string) string {
	// A WhatsApp address is the same number: one index for both.
	sum := sha256.Sum256([]byte(strings.TrimPrefix(strings.TrimSpace(phone), "whatsapp:")))
	return "monitoring:phone:" + hex.EncodeToString(sum[:12])
}

const (
	// dueKey is the rolling schedule: a sorted set of contact ids scored by
	// the unix time the bridge must next act for them (hand a day to
	// Twilio, or send one itself). One key, hash-tagged so that the lease
	// and the schedule share a Cluster slot.
	dueKey   = "monitoring:{schedule}:due"
	leaseKey = "monitoring:{schedule}:lease"
	// unknownKey indexes contacts with days of unknown outcome (contact id
	// -> unix time of the latest ambiguous attempt) for Run to reconcile.
	unknownKey = "monitoring:unknown"
	// The phone index outlives its last write by this much at most; the
	// retention sweep removes entries sooner (retention.go).
	phoneKeep = 60 * 24 * time.Hour
	// dayKeep: a day's claim outlives its send time by this much, which
	// covers Salesforce's 24 h of retries with room to spare.
	dayKeep = 7 * 24 * time.Hour
)

// unlockCtx is for writes that record what a vendor already did: they
// must happen even when the caller's context has just ended.
func unlockCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// lock takes a short-lived lock; unlock is safe to call once.
func (f *Flow) lock(ctx context.Context, kind, name string) (unlock func(), err error) {
	release, ok, err := f.cfg.Store.Lock(ctx, lockKey(kind, name), f.cfg.LockTTL)
	if err != nil {
		return nil, fmt.Errorf("lock %s %s: %w", kind, name, err)
	}
	if !ok {
		return nil, ErrBusy
	}
	// A lock left behind only delays the next attempt by LockTTL; release
	// frees it only while it is still ours.
	return release, nil
}

// lockWait retries lock briefly; for the short pending-index edits.
func (f *Flow) lockWait(ctx context.Context, kind, name string) (func(), error) {
	for i := 0; ; i++ {
		unlock, err := f.lock(ctx, kind, name)
		if err != ErrBusy || i == 100 {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

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

func (f *Flow) loadContact(ctx context.Context, id string) (contactState, bool, error) {
	var c contactState
	found, err := f.getJSON(ctx, contactKey(id), &c)
	if err != nil {
		return contactState{}, false, fmt.Errorf("load contact %s: %w", id, err)
	}
	return c, found, nil
}

// contactTTL keeps the state a day past its retention deadline: the sweep
// deletes it on time, the TTL is the backstop.
func (f *Flow) contactTTL(c contactState) time.Duration {
	return max(time.Hour, f.retainUntil(c).Add(24*time.Hour).Sub(f.cfg.Now()))
}

func (f *Flow) saveContact(ctx context.Context, id string, c contactState) error {
	if err := f.setJSON(ctx, contactKey(id), c, f.contactTTL(c)); err != nil {
		return fmt.Errorf("save contact %s: %w", id, err)
	}
	return f.watch(ctx, id, c)
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

// OptedOut reports whether the contact texted STOP (and not START since)
// or Twilio refused its number.
func (f *Flow) OptedOut(ctx context.Context, contactID string) (bool, error) {
	_, found, err := f.cfg.Store.Get(ctx, optOutKey(contactID))
	if err != nil {
		return false, fmt.Errorf("read opt-out of %s: %w", contactID, err)
	}
	return found, nil
}

func (f *Flow) setOptOut(ctx context.Context, id string, on bool) error {
	var err error
	if on {
		err = f.cfg.Store.Set(ctx, optOutKey(id), "1", 0) // an opt-out never expires
	} else {
		err = f.cfg.Store.Del(ctx, optOutKey(id))
	}
	if err != nil {
		return fmt.Errorf("write opt-out of %s: %w", id, err)
	}
	return nil
}

// contactsByPhone lists the contacts texted at a number, most recent
// first: a household often shares one phone.
func (f *Flow) contactsByPhone(ctx context.Context, phone string) ([]string, error) {
	var ids []string
	if _, err := f.getJSON(ctx, phoneKey(phone), &ids); err != nil {
		return nil, fmt.Errorf("phone index: %w", err)
	}
	return ids, nil
}

// rememberPhone puts id first in phone's list (or removes it).
func (f *Flow) rememberPhone(ctx context.Context, phone, id string, add bool) error {
	if strings.TrimSpace(phone) == "" {
		return nil
	}
	unlock, err := f.lockWait(ctx, "phone", phoneKey(phone))
	if err != nil {
		return err
	}
	defer unlock()
	ids, err := f.contactsByPhone(ctx, phone)
	if err != nil {
		return err
	}
	ids = slices.DeleteFunc(ids, func(s string) bool { return s == id })
	if add {
		ids = append([]string{id}, ids...)
	}
	if len(ids) == 0 {
		return f.cfg.Store.Del(ctx, phoneKey(phone))
	}
	if err := f.setJSON(ctx, phoneKey(phone), ids, max(phoneKeep, f.cfg.Retention)+35*24*time.Hour); err != nil {
		return fmt.Errorf("phone index: %w", err)
	}
	return nil
}

// ContactByPhone finds the contact most recently texted at phone; writeback
// uses it to file SMS replies.
func (f *Flow) ContactByPhone(ctx context.Context, phone string) (contactID string, found bool, err error) {
	ids, err := f.contactsByPhone(ctx, phone)
	if err != nil || len(ids) == 0 {
		return "", false, err
	}
	return ids[0], true, nil
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

// editUnknown adds id to the index of contacts with days to reconcile (at
// the attempt time tried), or removes it (tried 0).
func (f *Flow) editUnknown(ctx context.Context, id string, tried int64) error {
	if tried == 0 {
		idx, err := f.unknown(ctx)
		if _, listed := idx[id]; err != nil || !listed {
			return err // the usual case: no write
		}
	}
	return f.editIndex(ctx, unknownKey, "unknown", func(idx map[string]int64) {
		if tried == 0 {
			delete(idx, id)
		} else {
			idx[id] = max(idx[id], tried)
		}
	})
}

func (f *Flow) unknown(ctx context.Context) (map[string]int64, error) {
	return f.index(ctx, unknownKey, "unknown")
}

func (f *Flow) editIndex(ctx context.Context, key, name string, fn func(map[string]int64)) error {
	unlock, err := f.lockWait(ctx, "index", name)
	if err != nil {
		return fmt.Errorf("%s index: %w", name, err)
	}
	defer unlock()
	idx := map[string]int64{}
	if _, err := f.getJSON(ctx, key, &idx); err != nil {
		return fmt.Errorf("%s index: %w", name, err)
	}
	fn(idx)
	if len(idx) == 0 {
		return f.cfg.Store.Del(ctx, key)
	}
	return f.setJSON(ctx, key, idx, 0)
}

func (f *Flow) index(ctx context.Context, key, name string) (map[string]int64, error) {
	idx := map[string]int64{}
	if _, err := f.getJSON(ctx, key, &idx); err != nil {
		return nil, fmt.Errorf("%s index: %w", name, err)
	}
	return idx, nil
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
