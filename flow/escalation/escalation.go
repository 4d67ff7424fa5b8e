// Package escalation turns symptoms and silence into work for a tracer: a
// survey answer the mapping's `escalate.when` lists, `escalate.missed_days`
// consecutive days without an answer, or an SMS reply with an
// `escalate.keywords` word opens one TaskRouter task per contact and day,
// and writes one activity on the contact's record saying why.
//
// Triggers reach the flow through the durable escalation queue (writeback
// enqueues answers and replies once they are in Salesforce; the due-check
// loop enqueues missed days). Per contact and day a state in Redis walks
// creating → created → done: a create whose outcome is unknown is settled
// by asking TaskRouter for the task (EvaluateTaskAttributes) before any
// second create, and the activity is an upsert by an external id derived
// from contact and date, so replays never duplicate either.
package escalation

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
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// Task attribute values.
const (
	TaskType         = "monitoring_escalation"
	ReasonSymptoms   = "symptoms"
	ReasonMissedDays = "missed_days"
	ReasonReply      = "reply"
)

// Tasks is the part of TaskRouter the flow uses.
type Tasks interface {
	CreateTask(ctx context.Context, attrs map[string]any, priority int) (twilio.Task, error)
	FindOpenTasks(ctx context.Context, evaluateTaskAttributes string) ([]twilio.Task, error)
}

// CRM reads the contact and writes the activity.
type CRM interface {
	Get(ctx context.Context, object, id string, fields []string) (salesforce.Record, error)
	Upsert(ctx context.Context, object, extField, extValue string, fields salesforce.Record) (salesforce.RowResult, error)
}

// Monitor tells whether a day's reminder went out to a contact still in
// monitoring (monitoring.Flow).
type Monitor interface {
	Reminded(ctx context.Context, contactID, date string) (bool, error)
}

// Answers reads the survey pages' used marks (Config.UsedKey).
type Answers interface {
	Get(ctx context.Context, key string) (string, bool, error)
}

