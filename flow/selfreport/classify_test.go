package selfreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
)

// The rule the flow had before it used queue.Classify: a case without a
// number, and Twilio's 4xx other than 429, are final; everything else is
// retried.
func TestClassifyMatrix(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"400", &twilio.APIError{Status: 400, Code: 21211}, true},
		{"401", &twilio.APIError{Status: 401, Code: 20003}, true},
		{"403", &twilio.APIError{Status: 403}, true},
		{"404", &twilio.APIError{Status: 404, Code: 20404}, true},
		{"429", &twilio.APIError{Status: 429, Code: 20429}, false},
		{"499", &twilio.APIError{Status: 499}, true},
		{"503", &twilio.APIError{Status: 503, Code: 20003}, false},
		{"wrapped 400", fmt.Errorf("client: %w", &twilio.APIError{Status: 400}), true},
		{"no answer, not sent", &twilio.TransportError{Op: "send_message", Err: errors.New("dial")}, false},
		{"plain", errors.New("boom"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustFlow(t)
			e.msgs.fail = func() error { return tc.err }
			err := e.handle(t, recordMsg(0, "Requested"))[0]
			if err == nil || queue.IsPermanent(err) != tc.permanent || !errors.Is(err, tc.err) {
				t.Fatalf("err %v, permanent want %v", err, tc.permanent)
			}
		})
	}

	t.Run("no number", func(t *testing.T) {
		e := mustFlow(t)
		fields := map[string]any{"Id": caseID, "FirstName": "Marisol", "MobilePhone": "", "Elicitation_Status__c": "Requested"}
		b, _ := json.Marshal(event.Record{NotificationID: "04lZ", Object: "Contact", RecordID: caseID, Fields: fields})
		err := e.handle(t, queue.Message{ID: "z", Payload: b})[0]
		var nr *NotReachableError
		if !errors.As(err, &nr) || !queue.IsPermanent(err) {
			t.Fatalf("err %v: want a permanent NotReachableError", err)
		}
		if len(e.msgs.sent) != 0 {
			t.Fatalf("%d texts", len(e.msgs.sent))
		}
	})
	// A text whose outcome is unknown is no failure at all (never sent twice).
	for name, err := range map[string]error{
		"no answer, sent": &twilio.TransportError{Op: "send_message", Sent: true, Err: context.DeadlineExceeded},
		"500":             &twilio.APIError{Status: 500},
		"502":             &twilio.APIError{Status: 502},
	} {
		t.Run(name, func(t *testing.T) {
			e := mustFlow(t)
			e.msgs.fail = func() error { return err }
			if got := e.handle(t, recordMsg(0, "Requested"))[0]; got != nil {
				t.Fatalf("err %v", got)
			}
		})
	}
}
