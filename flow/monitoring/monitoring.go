// Package monitoring schedules the daily reminder SMS of contacts in
// monitoring through Twilio's scheduled messages, cancels what is left when
// monitoring ends or the contact texts STOP. The contact's own state and
// the number it is texted at are the contact registry's (package contacts).
//
// The worst outcome is a duplicate SMS reaching a person, so scheduling is
// at most once per contact and day: a day is claimed in Redis (SET NX)
// before Twilio is asked, and a claim is only released when Twilio surely
// did not create the message. An ambiguous failure (timeout after the
// request went out, 500/502/504) leaves the day marked "unknown"; it is
// never simply retried. Instead the day is reconciled with Twilio's list of
// messages to the number, by the SHA-256 of the exact body sent: a match is
// adopted (and can be canceled), and only when none has appeared after a
// grace period is the claim released for the day to be scheduled again.
package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/sendgrid"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// Messages is the part of Twilio the flow uses.
type Messages interface {
	ScheduleMessage(ctx context.Context, to, body string, sendAt time.Time) (string, error)
	CancelMessage(ctx context.Context, sid string) error
	// ListMessagesTo lists the messages to a number, newest first.
	ListMessagesTo(ctx context.Context, to string) ([]twilio.Message, error)
}

// CRM writes the opt-out field.
type CRM interface {
	Update(ctx context.Context, object, id string, fields salesforce.Record) error
}

// Store holds the days' claims, the keyword order and the schedule's lease.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	Del(ctx context.Context, keys ...string) error
}

// Contacts is the contact registry (*contacts.Registry): the contact's
// state, opt-out, lock and phone index.
type Contacts interface {
	Lock(ctx context.Context, id string) (context.Context, func(), error)
	LockTTL() time.Duration
	Load(ctx context.Context, id string) (contacts.Contact, bool, error)
	Save(ctx context.Context, id string, c contacts.Contact) (contacts.Contact, bool, error)
	RetainUntil(c contacts.Contact) time.Time
	OptedOut(ctx context.Context, id string) (bool, error)
	SetOptOut(ctx context.Context, id string, on bool) error
	ContactsByPhone(ctx context.Context, phone string) ([]string, error)
	RememberPhone(ctx context.Context, phone, id string) error
	ForgetPhone(ctx context.Context, phone, id string) error
}

// Sender sends a message now: the days the bridge sends itself (too near
// for Twilio's scheduler, or WhatsApp templates).
type Sender interface {
	SendMessage(ctx context.Context, to, body string) (string, error)
	SendContent(ctx context.Context, to, contentSid string, variables map[string]string) (string, error)
}

// Caller places reminder calls (voice channel).
type Caller interface {
	CreateCall(ctx context.Context, r twilio.CallRequest) (string, error)
}

// Mailer sends reminder emails (connector/sendgrid).
type Mailer interface {
	Send(ctx context.Context, e sendgrid.Email) (string, error)
}

// Schedule is the rolling schedule's sorted set (connector/redis.KV).
type Schedule interface {
	ZAdd(ctx context.Context, key, member string, score float64) error
	ZRem(ctx context.Context, key string, members ...string) error
	ZDue(ctx context.Context, key string, max float64, limit int64) ([]string, error)
}

