package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Store keeps the flow's state in Redis (connector/redis.KV with the root
// namespace: keys are under bridge:).
type Store interface {
	// Lock takes key for ttl; release frees it only while it is still
	// this holder's (connector/redis.KV.Lock).
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
	HGet(ctx context.Context, key, field string) (string, bool, error)
	HGetAll(ctx context.Context, key string) (map[string]string, error)
	// HSet with a ttl above 0 restarts the hash's expiry with the write.
	HSet(ctx context.Context, key, field, value string, ttl time.Duration) error
	HDel(ctx context.Context, key string, fields ...string) error
	// SAdd with a ttl above 0 restarts the set's expiry with the write.
	SAdd(ctx context.Context, key, member string, ttl time.Duration) error
	SMembers(ctx context.Context, key string) ([]string, error)
	Del(ctx context.Context, keys ...string) error
}

// Schedule holds the due missed-day checks (connector/redis.Schedule
// "escalation:due").
type Schedule interface {
	SetEach(ctx context.Context, due map[string]time.Time) error
	Remove(ctx context.Context, members ...string) error
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
	Done(ctx context.Context, member string, claimedAt time.Time, lease time.Duration) error
	Len(ctx context.Context, t time.Time) (int64, error)
}

// Keys, under the Store's bridge: prefix. A contact's escalation state is
// one hash (its days' escalations and answered/missed marks), under the
// contact's hash tag; the indexes the admin page reads hold ids only.
func contactKey(id string) string { return "escalation:{" + id + "}:days" }
func lockKey(id string) string    { return "escalation:{" + id + "}:lock" }
func logKey(date string) string   { return "escalation:log:" + date }
func missedKey(date string) string {
	return "escalation:missed:" + date
}

const channelsKey = "escalation:channels"

// Marks of a monitoring day in the contact's hash.
const (
	dayAnswered = "answered"
	dayMissed   = "missed"
	dayCounted  = "escalated" // missed, and already counted in an escalation
)

const (
	contactKeep = 40 * 24 * time.Hour // the retention sweep deletes it sooner
	logKeep     = 3 * 24 * time.Hour
)

// lock takes the contact's lock; a late unlock never frees a lock another
// worker took after this one expired.
func (f *Flow) lock(ctx context.Context, id string) (func(), error) {
	release, ok, err := f.cfg.Store.Lock(ctx, lockKey(id), f.cfg.LockTTL)
	if err != nil {
		return nil, fmt.Errorf("lock escalation of %s: %w", id, err)
	}
	if !ok {
		return nil, ErrBusy
	}
	return release, nil
}

func (f *Flow) loadDay(ctx context.Context, id, date string) (dayState, bool, error) {
	raw, found, err := f.cfg.Store.HGet(ctx, contactKey(id), "esc:"+date)
	if err != nil {
		return dayState{}, false, fmt.Errorf("load escalation %s %s: %w", id, date, err)
	}
	if !found {
		return dayState{}, false, nil
	}
	var st dayState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return dayState{}, false, fmt.Errorf("decode escalation %s %s: %w", id, date, err)
	}
	return st, true, nil
}

func (f *Flow) saveDay(ctx context.Context, id, date string, st dayState) error {
	raw, _ := json.Marshal(st)
	if err := f.cfg.Store.HSet(ctx, contactKey(id), "esc:"+date, string(raw), contactKeep); err != nil {
		return fmt.Errorf("save escalation %s %s: %w", id, date, err)
	}
	return nil
}

func (f *Flow) markDay(ctx context.Context, id, date, mark string) error {
	if err := f.cfg.Store.HSet(ctx, contactKey(id), "mark:"+date, mark, contactKeep); err != nil {
		return fmt.Errorf("mark day %s %s: %w", id, date, err)
	}
	return nil
}

func (f *Flow) dayMark(ctx context.Context, id, date string) (string, error) {
	v, _, err := f.cfg.Store.HGet(ctx, contactKey(id), "mark:"+date)
	if err != nil {
		return "", fmt.Errorf("read day %s %s: %w", id, date, err)
	}
	return v, nil
}

func (f *Flow) marks(ctx context.Context, id string) (map[string]string, error) {
	all, err := f.cfg.Store.HGetAll(ctx, contactKey(id))
	if err != nil {
		return nil, fmt.Errorf("read days of %s: %w", id, err)
	}
	out := map[string]string{}
	for k, v := range all {
		if d, ok := strings.CutPrefix(k, "mark:"); ok {
			out[d] = v
		}
	}
	return out, nil
}

// logToday lists the escalation for the admin page (ids and reasons).
func (f *Flow) logToday(ctx context.Context, id, date, reason string) error {
	if err := f.cfg.Store.HSet(ctx, logKey(date), id, reason, logKeep); err != nil {
		return fmt.Errorf("log escalation of %s: %w", id, err)
	}
	return nil
}

