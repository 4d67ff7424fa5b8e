package recordsync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/queue"
)

// The rule record sync had before it used queue.Classify: Twilio's 4xx
// other than 429 are final; everything else is retried. Every call site
// (create, update, cancel, find) classifies the same way.
func TestClassifyMatrix(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"400", &twilio.APIError{Status: 400, Code: 20001}, true},
		{"401", &twilio.APIError{Status: 401, Code: 20003}, true},
		{"403", &twilio.APIError{Status: 403, Code: 20403}, true},
		{"404", &twilio.APIError{Status: 404, Code: 20404}, true},
		{"409", &twilio.APIError{Status: 409, Code: 20409}, true},
		{"412", &twilio.APIError{Status: 412}, true},
		{"422", &twilio.APIError{Status: 422}, true},
		{"429", &twilio.APIError{Status: 429, Code: 20429}, false},
		{"499", &twilio.APIError{Status: 499}, true},
		{"500", &twilio.APIError{Status: 500}, false},
		{"503", &twilio.APIError{Status: 503, Code: 20503}, false},
		{"300", &twilio.APIError{Status: 300}, false},
		{"wrapped 400", fmt.Errorf("client: %w", &twilio.APIError{Status: 400}), true},
		{"no answer, sent", &twilio.TransportError{Op: "create_task", Sent: true, Err: context.DeadlineExceeded}, false},
		{"no answer, not sent", &twilio.TransportError{Op: "create_task", Err: errors.New("dial")}, false},
		{"deadline", context.DeadlineExceeded, false},
		{"plain", errors.New("boom"), false},
		{"marked already", queue.Permanent(errors.New("bad")), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops := map[string]func() error{
				"create": func() error {
					tasks := &fakeTasks{create: func(map[string]any) (twilio.Task, error) { return twilio.Task{}, tc.err }}
					f, _ := newFlow(t, tasks)
					_, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", ""))
					return err
				},
				"cancel": func() error {
					tasks := &fakeTasks{cancel: func(string) error { return tc.err }}
					f, _ := newFlow(t, tasks)
					if _, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", "")); err != nil {
						t.Fatal(err)
					}
					_, err := f.Sync(context.Background(), rec("Closed", "2125550123", ""))
					return err
				},
			}
			for op, run := range ops {
				err := run()
				if taskGone(tc.err) && op == "cancel" {
					continue // a task already gone is no failure
				}
				if err == nil || queue.IsPermanent(err) != tc.permanent || !errors.Is(err, tc.err) {
					t.Errorf("%s: err %v, permanent want %v", op, err, tc.permanent)
				}
			}
		})
	}
}
