package world

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
)

// Paths the load posts to.
const (
	PathTaskRouter = "/webhooks/twilio/taskrouter"
	PathOutbound   = "/webhooks/salesforce/outbound"
	// OutboundPath is PathOutbound with BRIDGE_SF_OUTBOUND_TOKEN, as the
	// Outbound Message's endpoint URL carries it.
	OutboundPath = PathOutbound + "?token=" + OutboundToken
	PathClick    = "/v1/click-to-call"
)

// TaskSID is the n-th task sid of a run; EventSID its completion event.
func TaskSID(n int) string  { return fmt.Sprintf("WT%032x", n) }
func EventSID(n int) string { return fmt.Sprintf("EV%032x", n) }

// OutcomeForm is a task.completed TaskRouter event (the shared sample's
// shape) for task n on record recordID. followUp adds a follow-up date,
// which makes a second row.
func OutcomeForm(n int, recordID string, followUp bool) url.Values {
	attrs := map[string]any{
		"direction": "outbound", "to": "+12125550123", "from": CallerID, "language": "es",
		"call_sid":      fmt.Sprintf("CA%032x", n),
		"crm":           map[string]any{"record_id": recordID, "object": "Contact"},
		"conversations": map[string]any{"outcome": "Reached - agreed to quarantine"},
	}
	if followUp {
		attrs["follow_up_date"] = "2020-06-04"
	}
	raw, _ := json.Marshal(attrs)
	now := time.Now()
	return url.Values{
		"AccountSid": {AccountSID}, "WorkspaceSid": {"WS7a1f6a7bca0d4e0d8bd2e1c0a2f3b4c5"},
		"WorkspaceName": {"Contact Tracing"}, "EventType": {"task.completed"},
		"EventDescription": {"Task " + TaskSID(n) + " completed"}, "ResourceType": {"task"},
		"ResourceSid": {TaskSID(n)}, "Sid": {EventSID(n)}, "TaskSid": {TaskSID(n)},
		"Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "TimestampMs": {strconv.FormatInt(now.UnixMilli(), 10)},
		"TaskAge": {"412"}, "TaskPriority": {"2"}, "TaskAssignmentStatus": {"completed"},
		"TaskCompletedReason": {"Call ended"}, "TaskChannelUniqueName": {"voice"},
		"TaskQueueSid": {"WQ0123456789abcdef0123456789abcdef"}, "TaskQueueName": {"Spanish Outreach"},
		"WorkflowSid": {"WW0123456789abcdef0123456789abcdef"}, "WorkflowName": {"Outreach"},
		"WorkerSid": {"WK0123456789abcdef0123456789abcdef"}, "WorkerName": {"tracer_0142"},
		"TaskAttributes": {string(raw)},
	}
}

// SignedOutcome is OutcomeForm encoded, with its X-Twilio-Signature.
func SignedOutcome(authToken string, n int, recordID string, followUp bool) (body, signature string) {
	form := OutcomeForm(n, recordID, followUp)
	return form.Encode(), twilio.Sign(authToken, PublicURL+PathTaskRouter, form)
}

// Contact is record n as a Needs Outreach notification: it opens one task.
func Contact(notification, record int) Notification {
	return Notification{ID: NotificationID(notification), Fields: map[string]*string{
		"Id": S(ContactID(record)), "FirstName": S("Morgan"), "MobilePhone": S(fmt.Sprintf("(917) 555-%04d", record%10000)),
		"Outreach_Status__c": S("Needs Outreach"), "Case_Number__c": S("NYC-2020-000999"),
		"Preferred_Language__c": S("English"), "Priority__c": N(1), "Index_Case_Name__c": S("Jordan Example"),
	}}
}

// ContactsMessage renders records first..first+n-1 as one SOAP message whose
// notification ids equal the record numbers (a re-delivery repeats them).
func ContactsMessage(first, n int) string {
	notes := make([]Notification, n)
	for i := range notes {
		notes[i] = Contact(first+i, first+i)
	}
	return OutboundMessage(OrgID, notes...)
}
