// Package contacts is the bridge's own copy of a contact in monitoring: its
// state, its opt-out, the index from phone number to contact, and its
// retention (the deadline after which the bridge forgets it, and the sweep
// that does). Salesforce holds the record; this is only what the flows need
// between two record changes, never a protected field.
//
// The Redis key names are those flow/monitoring used before the registry
// had a package of its own, so that deployed data is read after an upgrade;
// the phone index's set is new, and takes in the old JSON list it replaces.
package contacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cityhealth/bridge/mapping"
)

// Store is the key-value store the registry keeps contacts in
// (connector/redis.KV; test/memkv in unit tests).
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	Del(ctx context.Context, keys ...string) error
	// Lock takes key for ttl; release frees it only while it is still
	// this holder's (connector/redis.KV.Lock).
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
	// The phone index is a recency set (connector/redis.KV.ZPushTop):
	// last pushed first, edited without a lock.
	ZPushTop(ctx context.Context, key, member string, ttl time.Duration) error
	ZRem(ctx context.Context, key string, members ...string) error
	ZRevMembers(ctx context.Context, key string) ([]string, error)
	ZImportJSON(ctx context.Context, from, to string) error
	// Key is the store's full name of key (its namespace prefixed).
	Key(key string) string
}

// Deadlines is a schedule of contacts to forget (connector/redis.Schedule).
type Deadlines interface {
	Set(ctx context.Context, at time.Time, members ...string) error
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
	Done(ctx context.Context, member string, claimedAt time.Time, lease time.Duration) error
}

// Forgetter deletes what another part of the bridge keeps of a contact
// when its retention ends. phones are the numbers the contact was texted
// at, for stores keyed or filled by number. It runs under the contact's
// lock, before the contact's state is deleted.
type Forgetter interface {
	Forget(ctx context.Context, contactID string, phones []string) error
}

// DefaultRetention is BRIDGE_RETENTION's default: 14 days.
const DefaultRetention = 336 * time.Hour

// Config wires the registry.
type Config struct {
	Store    Store
	Location *time.Location // BRIDGE_TIMEZONE; default America/New_York
	Now      func() time.Time
	Logger   *slog.Logger
	// LockTTL bounds a contact's lock; work under it stops before it ends.
	// Default 25 s: with the queue's 30 s takeover, work a dead instance held
	// is redone within the 60 s SPEC allows (the work itself stops at 5/6).
	LockTTL time.Duration
	// Retention is BRIDGE_RETENTION; default 336h.
	Retention time.Duration
	// Deadlines holds the retention deadlines; nil = Redis TTLs only.
	Deadlines Deadlines
	// Forgetters forget a contact with the registry, in order.
	Forgetters []Forgetter
}

// ErrBusy means another worker holds the contact; the queue retries later.
var ErrBusy = errors.New("monitoring: contact is being handled by another worker")

