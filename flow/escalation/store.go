package escalation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Keys. A contact's escalation state is one hash (its days' escalations and
// answered/missed marks), under the contact's hash tag; the indexes the
// admin page reads hold ids only.
func contactKey(id string) string { return "bridge:escalation:{" + id + "}:days" }
func lockKey(id string) string    { return "bridge:escalation:{" + id + "}:lock" }
func logKey(date string) string   { return "bridge:escalation:log:" + date }
func missedKey(date string) string {
	return "bridge:escalation:missed:" + date
}

const channelsKey = "bridge:escalation:channels"

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

var unlockScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// lock takes the contact's lock with a token, so a late unlock never
// frees a lock another worker took after this one expired.
func (f *Flow) lock(ctx context.Context, id string) (func(), error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	ok, err := f.cfg.Redis.SetNX(ctx, lockKey(id), tok, f.cfg.LockTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("lock escalation of %s: %w", id, err)
	}
	if !ok {
		return nil, ErrBusy
	}
	return func() {
		_ = unlockScript.Run(context.WithoutCancel(ctx), f.cfg.Redis, []string{lockKey(id)}, tok).Err()
	}, nil
}

func (f *Flow) loadDay(ctx context.Context, id, date string) (dayState, bool, error) {
	raw, err := f.cfg.Redis.HGet(ctx, contactKey(id), "esc:"+date).Result()
	if errors.Is(err, goredis.Nil) {
		return dayState{}, false, nil
	}
	if err != nil {
		return dayState{}, false, fmt.Errorf("load escalation %s %s: %w", id, date, err)
	}
	var st dayState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return dayState{}, false, fmt.Errorf("decode escalation %s %s: %w", id, date, err)
	}
	return st, true, nil
}

func (f *Flow) saveDay(ctx context.Context, id, date string, st dayState) error {
	raw, _ := json.Marshal(st)
	pipe := f.cfg.Redis.TxPipeline()
	pipe.HSet(ctx, contactKey(id), "esc:"+date, raw)
	pipe.Expire(ctx, contactKey(id), contactKeep)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("save escalation %s %s: %w", id, date, err)
	}
	return nil
}

func (f *Flow) markDay(ctx context.Context, id, date, mark string) error {
	pipe := f.cfg.Redis.TxPipeline()
	pipe.HSet(ctx, contactKey(id), "mark:"+date, mark)
	pipe.Expire(ctx, contactKey(id), contactKeep)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("mark day %s %s: %w", id, date, err)
	}
	return nil
}

func (f *Flow) dayMark(ctx context.Context, id, date string) (string, error) {
	v, err := f.cfg.Redis.HGet(ctx, contactKey(id), "mark:"+date).Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read day %s %s: %w", id, date, err)
	}
	return v, nil
}

func (f *Flow) marks(ctx context.Context, id string) (map[string]string, error) {
	all, err := f.cfg.Redis.HGetAll(ctx, contactKey(id)).Result()
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
	pipe := f.cfg.Redis.TxPipeline()
	pipe.HSet(ctx, logKey(date), id, reason)
	pipe.Expire(ctx, logKey(date), logKeep)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("log escalation of %s: %w", id, err)
	}
	return nil
}

func (f *Flow) logMissed(ctx context.Context, id, day string) error {
	date := f.cfg.Now().In(f.cfg.Location).Format("2006-01-02")
	pipe := f.cfg.Redis.TxPipeline()
	pipe.SAdd(ctx, missedKey(date), id+" "+day)
	pipe.Expire(ctx, missedKey(date), logKeep)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("log missed day of %s: %w", id, err)
	}
	return nil
}

// dueDates are the contact's dates with a missed-day check scheduled.
func (f *Flow) dueDates(ctx context.Context, id string) ([]string, error) {
	v, err := f.cfg.Redis.HGet(ctx, contactKey(id), "due").Result()
	if errors.Is(err, goredis.Nil) || v == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checks of %s: %w", id, err)
	}
	return strings.Split(v, ","), nil
}

func (f *Flow) setDueDates(ctx context.Context, id string, dates []string) error {
	sort.Strings(dates)
	pipe := f.cfg.Redis.TxPipeline()
	if len(dates) == 0 {
		pipe.HDel(ctx, contactKey(id), "due")
	} else {
		pipe.HSet(ctx, contactKey(id), "due", strings.Join(dates, ","))
		pipe.Expire(ctx, contactKey(id), contactKeep)
	}
	if _, err := pipe.Exec(ctx); err != nil {
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
	if err := f.cfg.Redis.HDel(ctx, channelsKey, contactID).Err(); err != nil {
		return fmt.Errorf("forget escalation of %s: %w", contactID, err)
	}
	if err := f.cfg.Redis.Del(ctx, contactKey(contactID)).Err(); err != nil {
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
	pipe := f.cfg.Redis.Pipeline()
	esc := pipe.HGetAll(ctx, logKey(date))
	miss := pipe.SMembers(ctx, missedKey(date))
	ch := pipe.HGetAll(ctx, channelsKey)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return Summary{}, fmt.Errorf("read monitoring view: %w", err)
	}
	s := Summary{Date: date, Escalations: []Escalation{}, Missed: []MissedDay{}, Channels: map[string]int{}, Contacts: map[string][]string{}}
	for id, reason := range esc.Val() {
		s.Escalations = append(s.Escalations, Escalation{ContactID: id, Reason: reason})
	}
	sort.Slice(s.Escalations, func(a, b int) bool { return s.Escalations[a].ContactID < s.Escalations[b].ContactID })
	for _, m := range miss.Val() {
		id, day, _ := strings.Cut(m, " ")
		s.Missed = append(s.Missed, MissedDay{ContactID: id, Day: day})
	}
	sort.Slice(s.Missed, func(a, b int) bool {
		if s.Missed[a].ContactID != s.Missed[b].ContactID {
			return s.Missed[a].ContactID < s.Missed[b].ContactID
		}
		return s.Missed[a].Day < s.Missed[b].Day
	})
	for id, c := range ch.Val() {
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
