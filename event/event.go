// Package event defines what travels through the durable queue: the
// webhooks produce these values and the flows consume them. They are encoded
// as JSON in Redis Streams, so fields are only ever added, never renamed.
package event

import (
	"strings"
	"time"
)

// Queue names; each flow consumes one.
const (
	QueueRecords    = "records"    // flow/recordsync
	QueueMonitoring = "monitoring" // flow/monitoring
	QueueWriteback  = "writeback"  // flow/writeback
	QueueSelfReport = "selfreport" // flow/selfreport: cases asked for their contacts
	QueueEscalation = "escalation" // flow/escalation
)

// Record is one Salesforce Outbound Message notification. Protected fields
// are stripped before it is queued.
type Record struct {
	NotificationID string         `json:"notification_id"`
	Object         string         `json:"object"`
	RecordID       string         `json:"record_id"`
	Fields         map[string]any `json:"fields"`
	ReceivedAt     time.Time      `json:"received_at"`
	// Source is "outbound" for webhooks and "backfill" for the backfill command.
	Source string `json:"source,omitempty"`
}

// Task is a TaskRouter event callback for a task that carries crm.record_id.
type Task struct {
	EventSID         string         `json:"event_sid"`
	EventType        string         `json:"event_type"`
	TaskSID          string         `json:"task_sid"`
	TaskAge          int64          `json:"task_age"`
	Priority         int64          `json:"priority"`
	AssignmentStatus string         `json:"assignment_status"`
	Reason           string         `json:"reason,omitempty"`
	QueueName        string         `json:"queue_name,omitempty"`
	Channel          string         `json:"channel,omitempty"`
	WorkerSID        string         `json:"worker_sid,omitempty"`
	WorkerName       string         `json:"worker_name,omitempty"`
	Attributes       map[string]any `json:"attributes"`
	Timestamp        time.Time      `json:"timestamp"`
}

// Writes says whether the event becomes a CRM activity. task.completed and
// task.wrapup do. task.canceled does only when the task was worked (its
// attributes carry an outcome or a call_sid): TaskRouter also cancels a task
// whose timeout ran out ("Task TTL Exceeded") and one the bridge canceled
// itself, and such a task was never a call.
func (t *Task) Writes() bool {
	switch t.EventType {
	case "task.completed", "task.wrapup":
		return true
	case "task.canceled":
		conv, _ := t.Attributes["conversations"].(map[string]any)
		return nonEmpty(conv["outcome"]) || nonEmpty(t.Attributes["call_sid"])
	}
	return false
}

func nonEmpty(v any) bool {
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) != ""
}

// SMS is an inbound message from a contact.
type SMS struct {
	MessageSID string    `json:"message_sid"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Body       string    `json:"body"`
	OptOutType string    `json:"opt_out_type,omitempty"` // STOP, START, HELP (Advanced Opt-Out)
	ReceivedAt time.Time `json:"received_at"`
	// SentAt is when Twilio received the message (its DateSent), when
	// known (the reconciler reads it); STOP and START are applied in this
	// order, else in ReceivedAt's.
	SentAt time.Time `json:"sent_at,omitzero"`
}

// OrderedAt is the time STOP and START are ordered by: Twilio's, when known.
func (s SMS) OrderedAt() time.Time {
	if !s.SentAt.IsZero() {
		return s.SentAt
	}
	return s.ReceivedAt
}

// Monitoring wraps what the monitoring queue carries: a record change or an SMS.
type Monitoring struct {
	Record *Record `json:"record,omitempty"`
	SMS    *SMS    `json:"sms,omitempty"`
	// Delivery is a message the number could not receive (30003/30005/
	// 30006): the contact moves to reminders.fallback.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// Writeback wraps what the writeback queue carries.
type Writeback struct {
	Task   *Task   `json:"task,omitempty"`
	Reply  *SMS    `json:"reply,omitempty"`
	Survey *Survey `json:"survey,omitempty"`
	// Delivery is a message the contact could not receive (status callback).
	Delivery *Delivery `json:"delivery,omitempty"`
	Report   *Report   `json:"report,omitempty"`
}

// Delivery is a failed message from a status callback: Twilio error 30003
// (unreachable), 30005 (unknown number) or 30006 (landline).
type Delivery struct {
	MessageSID string    `json:"message_sid"`
	To         string    `json:"to"`
	Status     string    `json:"status"` // failed or undelivered
	ErrorCode  int       `json:"error_code"`
	At         time.Time `json:"at"`
}

// Survey is a submitted symptom survey.
type Survey struct {
	ContactID   string            `json:"contact_id"`
	Date        string            `json:"date"` // YYYY-MM-DD, the reminder's day
	Language    string            `json:"language"`
	Answers     map[string]string `json:"answers"`
	SubmittedAt time.Time         `json:"submitted_at"`
}

// Report is a case's submitted list of close contacts (the self-report
// page). Each contact becomes one upsert of case_contacts.object.
type Report struct {
	CaseID      string            `json:"case_id"`
	LinkID      string            `json:"link_id"` // the link's jti: one submission per link
	Language    string            `json:"language"`
	Contacts    []ReportedContact `json:"contacts"`
	SubmittedAt time.Time         `json:"submitted_at"`
}

// ReportedContact is one validated row: Phone is E.164 and Email lower-cased
// (one of them is set), LastContact is YYYY-MM-DD.
type ReportedContact struct {
	FirstName   string `json:"first_name"`
	Phone       string `json:"phone,omitempty"`
	Email       string `json:"email,omitempty"`
	LastContact string `json:"last_contact"`
	Household   bool   `json:"household"`
}

// Escalation kinds.
const (
	EscalationAnswer = "answer" // a survey was written: the day is answered
	EscalationReply  = "reply"  // an SMS reply held an escalate keyword
	EscalationMissed = "missed" // a day's send time plus grace has passed
)

// Escalation is what the escalation queue carries: ids, dates and field
// names only, never an answer's text, a number or a name.
type Escalation struct {
	Kind      string `json:"kind"`
	ContactID string `json:"contact_id"`
	// Day is the monitoring day concerned (YYYY-MM-DD): the survey's day,
	// or the missed day.
	Day string `json:"day,omitempty"`
	// Date is the calendar day the trigger happened, in BRIDGE_TIMEZONE:
	// at most one escalation task per contact and Date.
	Date string `json:"date"`
	// Symptoms are the survey fields whose answers escalate.
	Symptoms []string `json:"symptoms,omitempty"`
	// MessageSID is the reply that escalated.
	MessageSID string `json:"message_sid,omitempty"`
}
