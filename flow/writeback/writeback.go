// Package writeback lands what happens in Flex in Salesforce exactly once:
// call outcomes and follow-ups as Tasks, SMS replies as activities and survey
// answers as Symptom_Survey__c rows. Every write is an upsert by an external
// id derived from the source event, batched into sObject Collections, so
// replays, restarts and a flushed Redis never duplicate a row.
package writeback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// CRM is the part of Salesforce the flow writes through.
type CRM interface {
	UpsertCollection(ctx context.Context, object, extField string, recs []salesforce.Record) ([]salesforce.RowResult, error)
}

// Contacts finds the contact a phone number belongs to (*contacts.Registry
// remembers the numbers monitoring texts).
type Contacts interface {
	ContactByPhone(ctx context.Context, phone string) (contactID string, found bool, err error)
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Config wires the flow.
type Config struct {
	CRM      CRM
	Contacts Contacts
	Mappings Mappings
	Logger   *slog.Logger
	Location *time.Location // dates of SMS replies; default America/New_York
	// ReplySubject is the Subject of an SMS reply activity.
	ReplySubject string // default "SMS reply"
	// Escalations, when set, hears of surveys and sick replies (escalate.go).
	Escalations Escalations
}

// Flow is the writeback flow.
type Flow struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.CRM == nil || cfg.Mappings == nil || cfg.Contacts == nil {
		return nil, errors.New("writeback: CRM, Contacts and Mappings are required")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("writeback: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.ReplySubject == "" {
		cfg.ReplySubject = "SMS reply"
	}
	f := &Flow{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// row is one record to upsert and the messages whose success depends on it.
type row struct {
	object, extField, extValue string
	fields                     salesforce.Record
	msgs                       []int
	// dependent rows (follow-ups) are written only once their event's main
	// row succeeded, so a rejected event leaves nothing half-written.
	dependent bool
	// label names the row in errors when extValue is personal data (a
	// self-reported contact's key holds their phone or email).
	label string
}

func (r *row) name() string {
	if r.label != "" {
		return r.label
	}
	return r.extValue
}

type target struct {
	object, extField string
	dependent        bool
}

// Handle is the queue's batch handler: it maps every message to rows, upserts
// them in as few Collections calls as the 200-row limit allows, and reports
// per message.
func (f *Flow) Handle(ctx context.Context, msgs []queue.Message) []error {
	errs := make([]error, len(msgs))
	m := f.cfg.Mappings.Current()
	byTarget := map[target][]*row{}
	index := map[string]*row{} // object/extField/extValue → row, so a batch writes each row once
	var order []target

	add := func(i int, r row) {
		id := r.object + "/" + r.extField + "/" + r.extValue
		if prev, ok := index[id]; ok {
			// A later event for the same row wins (e.g. task.completed after task.wrapup).
			prev.fields = r.fields
			prev.msgs = append(prev.msgs, i)
			return
		}
		r.msgs = []int{i}
		t := target{r.object, r.extField, r.dependent}
		if _, ok := byTarget[t]; !ok {
			order = append(order, t)
		}
		p := &r
		byTarget[t] = append(byTarget[t], p)
		index[id] = p
	}

	for i, msg := range msgs {
		rows, err := f.rowsFor(ctx, m, msg)
		if err != nil {
			errs[i] = err
			continue
		}
		for _, r := range rows {
			add(i, r)
		}
	}

	for _, dependent := range []bool{false, true} {
		for _, t := range order {
			if t.dependent != dependent {
				continue
			}
			var rows []*row
			for _, r := range byTarget[t] {
				if !dependent || allOK(errs, r.msgs) {
					rows = append(rows, r)
				}
			}
			f.upsert(ctx, t, rows, errs)
		}
	}
	f.escalations(ctx, m, msgs, errs)
	for i, err := range errs {
		if err != nil {
			f.log.Warn("writeback failed", "message_id", msgs[i].ID, "key", msgs[i].Key, "err", err)
		}
	}
	return errs
}

// upsert writes rows in Collections calls and records per-message failures.
func (f *Flow) upsert(ctx context.Context, t target, rows []*row, errs []error) {
	if len(rows) == 0 {
		return
	}
	recs := make([]salesforce.Record, len(rows))
	for j, r := range rows {
		rec := salesforce.Record{}
		for k, v := range r.fields {
			rec[k] = v
		}
		rec[r.extField] = r.extValue
		recs[j] = rec
	}
	results, err := f.cfg.CRM.UpsertCollection(ctx, t.object, t.extField, recs)
	if err != nil && wholeRequestRefusal(err) && len(rows) > 1 {
		// sObject Collections fails the whole request (400 INVALID_FIELD,
		// JSON_PARSER_ERROR) for one row's unknown field or wrongly typed
		// value. An unknown field it names fails every row that carries
		// it: those go at once, the others are sent again.
		if bad, good := partitionByFields(rows, err); len(bad) > 0 && len(good) > 0 {
			perm := classifyCall(fmt.Errorf("upsert %s rows: %w", t.object, err))
			for _, r := range bad {
				fail(errs, r.msgs, perm)
			}
			f.upsert(ctx, t, good, errs)
			return
		}
		// Otherwise split until the bad row is alone: it fails on its
		// own, and the others are written in this same pass.
		half := len(rows) / 2
		f.upsert(ctx, t, rows[:half], errs)
		f.upsert(ctx, t, rows[half:], errs)
		return
	}
	if err != nil {
		err = classifyCall(fmt.Errorf("upsert %d %s rows: %w", len(recs), t.object, err))
		for _, r := range rows {
			fail(errs, r.msgs, err)
		}
		return
	}
	for j, r := range rows {
		if j >= len(results) {
			fail(errs, r.msgs, fmt.Errorf("upsert %s %s: no result for row", t.object, r.name()))
			continue
		}
		if res := results[j]; !res.Success {
			fail(errs, r.msgs, rowError(t.object, r.name(), res.Errors))
		}
	}
}

func allOK(errs []error, idx []int) bool {
	for _, i := range idx {
		if errs[i] != nil {
			return false
		}
	}
	return true
}

// fail records err for each message unless it already failed permanently.
func fail(errs []error, idx []int, err error) {
	for _, i := range idx {
		if errs[i] == nil || !queue.IsPermanent(errs[i]) {
			errs[i] = err
		}
	}
}

// rowsFor maps one queued event to the rows it writes.
func (f *Flow) rowsFor(ctx context.Context, m *mapping.Mapping, msg queue.Message) ([]row, error) {
	var ev event.Writeback
	if err := json.Unmarshal(msg.Payload, &ev); err != nil {
		return nil, queue.Permanent(fmt.Errorf("decode writeback event: %w", err))
	}
	switch {
	case ev.Task != nil:
		return f.outcomeRows(m, ev.Task)
	case ev.Reply != nil:
		return f.replyRows(ctx, m, ev.Reply)
	case ev.Survey != nil:
		return f.surveyRows(m, ev.Survey)
	case ev.Delivery != nil:
		return f.deliveryRows(ctx, m, ev.Delivery)
	case ev.Report != nil:
		return f.reportRows(m, ev.Report)
	}
	return nil, queue.Permanent(errors.New("empty writeback event"))
}

func (f *Flow) outcomeRows(m *mapping.Mapping, t *event.Task) ([]row, error) {
	o := m.OutcomeToCRM()
	if o == nil || !t.Writes() {
		// However it came (webhook or reconciler), an unworked cancel writes nothing.
		return nil, nil
	}
	fields, followUp, err := o.Apply(TaskTree(t))
	if err != nil {
		return nil, queue.Permanent(fmt.Errorf("map outcome of task %s: %w", t.TaskSID, err))
	}
	rows := []row{{object: o.Object(), extField: o.ExternalIDField(), extValue: t.TaskSID, fields: salesforce.Record(fields)}}
	if followUp != nil {
		rows = append(rows, row{object: o.Object(), extField: o.ExternalIDField(), extValue: followUp.ExternalID,
			fields: salesforce.Record(followUp.Record(o.ExternalIDField())), dependent: true})
	}
	return rows, nil
}

// TaskTree is the event tree `path` rules read: task.*, worker.*, event.*.
func TaskTree(t *event.Task) map[string]any {
	return map[string]any{
		"task": map[string]any{
			"sid":               t.TaskSID,
			"age":               t.TaskAge,
			"priority":          t.Priority,
			"assignment_status": t.AssignmentStatus,
			"reason":            t.Reason,
			"queue_name":        t.QueueName,
			"channel":           t.Channel,
			"attributes":        t.Attributes,
		},
		"worker": map[string]any{"sid": t.WorkerSID, "name": t.WorkerName},
		"event":  map[string]any{"sid": t.EventSID, "type": t.EventType, "timestamp": t.Timestamp.Format(time.RFC3339)},
	}
}

func (f *Flow) replyRows(ctx context.Context, m *mapping.Mapping, s *event.SMS) ([]row, error) {
	o := m.OutcomeToCRM()
	if o == nil {
		return nil, nil
	}
	contactID, found, err := f.cfg.Contacts.ContactByPhone(ctx, s.From)
	if err != nil {
		return nil, fmt.Errorf("find contact of reply %s: %w", s.MessageSID, err)
	}
	fields := salesforce.Record{
		"WhoId":        contactID,
		"Subject":      f.cfg.ReplySubject,
		"Description":  s.Body,
		"Status":       "Completed",
		"ActivityDate": s.ReceivedAt.In(f.cfg.Location).Format("2006-01-02"),
	}
	if !found {
		// Not a number the bridge texted: still an activity, unlinked, with
		// the sender so a person can match it in the CRM. Nothing is lost.
		delete(fields, "WhoId")
		fields["Subject"] = f.cfg.ReplySubject + " (sender not matched)"
		fields["Description"] = "From " + s.From + ": " + s.Body
		f.log.Info("reply from a number the bridge never texted; written unlinked", "message_sid", s.MessageSID)
	}
	// The activity's external id is the message's own sid.
	return []row{{object: o.Object(), extField: o.ExternalIDField(), extValue: s.MessageSID, fields: fields}}, nil
}

// Why a message could not be delivered, by Twilio error code.
var deliveryReasons = map[int]string{
	30003: "the phone is unreachable or switched off",
	30005: "the number is unknown or no longer in service",
	30006: "the number is a landline or cannot receive texts",
}

// deliveryRows writes one activity on the contact's record per failed
// message, upserted by "<MessageSid>-delivery" so a repeated callback
// writes it once.
func (f *Flow) deliveryRows(ctx context.Context, m *mapping.Mapping, d *event.Delivery) ([]row, error) {
	o := m.OutcomeToCRM()
	if o == nil {
		return nil, nil
	}
	// A WhatsApp message's recipient is "whatsapp:+E164"; the index holds the number.
	contactID, found, err := f.cfg.Contacts.ContactByPhone(ctx, strings.TrimPrefix(d.To, "whatsapp:"))
	if err != nil {
		return nil, fmt.Errorf("find contact of message %s: %w", d.MessageSID, err)
	}
	if !found {
		// Only numbers the bridge texted have contacts; nothing to write on.
		f.log.Info("delivery failure for a number with no contact; nothing written", "message_sid", d.MessageSID, "error_code", d.ErrorCode)
		return nil, nil
	}
	reason := deliveryReasons[d.ErrorCode]
	if reason == "" {
		reason = "delivery failed"
	}
	fields := salesforce.Record{
		"WhoId":        contactID,
		"Subject":      fmt.Sprintf("SMS not delivered (Twilio %d)", d.ErrorCode),
		"Description":  fmt.Sprintf("Message %s was %s: %s.", d.MessageSID, d.Status, reason),
		"Status":       "Completed",
		"ActivityDate": d.At.In(f.cfg.Location).Format("2006-01-02"),
	}
	return []row{{object: o.Object(), extField: o.ExternalIDField(), extValue: d.MessageSID + "-delivery", fields: fields}}, nil
}

// SurveyTree is the tree survey_to_crm rules read: contact.*, survey.*.
func SurveyTree(s *event.Survey) map[string]any {
	return map[string]any{
		"contact": map[string]any{"id": s.ContactID, "language": s.Language},
		"survey":  map[string]any{"date": s.Date, "submitted_at": s.SubmittedAt.Format(time.RFC3339)},
	}
}

func (f *Flow) surveyRows(m *mapping.Mapping, s *event.Survey) ([]row, error) {
	sv := m.SurveyToCRM()
	if sv == nil {
		return nil, queue.Permanent(errors.New("no survey_to_crm mapping"))
	}
	fields, err := sv.Apply(SurveyTree(s), s.Answers)
	if err != nil {
		return nil, queue.Permanent(fmt.Errorf("map survey of %s: %w", s.ContactID, err))
	}
	return []row{{object: sv.Object(), extField: sv.ExternalIDField(), extValue: mapping.SurveyKey(s.ContactID, s.Date), fields: salesforce.Record(fields)}}, nil
}

// reportRows upserts each self-reported contact by CaseContactKey (the case
// and the person's phone or email), so a replay or the same person named
// twice is one record.
func (f *Flow) reportRows(m *mapping.Mapping, r *event.Report) ([]row, error) {
	cc := m.CaseContacts()
	if cc == nil {
		return nil, queue.Permanent(errors.New("no case_contacts mapping"))
	}
	rows := make([]row, 0, len(r.Contacts))
	for i, c := range r.Contacts {
		reported := map[string]any{"first_name": c.FirstName, "household": c.Household}
		for k, v := range map[string]string{"phone": c.Phone, "email": c.Email, "last_contact": c.LastContact} {
			if v != "" {
				reported[k] = v
			}
		}
		key := mapping.CaseContactKey(r.CaseID, c.Phone, c.Email)
		fields, err := cc.Apply(map[string]any{"reported": reported, "case": map[string]any{"id": r.CaseID}}, key)
		if err != nil {
			return nil, queue.Permanent(fmt.Errorf("map contact %d reported by case %s: %w", i, r.CaseID, err))
		}
		rows = append(rows, row{object: cc.Object(), extField: cc.ExternalIDField(), extValue: key,
			fields: salesforce.Record(fields), label: fmt.Sprintf("contact %d reported by case %s", i, r.CaseID)})
	}
	return rows, nil
}

// Row error codes that no retry can fix.
var permanentCodes = map[string]bool{
	"INVALID_FIELD": true, "REQUIRED_FIELD_MISSING": true, "MALFORMED_ID": true,
	"INVALID_FIELD_FOR_INSERT_UPDATE": true, "INVALID_TYPE": true, "INVALID_CROSS_REFERENCE_KEY": true,
	"FIELD_CUSTOM_VALIDATION_EXCEPTION": true, "STRING_TOO_LONG": true, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": true,
	"DUPLICATE_EXTERNAL_ID": true, "DUPLICATE_VALUE": true, "NOT_FOUND": true, "ENTITY_IS_DELETED": true,
	"INSUFFICIENT_ACCESS_OR_READONLY": true, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": true,
	"JSON_PARSER_ERROR": true,
}

// rowError keeps Salesforce's code and field names; its message can quote
// values, so only the code and fields travel into logs and dead letters.
func rowError(object, extValue string, errs []salesforce.RowError) error {
	if len(errs) == 0 {
		return fmt.Errorf("upsert %s %s: failed without an error", object, extValue)
	}
	var codes []string
	permanent := false
	for _, e := range errs {
		c := e.StatusCode
		if len(e.Fields) > 0 {
			c += " (" + strings.Join(e.Fields, ", ") + ")"
		}
		codes = append(codes, c)
		permanent = permanent || permanentCodes[e.StatusCode]
	}
	err := fmt.Errorf("upsert %s %s: %s", object, extValue, strings.Join(codes, "; "))
	if permanent {
		return queue.Permanent(err)
	}
	return err
}

// partitionByFields splits rows by whether they carry a field an
// INVALID_FIELD refusal names (Salesforce field names ignore case).
func partitionByFields(rows []*row, err error) (bad, good []*row) {
	var apiErr *salesforce.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "INVALID_FIELD" || len(apiErr.Fields) == 0 {
		return nil, rows
	}
	for _, r := range rows {
		carries := false
		for k := range r.fields {
			for _, f := range apiErr.Fields {
				carries = carries || strings.EqualFold(k, f)
			}
		}
		if carries {
			bad = append(bad, r)
		} else {
			good = append(good, r)
		}
	}
	return bad, good
}

// wholeRequestRefusal is a Collections call Salesforce refused as a whole
// because of what some row carries (a field it does not know, a value of the
// wrong type), not because of the call itself.
func wholeRequestRefusal(err error) bool {
	var apiErr *salesforce.APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest &&
		(apiErr.Code == "INVALID_FIELD" || apiErr.Code == "JSON_PARSER_ERROR")
}

// refusal is a whole Collections call that failed. Writeback gives up on
// its rows only for the codes in permanentCodes, whatever the status: a
// narrower rule than salesforce.APIError.Permanent (which also gives up on
// other 4xx, such as a proxy's 413 or an org's API_DISABLED_FOR_ORG), so
// the messages wait in the queue for an admin to fix the org.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// Permanent is read by queue.Classify before the connector's own rule.
func (r *refusal) Permanent() bool {
	var apiErr *salesforce.APIError
	return errors.As(r.err, &apiErr) && permanentCodes[apiErr.Code]
}

// classifyCall marks whole-call failures that no retry can fix as permanent.
func classifyCall(err error) error { return queue.Classify(&refusal{err: err}) }