// Registry is the contact registry.
type Registry struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("contacts: Store is required")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("contacts: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 25 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	r := &Registry{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// LockTTL is the life of a contact's lock.
func (r *Registry) LockTTL() time.Duration { return r.cfg.LockTTL }

func contactKey(id string) string { return "monitoring:contact:" + id }
func optOutKey(id string) string  { return "monitoring:optout:" + id }
func lockKey(kind, name string) string {
	return "monitoring:lock:" + kind + ":" + name
}

// phoneKey hashes the number, so key names (and errors quoting them) carry
// no phone number. It names the index as releases before the set wrote it,
// a JSON list in a string.
func phoneKey(phone string) string {
	// A WhatsApp address is the same number: one index for both.
	sum := sha256.Sum256([]byte(strings.TrimPrefix(strings.TrimSpace(phone), "whatsapp:")))
	return "monitoring:phone:" + hex.EncodeToString(sum[:12])
}

// phoneSetKey names the number's index set. Its hash tag is the old key's
// full name, so on Redis Cluster both live in one slot and the import of
// the old list into the set is one atomic script.
func (r *Registry) phoneSetKey(old string) string {
	return "{" + r.cfg.Store.Key(old) + "}:contacts"
}

// phoneKeep: the phone index outlives its last write by this much at
// most; the retention sweep removes entries sooner.
const phoneKeep = 60 * 24 * time.Hour

// Contact is what the bridge keeps of a contact in monitoring: enough to
// schedule later days, answer STOP and greet on the survey page. Never a
// protected field. The JSON names are the stored form.
type Contact struct {
	Object       string `json:"object"`
	Phone        string `json:"phone,omitempty"`
	FirstName    string `json:"first_name,omitempty"`
	Language     string `json:"language,omitempty"`
	Start        string `json:"start,omitempty"` // YYYY-MM-DD
	Days         int    `json:"days,omitempty"`
	Active       bool   `json:"active"`
	LastModified string `json:"last_modified,omitempty"`
	// Pending is the unix time of the contact's next action (a day to hand
	// to Twilio, or to send); 0 when none. Mirrors the rolling schedule.
	Pending int64 `json:"pending,omitempty"`
	// Channel is the contact's reminder channel ("" = sms); FellBack means
	// a delivery failure moved it to reminders.fallback, which a later
	// record change does not undo.
	Channel  string `json:"channel,omitempty"`
	FellBack bool   `json:"fell_back,omitempty"`
	Email    string `json:"email,omitempty"`
	// Time is the contact's own HH:MM (reminders.time); "" = reminders.at.
	Time string `json:"time,omitempty"`
	// Ended is when monitoring stopped (unix), 0 while it runs.
	Ended int64 `json:"ended,omitempty"`
}

// ChannelOrSMS is the contact's reminder channel, sms when none is set.
func (c Contact) ChannelOrSMS() string {
	if c.Channel == "" {
		return mapping.ChannelSMS
	}
	return c.Channel
}

// Dates are the contact's monitoring days, YYYY-MM-DD.
func (c Contact) Dates() []string {
	d, err := time.Parse("2006-01-02", c.Start)
	if err != nil {
		return nil
	}
	out := make([]string, c.Days)
	for i := range out {
		out[i] = d.AddDate(0, 0, i).Format("2006-01-02")
	}
	return out
}

// Day is one monitoring day and its reminder's send time.
type Day struct {
	Date   string // YYYY-MM-DD
	SendAt time.Time
}

// Change is what a watcher of contacts learns: ids, dates and times, never
// a number or a name.
type Change struct {
	ID, Object string
	// Active is true while reminders go out: in monitoring, not opted out.
	Active  bool
	Channel string
	Days    []Day
	// RetainUntil is when the bridge forgets the contact.
	RetainUntil time.Time
}

// Greeting is what the survey page may know of a contact: the greeting's
// first name and the language. Nothing about the case, ever.
type Greeting struct {
	FirstName string
	Language  string
}

// Lock takes the contact's lock and bounds the work under it by the lock's
// life; release undoes both. A held lock gives ErrBusy.
func (r *Registry) Lock(ctx context.Context, id string) (context.Context, func(), error) {
	unlock, err := r.lock(ctx, "contact", id)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LockTTL*5/6)
	return ctx, func() { cancel(); unlock() }, nil
}

func (r *Registry) lock(ctx context.Context, kind, name string) (func(), error) {
	release, ok, err := r.cfg.Store.Lock(ctx, lockKey(kind, name), r.cfg.LockTTL)
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

func (r *Registry) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, found, err := r.cfg.Store.Get(ctx, key)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func (r *Registry) setJSON(ctx context.Context, key string, v any, ttl time.Duration) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.cfg.Store.Set(ctx, key, string(raw), ttl)
}

// Load reads a contact's state.
func (r *Registry) Load(ctx context.Context, id string) (Contact, bool, error) {
	var c Contact
	found, err := r.getJSON(ctx, contactKey(id), &c)
	if err != nil {
		return Contact{}, false, fmt.Errorf("load contact %s: %w", id, err)
	}
	return c, found, nil
}

// Save stores c under the contact's lock: it stamps when monitoring ended
// (or clears the stamp when it resumes) and moves the contact's retention
// deadline. It returns the contact as stored and whether reminders go out
// to it (in monitoring, not opted out).
func (r *Registry) Save(ctx context.Context, id string, c Contact) (Contact, bool, error) {
	optedOut, err := r.OptedOut(ctx, id)
	if err != nil {
		return c, false, err
	}
	active := c.Active && !optedOut
	switch {
	case !active && c.Ended == 0:
		c.Ended = r.cfg.Now().Unix()
	case active && c.Ended != 0:
		c.Ended = 0
	}
	if err := r.setJSON(ctx, contactKey(id), c, r.ttl(c)); err != nil {
		return c, false, fmt.Errorf("save contact %s: %w", id, err)
	}
	if r.cfg.Deadlines != nil {
		if err := r.cfg.Deadlines.Set(ctx, r.RetainUntil(c), id); err != nil {
			return c, false, err
		}
	}
	return c, active, nil
}

// ttl keeps the state a day past its retention deadline: the sweep
// deletes it on time, the TTL is the backstop.
func (r *Registry) ttl(c Contact) time.Duration {
	return max(time.Hour, r.RetainUntil(c).Add(24*time.Hour).Sub(r.cfg.Now()))
}

