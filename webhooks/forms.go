package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"net/url"
	"time"
)

// The functions here turn a Twilio form into the queue item the webhook
// records. The webhook handlers and flow/reconcile (which rebuilds the forms
// from Twilio's Events and Messages lists) both call them, so an event has
// one shape and one dedupe key whichever way it came.

// Task events that start a writeback.
var writebackEvents = map[string]bool{"task.completed": true, "task.canceled": true, "task.wrapup": true}

// WritebackEventTypes lists the TaskRouter event types that start a writeback.
func WritebackEventTypes() []string {
	return []string{"task.completed", "task.canceled", "task.wrapup"}
}

// TaskRouterItem turns a TaskRouter event form into the writeback queue's
// item, keyed by its Sid (EventSid): never by the unsigned
// I-Twilio-Idempotency-Token. ok is false for events writeback ignores; an
// error means the form is malformed.
func TaskRouterItem(form url.Values) (item queue.Item, ok bool, err error) {
	if !writebackEvents[form.Get("EventType")] {
		return queue.Item{}, false, nil
	}
	ev, err := TaskEvent(form)
	if err != nil {
		return queue.Item{}, false, nil
	}
	crm, _ := ev.Attributes["crm"].(map[string]any)
	if id, _ := crm["record_id"].(string); id == "" {
		return queue.Item{}, false, nil
	}
	if ev.TaskSID == "" {
		return queue.Item{}, false, errors.New("TaskSid is missing")
	}
	if ev.EventSID == "" {
		return queue.Item{}, false, errors.New("Sid is missing")
	}
	if !ev.Writes() {
		return queue.Item{}, false, nil // a canceled task nobody worked
	}
	if id, err := salesforce.ID18(crm["record_id"].(string)); err == nil {
		crm["record_id"] = id // one record, one key (WhoId, survey keys)
	}
	return queue.Item{Key: ev.EventSID, Payload: mustJSON(event.Writeback{Task: &ev})}, true, nil
}

// TaskEvent reads a TaskRouter event callback's form fields into the task
// event writeback maps; the admin preview calls it too. The error says
// TaskAttributes is not a JSON object; the task is filled all the same,
// without attributes.
func TaskEvent(form url.Values) (event.Task, error) {
	var attrs map[string]any
	err := json.Unmarshal([]byte(form.Get("TaskAttributes")), &attrs)
	if err != nil {
		attrs = nil
		err = fmt.Errorf("TaskAttributes: %w", err)
	}
	return event.Task{
		EventSID:         firstNonEmpty(form.Get("EventSid"), form.Get("Sid")),
		EventType:        form.Get("EventType"),
		TaskSID:          form.Get("TaskSid"),
		TaskAge:          atoi(form.Get("TaskAge")),
		Priority:         atoi(form.Get("TaskPriority")),
		AssignmentStatus: form.Get("TaskAssignmentStatus"),
		Reason:           firstNonEmpty(form.Get("TaskCompletedReason"), form.Get("TaskCanceledReason")),
		QueueName:        form.Get("TaskQueueName"),
		Channel:          form.Get("TaskChannelUniqueName"),
		WorkerSID:        form.Get("WorkerSid"),
		WorkerName:       form.Get("WorkerName"),
		Attributes:       attrs,
		Timestamp:        unixTime(form.Get("TimestampMs"), form.Get("Timestamp")),
	}, err
}

// SMSItem turns an inbound SMS form into the queue it goes to and its item,
// keyed by MessageSid: STOP and START to monitoring, other replies to
// writeback. queue is "" for HELP, which Twilio answers itself.
// receivedAt is when the bridge learnt of it (the webhook's clock, or the
// Message resource's date_sent for the reconciler); sentAt is Twilio's own
// date_sent when known (zero from the webhook), which orders STOP and START.
func SMSItem(form url.Values, receivedAt, sentAt time.Time) (dest string, item queue.Item, err error) {
	msg := event.SMS{
		MessageSID: firstNonEmpty(form.Get("MessageSid"), form.Get("SmsSid")),
		From:       form.Get("From"),
		To:         form.Get("To"),
		Body:       form.Get("Body"),
		ReceivedAt: receivedAt.UTC(),
	}
	if !sentAt.IsZero() {
		msg.SentAt = sentAt.UTC()
	}
	if msg.MessageSID == "" || msg.From == "" {
		return "", queue.Item{}, errors.New("MessageSid and From are required")
	}
	msg.OptOutType = OptOutType(msg.Body, form.Get("OptOutType"))
	switch msg.OptOutType {
	case "STOP", "START":
		return event.QueueMonitoring, queue.Item{Key: msg.MessageSID, Payload: mustJSON(event.Monitoring{SMS: &msg})}, nil
	case "HELP":
		return "", queue.Item{}, nil
	}
	return event.QueueWriteback, queue.Item{Key: msg.MessageSID, Payload: mustJSON(event.Writeback{Reply: &msg})}, nil
}

// Delivery error codes of a message status callback the bridge acts on.
const (
	CodeUnsubscribed = 21610 // the number replied STOP
	CodeUnreachable  = 30003
	CodeUnknown      = 30005
	CodeLandline     = 30006
)

// StatusItems turns a message status callback into what it records:
// failed/undelivered with 21610 opts the contact out as a STOP does
// (monitoring queue); 30003, 30005 and 30006 become one activity per message
// (writeback queue). Other statuses and codes record nothing.
func StatusItems(form url.Values, at time.Time) (map[string]queue.Item, error) {
	sid := firstNonEmpty(form.Get("MessageSid"), form.Get("SmsSid"))
	status := firstNonEmpty(form.Get("MessageStatus"), form.Get("SmsStatus"))
	to := form.Get("To")
	if sid == "" || status == "" {
		return nil, errors.New("MessageSid and MessageStatus are required")
	}
	if status != "failed" && status != "undelivered" {
		return nil, nil
	}
	code := int(atoi(form.Get("ErrorCode")))
	switch code {
	case CodeUnsubscribed, CodeUnreachable, CodeUnknown, CodeLandline:
	default:
		return nil, nil
	}
	if to == "" {
		return nil, errors.New("To is required")
	}
	if code == CodeUnsubscribed {
		// The contact is the recipient; monitoring's STOP path reads From.
		stop := event.SMS{MessageSID: sid, From: to, To: form.Get("From"), OptOutType: "STOP", ReceivedAt: at.UTC()}
		return map[string]queue.Item{
			event.QueueMonitoring: {Key: sid + ":optout", Payload: mustJSON(event.Monitoring{SMS: &stop})},
		}, nil
	}
	// The activity per message, and reminders.fallback: the contact moves
	// to another channel (monitoring queue).
	d := event.Delivery{MessageSID: sid, To: to, Status: status, ErrorCode: code, At: at.UTC()}
	return map[string]queue.Item{
		event.QueueWriteback:  {Key: sid + ":delivery", Payload: mustJSON(event.Writeback{Delivery: &d})},
		event.QueueMonitoring: {Key: sid + ":fallback", Payload: mustJSON(event.Monitoring{Delivery: &d})},
	}, nil
}
