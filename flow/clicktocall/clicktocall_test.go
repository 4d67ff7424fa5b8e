package clicktocall

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"

	"github.com/cityhealth/bridge/test/memkv"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/mapping"
)

type fakeCRM struct {
	mu    sync.Mutex
	calls int
	rec   salesforce.Record
	err   error
}

var _ CRM = (*fakeCRM)(nil)

func (f *fakeCRM) Get(_ context.Context, _, _ string, _ []string) (salesforce.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.rec, f.err
}

type fakeTasks struct {
	mu      sync.Mutex
	creates int
	create  func() (twilio.Task, error)
}

var _ Tasks = (*fakeTasks)(nil)

func (f *fakeTasks) CreateTask(context.Context, map[string]any, int) (twilio.Task, error) {
	f.mu.Lock()
	f.creates++
	f.mu.Unlock()
	return f.create()
}

func (f *fakeTasks) FindOpenTasks(context.Context, string) ([]twilio.Task, error) { return nil, nil }

var _ Store = (*memkv.Store)(nil)

const recordID = "003RM00000Qx1a2YAB"

var agent = Agent{Subject: "ana", WorkerSID: "WK0123456789abcdef0123456789abcdef"}

func newFlow(t *testing.T, crm *fakeCRM, tasks *fakeTasks, cacheTTL time.Duration) *Flow {
	t.Helper()
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{CRM: crm, Tasks: tasks, Store: &memkv.Store{}, Mappings: mapping.NewHolder(m, 1),
		CallerID: "+12125550100", CacheTTL: cacheTTL})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAFailedFirstClickLetsTheNextTry(t *testing.T) {
	crm := &fakeCRM{rec: salesforce.Record{"FirstName": "Alex", "MobilePhone": "(212) 555-0123"}}
	fail := true
	tasks := &fakeTasks{create: func() (twilio.Task, error) {
		if fail {
			return twilio.Task{}, &twilio.APIError{Status: 503}
		}
		return twilio.Task{SID: "WT1"}, nil
	}}
	f := newFlow(t, crm, tasks, 0)
	if _, err := f.Call(context.Background(), agent, recordID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first click: %v", err)
	}
	fail = false
	res, err := f.Call(context.Background(), agent, recordID)
	if err != nil || res.TaskSID != "WT1" || res.Repeated {
		t.Fatalf("second click: %+v %v", res, err)
	}
	if again, err := f.Call(context.Background(), agent, recordID); err != nil || !again.Repeated || again.TaskSID != "WT1" {
		t.Fatalf("double click: %+v %v", again, err)
	}
	if tasks.creates != 2 {
		t.Fatalf("%d creates, want 2 (one failed, one made)", tasks.creates)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name  string
		agent Agent
		id    string
		crm   *fakeCRM
		check func(error) bool
	}{
		{"no worker", Agent{Subject: "ana"}, recordID, &fakeCRM{}, func(err error) bool { return errors.Is(err, ErrNoWorker) }},
		{"bad id", agent, "003'--", &fakeCRM{}, func(err error) bool { return errors.Is(err, ErrInvalidID) }},
		{"unknown record", agent, recordID, &fakeCRM{err: &salesforce.APIError{Status: 404, Code: "NOT_FOUND"}}, func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"no number", agent, recordID, &fakeCRM{rec: salesforce.Record{"FirstName": "Alex"}}, func(err error) bool {
			var nc *NotCallableError
			return errors.As(err, &nc) && nc.Field != ""
		}},
		{"salesforce down", agent, recordID, &fakeCRM{err: &salesforce.APIError{Status: 503}}, func(err error) bool { return errors.Is(err, ErrUnavailable) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tasks := &fakeTasks{create: func() (twilio.Task, error) { return twilio.Task{SID: "WT1"}, nil }}
			_, err := newFlow(t, tc.crm, tasks, 0).Call(context.Background(), tc.agent, tc.id)
			if !tc.check(err) || tasks.creates != 0 {
				t.Fatalf("err %v, %d creates", err, tasks.creates)
			}
		})
	}
}

func TestContextIsCachedAndCreatesNothing(t *testing.T) {
	crm := &fakeCRM{rec: salesforce.Record{"FirstName": "Alex", "MobilePhone": "(212) 555-0123", "Preferred_Language__c": "Spanish"}}
	tasks := &fakeTasks{create: func() (twilio.Task, error) { t.Fatal("context created a task"); return twilio.Task{}, nil }}
	f := newFlow(t, crm, tasks, time.Minute)
	for i := 0; i < 3; i++ {
		attrs, err := f.Context(context.Background(), agent, recordID)
		crm := attrs["crm"].(map[string]any)
		if err != nil || attrs["to"] != "+12125550123" || attrs["from"] != "+12125550100" || crm["record_id"] != recordID || crm["language"] != "es" {
			t.Fatalf("context: %v %v", attrs, err)
		}
	}
	if crm.calls != 1 {
		t.Fatalf("%d Salesforce reads for three screen pops, want 1", crm.calls)
	}
}