// RetainUntil is the retention deadline: BRIDGE_RETENTION after monitoring
// ended (opt-out, the record leaving monitoring) or, while it runs, after
// the end of its last day.
func (r *Registry) RetainUntil(c Contact) time.Time {
	if c.Ended > 0 {
		return time.Unix(c.Ended, 0).Add(r.cfg.Retention)
	}
	end := r.cfg.Now()
	if ds := c.Dates(); len(ds) > 0 {
		if last, err := time.ParseInLocation("2006-01-02", ds[len(ds)-1], r.cfg.Location); err == nil {
			end = last.AddDate(0, 0, 1)
		}
	}
	return end.Add(r.cfg.Retention)
}

// OptedOut reports whether the contact texted STOP (and not START since)
// or Twilio refused its number.
func (r *Registry) OptedOut(ctx context.Context, contactID string) (bool, error) {
	_, found, err := r.cfg.Store.Get(ctx, optOutKey(contactID))
	if err != nil {
		return false, fmt.Errorf("read opt-out of %s: %w", contactID, err)
	}
	return found, nil
}

// SetOptOut sets or clears the contact's opt-out. It never expires, not
// even with retention: a STOP must outlive it, or a later record change
// could remind the contact again on a channel Twilio does not police.
func (r *Registry) SetOptOut(ctx context.Context, id string, on bool) error {
	var err error
	if on {
		err = r.cfg.Store.Set(ctx, optOutKey(id), "1", 0)
	} else {
		err = r.cfg.Store.Del(ctx, optOutKey(id))
	}
	if err != nil {
		return fmt.Errorf("write opt-out of %s: %w", id, err)
	}
	return nil
}

// ContactsByPhone lists the contacts texted at a number (or its WhatsApp
// address), most recent first: a household often shares one phone.
func (r *Registry) ContactsByPhone(ctx context.Context, phone string) ([]string, error) {
	if strings.TrimSpace(phone) == "" {
		return nil, nil
	}
	set, err := r.phoneIndex(ctx, phone)
	if err != nil {
		return nil, err
	}
	ids, err := r.cfg.Store.ZRevMembers(ctx, set)
	if err != nil || len(ids) == 0 {
		return nil, wrapPhone(err)
	}
	return ids, nil
}

// phoneIndex names the number's index set, after moving a list an older
// release left under the old key into it (once: the move deletes the list,
// and is atomic, so instances racing to do it agree).
func (r *Registry) phoneIndex(ctx context.Context, phone string) (string, error) {
	old := phoneKey(phone)
	set := r.phoneSetKey(old)
	if err := r.cfg.Store.ZImportJSON(ctx, old, set); err != nil {
		return "", wrapPhone(err)
	}
	return set, nil
}

func wrapPhone(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("phone index: %w", err)
}

// ContactByPhone finds the contact most recently texted at phone; writeback
// uses it to file SMS replies.
func (r *Registry) ContactByPhone(ctx context.Context, phone string) (contactID string, found bool, err error) {
	ids, err := r.ContactsByPhone(ctx, phone)
	if err != nil || len(ids) == 0 {
		return "", false, err
	}
	return ids[0], true, nil
}

// RememberPhone puts id first among the contacts texted at phone and
// restarts the index's expiry.
func (r *Registry) RememberPhone(ctx context.Context, phone, id string) error {
	if strings.TrimSpace(phone) == "" {
		return nil
	}
	set, err := r.phoneIndex(ctx, phone)
	if err != nil {
		return err
	}
	return wrapPhone(r.cfg.Store.ZPushTop(ctx, set, id, max(phoneKeep, r.cfg.Retention)+35*24*time.Hour))
}

// ForgetPhone takes id out of the contacts texted at phone; the last one
// out deletes the index.
func (r *Registry) ForgetPhone(ctx context.Context, phone, id string) error {
	if strings.TrimSpace(phone) == "" {
		return nil
	}
	set, err := r.phoneIndex(ctx, phone)
	if err != nil {
		return err
	}
	return wrapPhone(r.cfg.Store.ZRem(ctx, set, id))
}

// Greeting gives the survey page the contact's first name and language,
// as last seen on the record; nothing else is kept.
func (r *Registry) Greeting(ctx context.Context, contactID string) (Greeting, bool, error) {
	c, found, err := r.Load(ctx, contactID)
	if err != nil || !found {
		return Greeting{}, false, err
	}
	return Greeting{FirstName: c.FirstName, Language: c.Language}, true, nil
}