// Enqueuer is the escalation queue.
type Enqueuer interface {
	Enqueue(ctx context.Context, items ...queue.Item) ([]bool, error)
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Config wires the flow.
type Config struct {
	Tasks    Tasks
	CRM      CRM
	Store    Store
	Due      Schedule
	Mappings Mappings
	Monitor  Monitor
	Answers  Answers
	// UsedKey is the survey pages' used mark of a contact's day
	// (survey.UsedKey): the key Answers is asked for.
	UsedKey  func(contactID, date string) string
	Queue    Enqueuer // where due missed-day checks go
	Location *time.Location
	Now      func() time.Time
	Logger   *slog.Logger
	// Interval is how often due missed-day checks are looked for; default
	// 30 s, so a missed day escalates well within 2 minutes.
	Interval time.Duration
	// LockTTL bounds the per-contact lock; default 25 s.
	LockTTL time.Duration
	// Parallelism bounds the contacts handled at once within a batch.
	Parallelism int // default 8
	// ActivitySubject is the Subject of the activity on the record.
	ActivitySubject string                // default "Monitoring escalation"
	Registerer      prometheus.Registerer // nil = no metrics
}

// Flow is the escalation flow.
type Flow struct {
	cfg     Config
	log     *slog.Logger
	due     Schedule
	metrics *metrics
}

// ErrBusy means another worker holds the contact; the queue retries.
var ErrBusy = errors.New("escalation: contact is being handled by another worker")

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.Tasks == nil || cfg.CRM == nil || cfg.Store == nil || cfg.Due == nil || cfg.Mappings == nil || cfg.Monitor == nil || cfg.Answers == nil || cfg.Queue == nil {
		return nil, errors.New("escalation: Tasks, CRM, Store, Due, Mappings, Monitor, Answers and Queue are required")
	}
	if cfg.UsedKey == nil {
		return nil, errors.New("escalation: UsedKey is required (survey.UsedKey)")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("escalation: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 25 * time.Second
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	if cfg.ActivitySubject == "" {
		cfg.ActivitySubject = "Monitoring escalation"
	}
	mt, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("escalation metrics: %w", err)
	}
	f := &Flow{cfg: cfg, log: cfg.Logger, due: cfg.Due, metrics: mt}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Handle is the escalation queue's batch handler. Events of one contact
// run in order; contacts run concurrently (Parallelism), so a city's
// missed days found at the same minute still escalate within it.
func (f *Flow) Handle(ctx context.Context, msgs []queue.Message) []error {
	type item struct {
		i  int
		ev event.Escalation
	}
	errs := make([]error, len(msgs))
	evs := make([]event.Escalation, len(msgs))
	var valid []item
	for i, m := range msgs {
		if err := json.Unmarshal(m.Payload, &evs[i]); err != nil {
			errs[i] = queue.Permanent(fmt.Errorf("decode escalation event: %w", err))
			continue
		}
		if !salesforce.ValidID(evs[i].ContactID) || !validDate(evs[i].Date) {
			errs[i] = queue.Permanent(errors.New("escalation event without a contact id or date"))
			continue
		}
		valid = append(valid, item{i, evs[i]})
	}
	ran := queue.ByKey(ctx, valid, f.cfg.Parallelism,
		func(it item) string { return it.ev.ContactID }, nil,
		func(ctx context.Context, it item) error { return f.Event(ctx, it.ev) })
	for j, it := range valid {
		errs[it.i] = ran[j]
	}
	for i, err := range errs {
		if err != nil {
			f.log.Warn("escalation event failed", "message_id", msgs[i].ID, "key", msgs[i].Key, "kind", evs[i].Kind, "contact_id", evs[i].ContactID, "err", queue.LogText(err))
		}
	}
	return errs
}

func validDate(s string) bool {
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

// Event applies one trigger.
func (f *Flow) Event(ctx context.Context, ev event.Escalation) error {
	m := f.cfg.Mappings.Current()
	if m == nil || m.Escalate() == nil {
		return nil // escalation is off; an answer still needs nothing
	}
	switch ev.Kind {
	case event.EscalationAnswer:
		if validDate(ev.Day) {
			if err := f.markDay(ctx, ev.ContactID, ev.Day, dayAnswered); err != nil {
				return err
			}
		}
		if len(ev.Symptoms) == 0 {
			return nil
		}
		return f.escalate(ctx, m, ev.ContactID, ev.Date, ReasonSymptoms, ev.Symptoms)
	case event.EscalationReply:
		return f.escalate(ctx, m, ev.ContactID, ev.Date, ReasonReply, nil)
	case event.EscalationMissed:
		return f.missed(ctx, m, ev)
	}
	return queue.Permanent(fmt.Errorf("unknown escalation kind %q", ev.Kind))
}

// dayState is one contact-day's escalation.
type dayState struct {
	State   string   `json:"state"` // creating, created, done
	TaskSID string   `json:"task_sid,omitempty"`
	Reason  string   `json:"reason"`
	Fields  []string `json:"fields,omitempty"`
	At      int64    `json:"at"` // unix time of the first trigger
}

const (
	stateCreating = "creating" // a create went out, or may have
	stateCreated  = "created"  // the task exists; the activity is not written yet
	stateDone     = "done"
)

// escalate opens the contact's task for date unless one is open already,
// then writes the activity.
func (f *Flow) escalate(ctx context.Context, m *mapping.Mapping, id, date, reason string, fields []string) error {
	unlock, err := f.lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.LockTTL*5/6)
	defer cancel()
	log := f.log.With("contact_id", id, "date", date)

	st, found, err := f.loadDay(ctx, id, date)
	if err != nil {
		return err
	}
	if found && st.State == stateDone {
		if st.Reason != reason {
			log.Info("escalation already open today; trigger recorded only", "reason", reason, "first_reason", st.Reason)
		}
		return nil
	}
	if !found {
		st = dayState{Reason: reason, Fields: fields, At: f.cfg.Now().Unix()}
	}
	object := contactObject(m)
	if st.State == stateCreating {
		// An earlier create may have worked: look before creating again.
		tasks, err := f.cfg.Tasks.FindOpenTasks(ctx, findExpr(id, date))
		if err != nil {
			return queue.Classify(fmt.Errorf("look for escalation task of %s: %w", id, err))
		}
		if len(tasks) > 0 {
			st.State, st.TaskSID = stateCreated, tasks[0].SID
			log.Info("escalation task of unknown outcome found; adopted", "task_sid", st.TaskSID)
			if err := f.saveDay(ctx, id, date, st); err != nil {
				return err
			}
		}
	}
	if st.State != stateCreated {
		attrs, err := f.attributes(ctx, m, object, id, date, st)
		if err != nil {
			return err
		}
		st.State = stateCreating
		if err := f.saveDay(ctx, id, date, st); err != nil {
			return err
		}
		task, err := f.cfg.Tasks.CreateTask(ctx, attrs, m.Escalate().Priority())
		if err != nil {
			// Left "creating": the retry asks TaskRouter first.
			return queue.Classify(fmt.Errorf("create escalation task for %s: %w", id, err))
		}
		st.State, st.TaskSID = stateCreated, task.SID
		if err := f.saveDay(context.WithoutCancel(ctx), id, date, st); err != nil {
			log.Error("escalation task created but not recorded", "task_sid", task.SID, "err", err)
			return err
		}
		log.Info("escalation task created", "task_sid", task.SID, "reason", st.Reason)
		f.metrics.escalations.WithLabelValues(st.Reason).Inc()
	}
	if err := f.activity(ctx, m, object, id, date, st); err != nil {
		return err
	}
	st.State = stateDone
	if err := f.saveDay(ctx, id, date, st); err != nil {
		return err
	}
	return f.logToday(ctx, id, date, st.Reason)
}

// contactObject is the monitored object (the reminders'), else record_to_task's.
func contactObject(m *mapping.Mapping) string {
	if r := m.Reminders(); r != nil {
		return r.Object()
	}
	if rt := m.RecordToTask(); rt != nil {
		return rt.Object()
	}
	return "Contact"
}

// findExpr finds the contact's escalation task of date, in TaskRouter's
// expression syntax (https://www.twilio.com/docs/taskrouter/expression-syntax:
// quoted constants, keys without hyphens, AND).
func findExpr(id, date string) string {
	return fmt.Sprintf(`type == %s AND crm.record_id == %s AND escalation_date == %s`,
		twilio.QuoteExpr(TaskType), twilio.QuoteExpr(id), twilio.QuoteExpr(date))
}

// attributes reads the contact with record_to_task's fields (never a
// protected one) and builds the task's attributes.
func (f *Flow) attributes(ctx context.Context, m *mapping.Mapping, object, id, date string, st dayState) (map[string]any, error) {
	attrs := map[string]any{}
	if rt := m.RecordToTask(); rt != nil && strings.EqualFold(rt.Object(), object) {
		var fields []string
		for _, fl := range rt.Fields() {
			if !m.IsProtected(fl) {
				fields = append(fields, fl)
			}
		}
		rec, err := f.cfg.CRM.Get(ctx, object, id, fields)
		if err != nil {
			return nil, queue.Classify(fmt.Errorf("read contact %s: %w", id, err))
		}
		mapped, _, err := rt.Apply(mapping.Record(m.Redact(mapping.Record(rec))))
		if err != nil {
			// A tracer must still hear of it: the task goes out with the
			// escalation's own attributes, and the log says which rule failed.
			f.log.Warn("record_to_task attributes left out of an escalation", "contact_id", id, "err", err)
		} else {
			attrs = mapped
		}
	}
	attrs["type"] = TaskType
	attrs["reason"] = st.Reason
	attrs["crm"] = map[string]any{"record_id": id, "object": object}
	attrs["escalation_date"] = date
	if len(st.Fields) > 0 {
		attrs["symptoms"] = st.Fields
	}
	return attrs, nil
}

// ActivityKey is the activity's external id: one per contact and day.
func ActivityKey(id, date string) string { return "escalation-" + id + "-" + date }

// activity upserts the Task that tells the record why it escalated. It
// holds field names and counts only, never what the contact wrote.
func (f *Flow) activity(ctx context.Context, m *mapping.Mapping, object, id, date string, st dayState) error {
	o := m.OutcomeToCRM()
	if o == nil {
		return nil
	}
	rec := salesforce.Record{
		"WhoId":        id,
		"Subject":      f.cfg.ActivitySubject + ": " + reasonText(m, st),
		"Description":  describe(m, st) + " Flex task " + st.TaskSID + ".",
		"Status":       "Completed",
		"Priority":     "High",
		"ActivityDate": date,
	}
	if !strings.EqualFold(object, "Contact") && !strings.EqualFold(object, "Lead") {
		delete(rec, "WhoId") // WhoId names people; other objects are WhatId
		rec["WhatId"] = id
	}
	res, err := f.cfg.CRM.Upsert(ctx, o.Object(), o.ExternalIDField(), ActivityKey(id, date), rec)
	if err != nil {
		return queue.Classify(fmt.Errorf("write escalation activity of %s: %w", id, err))
	}
	if err := res.Err(); err != nil {
		return queue.Classify(fmt.Errorf("write escalation activity of %s: %w", id, err))
	}
	return nil
}

func reasonText(m *mapping.Mapping, st dayState) string {
	switch st.Reason {
	case ReasonSymptoms:
		return "symptoms reported"
	case ReasonMissedDays:
		return "days without an answer"
	case ReasonReply:
		return "SMS reply says sick"
	}
	return st.Reason
}

func describe(m *mapping.Mapping, st dayState) string {
	switch st.Reason {
	case ReasonSymptoms:
		return "The symptom survey answered " + strings.Join(st.Fields, ", ") + " as listed in escalate.when."
	case ReasonMissedDays:
		n := 0
		if x := m.Escalate(); x != nil {
			n = x.MissedDays()
		}
		return fmt.Sprintf("%d consecutive monitoring days passed without an answer on any channel.", n)
	case ReasonReply:
		return "An SMS reply contained one of the escalate.keywords (the reply itself is its own activity)."
	}
	return ""
}

// answered reports whether the contact answered date's survey on any
// channel: the page's used mark, or the answer this flow recorded.
func (f *Flow) answered(ctx context.Context, id, date string) (bool, error) {
	if _, ok, err := f.cfg.Answers.Get(ctx, f.cfg.UsedKey(id, date)); err != nil || ok {
		return ok, err
	}
	v, err := f.dayMark(ctx, id, date)
	return v == dayAnswered, err
}