func (f *Flow) logMissed(ctx context.Context, id, day string) error {
	date := f.cfg.Now().In(f.cfg.Location).Format("2006-01-02")
	if err := f.cfg.Store.SAdd(ctx, missedKey(date), id+" "+day, logKeep); err != nil {
		return fmt.Errorf("log missed day of %s: %w", id, err)
	}
	return nil
}

// dueDates are the contact's dates with a missed-day check scheduled.
func (f *Flow) dueDates(ctx context.Context, id string) ([]string, error) {
	v, _, err := f.cfg.Store.HGet(ctx, contactKey(id), "due")
	if err != nil {
		return nil, fmt.Errorf("read checks of %s: %w", id, err)
	}
	if v == "" {
		return nil, nil
	}
	return strings.Split(v, ","), nil
}

func (f *Flow) setDueDates(ctx context.Context, id string, dates []string) error {
	sort.Strings(dates)
	var err error
	if len(dates) == 0 {
		err = f.cfg.Store.HDel(ctx, contactKey(id), "due")
	} else {
		err = f.cfg.Store.HSet(ctx, contactKey(id), "due", strings.Join(dates, ","), contactKeep)
	}
	if err != nil {
		return fmt.Errorf("record checks of %s: %w", id, err)
	}
	return nil
}

// Forget deletes what the flow keeps of a contact (monitoring.Forgetter).
func (f *Flow) Forget(ctx context.Context, contactID string, _ []string) error {
	dates, err := f.dueDates(ctx, contactID)
	if err != nil {
		return err
	}
	members := make([]string, len(dates))
	for i, d := range dates {
		members[i] = dueMember(contactID, d)
	}
	if err := f.due.Remove(ctx, members...); err != nil {
		return err
	}
	if err := f.cfg.Store.HDel(ctx, channelsKey, contactID); err != nil {
		return fmt.Errorf("forget escalation of %s: %w", contactID, err)
	}
	if err := f.cfg.Store.Del(ctx, contactKey(contactID)); err != nil {
		return fmt.Errorf("forget escalation of %s: %w", contactID, err)
	}
	return nil
}

// Escalation is one row of the admin view: ids only.
type Escalation struct {
	ContactID string `json:"contact_id"`
	Reason    string `json:"reason"`
}

// MissedDay is one missed monitoring day.
type MissedDay struct {
	ContactID string `json:"contact_id"`
	Day       string `json:"day"`
}

// Summary is the admin page's monitoring view: ids and counts only.
type Summary struct {
	Date        string         `json:"date"`
	Escalations []Escalation   `json:"escalations"`
	Missed      []MissedDay    `json:"missed_days"`
	Channels    map[string]int `json:"contacts_by_channel"`
	// Contacts lists the active contacts per channel (ids), at most 200 each.
	Contacts  map[string][]string `json:"contacts"`
	DueChecks int64               `json:"due_checks"` // missed-day checks now due
}

// Today reads the admin view for today, in BRIDGE_TIMEZONE.
func (f *Flow) Today(ctx context.Context) (Summary, error) {
	now := f.cfg.Now()
	date := now.In(f.cfg.Location).Format("2006-01-02")
	esc, err := f.cfg.Store.HGetAll(ctx, logKey(date))
	if err != nil {
		return Summary{}, fmt.Errorf("read monitoring view: %w", err)
	}
	miss, err := f.cfg.Store.SMembers(ctx, missedKey(date))
	if err != nil {
		return Summary{}, fmt.Errorf("read monitoring view: %w", err)
	}
	ch, err := f.cfg.Store.HGetAll(ctx, channelsKey)
	if err != nil {
		return Summary{}, fmt.Errorf("read monitoring view: %w", err)
	}
	s := Summary{Date: date, Escalations: []Escalation{}, Missed: []MissedDay{}, Channels: map[string]int{}, Contacts: map[string][]string{}}
	for id, reason := range esc {
		s.Escalations = append(s.Escalations, Escalation{ContactID: id, Reason: reason})
	}
	sort.Slice(s.Escalations, func(a, b int) bool { return s.Escalations[a].ContactID < s.Escalations[b].ContactID })
	for _, m := range miss {
		id, day, _ := strings.Cut(m, " ")
		s.Missed = append(s.Missed, MissedDay{ContactID: id, Day: day})
	}
	sort.Slice(s.Missed, func(a, b int) bool {
		if s.Missed[a].ContactID != s.Missed[b].ContactID {
			return s.Missed[a].ContactID < s.Missed[b].ContactID
		}
		return s.Missed[a].Day < s.Missed[b].Day
	})
	for id, c := range ch {
		s.Channels[c]++
		if len(s.Contacts[c]) < 200 {
			s.Contacts[c] = append(s.Contacts[c], id)
		}
	}
	for c := range s.Contacts {
		sort.Strings(s.Contacts[c])
	}
	n, err := f.due.Len(ctx, now)
	if err != nil {
		return Summary{}, err
	}
	s.DueChecks = n
	return s, nil
}