// Activities writes an activity on a contact's record once, by external id.
type Activities interface {
	Upsert(ctx context.Context, object, extField, extValue string, fields salesforce.Record) (salesforce.RowResult, error)
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Links mints survey links (*survey.Links).
type Links interface {
	// DayLink is the survey link of a contact's day, valid for the
	// survey's window after date in loc.
	DayLink(contactID, date, lang string, loc *time.Location) (string, error)
	// Language is the language tag the survey reads from a record's value.
	Language(tag string) string
}

// Config wires the flow.
type Config struct {
	Messages Messages
	CRM      CRM
	Store    Store
	Contacts Contacts
	Mappings Mappings
	Links    Links
	Location *time.Location // BRIDGE_TIMEZONE; default America/New_York
	// Enabled is false without a Messaging Service: nothing is scheduled,
	// STOP and START are still recorded.
	Enabled bool
	Logger  *slog.Logger
	Now     func() time.Time
	// Interval is how often Run works the rolling schedule (days to hand
	// over, days the bridge sends itself at their time); default 30 s.
	Interval time.Duration
	// Parallelism bounds the contacts handled at once within one batch.
	Parallelism int // default 8
	// Grace is how long after an ambiguous attempt a message missing from
	// Twilio's list counts as never created; default 2 minutes.
	Grace time.Duration

	// Horizon is how far ahead a day is handed to Twilio's scheduler
	// (BRIDGE_REMINDER_HORIZON, default 48h); the rolling schedule in
	// Redis holds the rest. Capped to Twilio's 35-day window.
	Horizon time.Duration
	// Schedule holds the rolling schedule; default Store when it has one.
	Schedule Schedule
	// Sender sends the days the bridge sends itself; default Messages when
	// it can. Without one those days are skipped (logged).
	Sender Sender
	// Caller places voice reminders from VoiceFrom, at most CallsPerSecond
	// across instances (default 1). Without it voice days are skipped.
	Caller         Caller
	VoiceFrom      string
	CallsPerSecond float64
	// Mailer sends email reminders; nil = the email channel is off.
	Mailer Mailer
	// Activities writes the channel change of a fallback; default CRM when it can.
	Activities Activities
	// Registerer takes the flow's metrics; nil = not exported.
	Registerer prometheus.Registerer
	// Late is how long after its time a day the bridge sends itself may
	// still go out (an outage, a slow round); older days are skipped.
	// Default 6 hours: half the usual escalation grace.
	Late time.Duration
	// Watcher hears of contact changes; may be nil.
	Watcher Watcher
	// UsedKey is the survey's used mark of a contact's day (survey.UsedKey),
	// deleted with the contact; nil = none to delete.
	UsedKey func(contactID, date string) string
}

// Twilio's scheduling window, with margins for the request's own latency
// and clock skew, so Twilio never sees a SendAt outside it.
const (
	MinLead    = 15 * time.Minute
	MaxLead    = 35 * 24 * time.Hour
	leadMargin = 30 * time.Second
	farMargin  = time.Hour
)

// ErrBusy means another worker holds the contact; the queue retries later.
var ErrBusy = contacts.ErrBusy

// Flow is the monitoring flow.
type Flow struct {
	cfg     Config
	log     *slog.Logger
	sched   Schedule
	m       *metrics
	lockTTL time.Duration // the contact lock's, from the registry
}

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.Messages == nil || cfg.CRM == nil || cfg.Store == nil || cfg.Contacts == nil || cfg.Mappings == nil || cfg.Links == nil {
		return nil, errors.New("monitoring: Messages, CRM, Store, Contacts, Mappings and Links are required")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("monitoring: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Minute
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = 48 * time.Hour
	}
	cfg.Horizon = min(cfg.Horizon, MaxLead-farMargin)
	if cfg.CallsPerSecond <= 0 {
		cfg.CallsPerSecond = 1
	}
	if cfg.Late <= 0 {
		cfg.Late = 6 * time.Hour
	}
	if cfg.Schedule == nil {
		sc, ok := cfg.Store.(Schedule)
		if !ok {
			return nil, errors.New("monitoring: Schedule is required (the Store has no sorted sets)")
		}
		cfg.Schedule = sc
	}
	if cfg.Sender == nil {
		if sd, ok := cfg.Messages.(Sender); ok {
			cfg.Sender = sd
		}
	}
	if cfg.Activities == nil {
		if a, ok := cfg.CRM.(Activities); ok {
			cfg.Activities = a
		}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	f := &Flow{cfg: cfg, log: cfg.Logger, sched: cfg.Schedule, m: m, lockTTL: cfg.Contacts.LockTTL()}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Day states. A day key exists once the day has been claimed; only
// canceled and blocked days (Twilio surely holds no live message for them)
// may be claimed again.
const (
	stateClaimed   = "claimed"   // Twilio is being asked (or the asker died)
	stateScheduled = "scheduled" // sid holds the scheduled message
	stateUnknown   = "unknown"   // ambiguous failure: the message may exist
	stateCanceled  = "canceled"  // we canceled it
	stateGone      = "gone"      // sent or failed at Twilio (30409 on cancel)
	stateSkipped   = "skipped"   // Twilio refused the time (35114)
	stateBlocked   = "blocked"   // Twilio refused the number (21610)
)

type dayState struct {
	State  string `json:"state"`
	SID    string `json:"sid,omitempty"`
	SendAt int64  `json:"send_at,omitempty"` // unix seconds
	// BodyHash is the hex SHA-256 of the body of the last attempt (its link
	// token's iat makes it unique), Tried the attempt's unix time: together
	// they let an ambiguous attempt be found in Twilio's message list.
	BodyHash string `json:"body_sha256,omitempty"`
	Tried    int64  `json:"tried,omitempty"`
	// Via is viaBridge for a day the bridge sent itself ("" = Twilio's scheduler).
	Via string `json:"via,omitempty"`
}

func resumable(state string) bool { return state == stateCanceled || state == stateBlocked }

// Handle is the monitoring queue's batch handler: record changes and
// STOP/START texts. Messages about one contact (or one number) run in
// order; different ones run concurrently.
func (f *Flow) Handle(ctx context.Context, msgs []queue.Message) []error {
	errs := make([]error, len(msgs))
	type item struct {
		idx int
		rec *event.Record
		sms *event.SMS
	}
	var recs, texts []item
	for i, m := range msgs {
		if d := decodeDelivery(m.Payload); d != nil {
			// Rare, and locked per contact: handled at once.
			errs[i] = f.Delivery(ctx, *d)
			continue
		}
		rec, sms, err := decode(m.Payload)
		if err != nil {
			errs[i] = queue.Permanent(err)
			continue
		}
		if rec != nil {
			recs = append(recs, item{idx: i, rec: rec})
		} else {
			texts = append(texts, item{idx: i, sms: sms})
		}
	}
	// Records first, then texts: a STOP in the same batch as its contact's
	// record change would otherwise find the contact locked.
	for j, err := range queue.ByKey(ctx, recs, f.cfg.Parallelism,
		func(it item) string { return it.rec.Object + ":" + it.rec.RecordID },
		func(a, b item) bool { return lastModified(a.rec.Fields) < lastModified(b.rec.Fields) },
		func(ctx context.Context, it item) error { return f.Record(ctx, *it.rec) }) {
		errs[recs[j].idx] = err
	}
	for j, err := range queue.ByKey(ctx, texts, f.cfg.Parallelism,
		func(it item) string { return strings.TrimSpace(it.sms.From) },
		func(a, b item) bool { return a.sms.OrderedAt().Before(b.sms.OrderedAt()) }, // Twilio's order
		func(ctx context.Context, it item) error { return f.SMS(ctx, *it.sms) }) {
		errs[texts[j].idx] = err
	}
	for i, err := range errs {
		if err != nil {
			f.log.Warn("monitoring event failed", "message_id", msgs[i].ID, "key", msgs[i].Key, "err", queue.LogText(err))
		}
	}
	return errs
}

// decodeDelivery returns the delivery failure a payload carries, if any.
func decodeDelivery(payload []byte) *event.Delivery {
	var m event.Monitoring
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	return m.Delivery
}

// decode reads both shapes the queue carries: event.Monitoring, and the
// bare event.Record the outbound-message intake shares with recordsync.
func decode(payload []byte) (*event.Record, *event.SMS, error) {
	var m event.Monitoring
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, nil, fmt.Errorf("decode monitoring event: %w", err)
	}
	switch {
	case m.Record != nil:
		return m.Record, nil, nil
	case m.SMS != nil:
		return nil, m.SMS, nil
	}
	var rec event.Record
	if err := json.Unmarshal(payload, &rec); err == nil && rec.RecordID != "" && rec.Object != "" {
		return &rec, nil, nil
	}
	return nil, nil, errors.New("decode monitoring event: neither a record nor an SMS")
}

// lastModified is RFC 3339 in UTC with fixed width, so strings compare as times.
func lastModified(fields map[string]any) string {
	s, _ := fields["LastModifiedDate"].(string)
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Salesforce's own form: 2026-03-02T15:04:05.000+0000
		if t, err = time.Parse("2006-01-02T15:04:05.000-0700", s); err != nil {
			return ""
		}
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}
