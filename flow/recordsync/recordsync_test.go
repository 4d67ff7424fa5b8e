package recordsync

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cityhealth/bridge/config"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/memkv"
)

type fakeTasks struct {
	mu      sync.Mutex
	calls   []string
	create  func(attrs map[string]any) (twilio.Task, error)
	update  func(sid string) error
	fetch   func(sid string) (twilio.Task, error)
	cancel  func(sid string) error
	find    func(expr string) ([]twilio.Task, error)
	created int
}

var _ Tasks = (*fakeTasks)(nil)

func (f *fakeTasks) log(op string) { f.mu.Lock(); f.calls = append(f.calls, op); f.mu.Unlock() }

func (f *fakeTasks) CreateTask(_ context.Context, attrs map[string]any, _ int) (twilio.Task, error) {
	f.log("create")
	if f.create != nil {
		return f.create(attrs)
	}
	f.created++
	return twilio.Task{SID: "WT" + string(rune('a'+f.created))}, nil
}

// FetchTask is not logged: the call lists below name the writes.
func (f *fakeTasks) FetchTask(_ context.Context, sid string) (twilio.Task, error) {
	if f.fetch != nil {
		return f.fetch(sid)
	}
	return twilio.Task{SID: sid, AssignmentStatus: "pending", ETag: "0"}, nil
}

func (f *fakeTasks) UpdateTaskIfMatch(_ context.Context, sid, _ string, _ map[string]any, _ int) error {
	f.log("update")
	if f.update != nil {
		return f.update(sid)
	}
	return nil
}

func (f *fakeTasks) CancelTask(_ context.Context, sid, _ string) error {
	f.log("cancel")
	if f.cancel != nil {
		return f.cancel(sid)
	}
	return nil
}

func (f *fakeTasks) FindOpenTasks(_ context.Context, expr string) ([]twilio.Task, error) {
	f.log("find")
	if f.find != nil {
		return f.find(expr)
	}
	return nil, nil
}

var _ Store = (*memkv.Store)(nil)

func example(t *testing.T) *mapping.Holder {
	t.Helper()
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	return mapping.NewHolder(m, 1)
}

func rec(status, phone, lmd string) event.Record {
	f := map[string]any{"Id": "003RM00000Qx1a2YAB", "FirstName": "Alex", "MobilePhone": phone, "Outreach_Status__c": status}
	if lmd != "" {
		f["LastModifiedDate"] = lmd
	}
	return event.Record{NotificationID: "04l", Object: "Contact", RecordID: "003RM00000Qx1a2YAB", Fields: f}
}

func newFlow(t *testing.T, tasks *fakeTasks) (*Flow, *memkv.Store) {
	t.Helper()
	store := &memkv.Store{}
	f, err := New(Config{Tasks: tasks, Store: store, Mappings: example(t)})
	if err != nil {
		t.Fatal(err)
	}
	return f, store
}

func TestSyncSequences(t *testing.T) {
	apiErr := func(status int) error { return &twilio.APIError{Status: status, Code: 20001} }
	cases := []struct {
		name  string
		tasks func() *fakeTasks
		steps []event.Record
		want  []Outcome
		calls []string
	}{
		{"create, echo, update, cancel", func() *fakeTasks { return &fakeTasks{} },
			[]event.Record{rec("Needs Outreach", "2125550123", ""), rec("Needs Outreach", "2125550123", ""), rec("Needs Outreach", "2125550199", ""), rec("Closed", "2125550199", "")},
			[]Outcome{Created, Unchanged, Updated, Canceled}, []string{"create", "update", "cancel"}},
		{"cancel without a task makes no call", func() *fakeTasks { return &fakeTasks{} },
			[]event.Record{rec("Closed", "2125550123", "")}, []Outcome{Unchanged}, nil},
		{"a task closed in Flex gets a new one", func() *fakeTasks { return &fakeTasks{update: func(string) error { return apiErr(404) }} },
			[]event.Record{rec("Needs Outreach", "2125550123", ""), rec("Needs Outreach", "2125550199", "")},
			[]Outcome{Created, Created}, []string{"create", "update", "create"}},
		{"an older notification is ignored", func() *fakeTasks { return &fakeTasks{} },
			[]event.Record{rec("Needs Outreach", "2125550123", "2020-06-02T15:00:00.000Z"), rec("Needs Outreach", "2125550199", "2020-06-02T14:00:00.000+0000")},
			[]Outcome{Created, Unchanged}, []string{"create"}},
		{"other values do nothing", func() *fakeTasks { return &fakeTasks{} },
			[]event.Record{rec("In Progress", "2125550123", "")}, []Outcome{Unchanged}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tasks := tc.tasks()
			f, _ := newFlow(t, tasks)
			for i, r := range tc.steps {
				got, err := f.Sync(context.Background(), r)
				if err != nil || got != tc.want[i] {
					t.Fatalf("step %d: %v %v, want %v", i, got, err, tc.want[i])
				}
			}
			if len(tasks.calls) != len(tc.calls) {
				t.Fatalf("calls %v, want %v", tasks.calls, tc.calls)
			}
			for i := range tc.calls {
				if tasks.calls[i] != tc.calls[i] {
					t.Fatalf("calls %v, want %v", tasks.calls, tc.calls)
				}
			}
		})
	}
}

func TestAmbiguousCreateIsReconciledNotRepeated(t *testing.T) {
	timeout := &twilio.TransportError{Op: "create_task", Sent: true, Err: context.DeadlineExceeded}
	tasks := &fakeTasks{}
	tasks.create = func(map[string]any) (twilio.Task, error) { return twilio.Task{}, timeout }
	f, _ := newFlow(t, tasks)
	if _, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", "")); err == nil || queue.IsPermanent(err) {
		t.Fatalf("a timeout must be retried, got %v", err)
	}
	// The retry finds the task the timed-out create made and adopts it.
	var expr string
	tasks.find = func(e string) ([]twilio.Task, error) { expr = e; return []twilio.Task{{SID: "WTmade"}}, nil }
	tasks.create = func(map[string]any) (twilio.Task, error) { t.Fatal("created again"); return twilio.Task{}, nil }
	got, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", ""))
	if err != nil || got != Updated || expr != `crm.record_id == "003RM00000Qx1a2YAB"` {
		t.Fatalf("retry: %v %v (expr %q)", got, err, expr)
	}
	if sid, _ := f.TaskSID(context.Background(), "Contact", "003RM00000Qx1a2YAB"); sid != "WTmade" {
		t.Fatalf("link %q", sid)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name      string
		createErr error
		record    event.Record
		permanent bool
	}{
		{"no number fails the required rule", nil, rec("Needs Outreach", "", ""), true},
		{"twilio 400", &twilio.APIError{Status: 400, Code: 20001}, rec("Needs Outreach", "2125550123", ""), true},
		{"twilio 503", &twilio.APIError{Status: 503}, rec("Needs Outreach", "2125550123", ""), false},
		{"twilio 429", &twilio.APIError{Status: 429}, rec("Needs Outreach", "2125550123", ""), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tasks := &fakeTasks{create: func(map[string]any) (twilio.Task, error) { return twilio.Task{}, tc.createErr }}
			f, _ := newFlow(t, tasks)
			_, err := f.Sync(context.Background(), tc.record)
			if err == nil || queue.IsPermanent(err) != tc.permanent {
				t.Fatalf("err %v, permanent want %v", err, tc.permanent)
			}
		})
	}
}

func TestBusyRecordIsRetried(t *testing.T) {
	f, store := newFlow(t, &fakeTasks{})
	store.Put(lockKey("Contact", "003RM00000Qx1a2YAB"), "1")
	if _, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", "")); !errors.Is(err, ErrBusy) || queue.IsPermanent(err) {
		t.Fatalf("want a retryable ErrBusy, got %v", err)
	}
}

func TestHandleAppliesOneRecordInOrder(t *testing.T) {
	tasks := &fakeTasks{}
	f, _ := newFlow(t, tasks)
	payload := func(r event.Record) []byte {
		b, _ := json.Marshal(r)
		return b
	}
	newer := rec("Needs Outreach", "2125550199", "2020-06-02T15:00:00.000Z")
	older := rec("Needs Outreach", "2125550123", "2020-06-02T14:00:00.000Z")
	errs := f.Handle(context.Background(), []queue.Message{{Payload: payload(newer)}, {Payload: payload(older)}, {Payload: []byte("{")}})
	if errs[0] != nil || errs[1] != nil || !queue.IsPermanent(errs[2]) {
		t.Fatalf("errs %v", errs)
	}
	// Sorted by LastModifiedDate: the older one creates, the newer updates.
	if len(tasks.calls) != 2 || tasks.calls[0] != "create" || tasks.calls[1] != "update" {
		t.Fatalf("calls %v", tasks.calls)
	}
}

func TestMergeAttributes(t *testing.T) {
	tests := []struct {
		name            string
		current, mapped map[string]any
		written         []string
		want            map[string]any
	}{
		{"flex keys kept",
			map[string]any{"name": "Alex", "call_sid": "CA1", "conversations": map[string]any{"outcome": "Reached"}},
			map[string]any{"name": "Ana"}, []string{"name"},
			map[string]any{"name": "Ana", "call_sid": "CA1", "conversations": map[string]any{"outcome": "Reached"}}},
		{"a key the bridge wrote and no longer maps is removed",
			map[string]any{"name": "Alex", "case_number": "N1", "conference": map[string]any{"sid": "CF1"}},
			map[string]any{"name": "Alex"}, []string{"case_number", "name"},
			map[string]any{"name": "Alex", "conference": map[string]any{"sid": "CF1"}}},
		{"a key the bridge never wrote stays",
			map[string]any{"case_number": "N1"},
			map[string]any{"name": "Alex"}, []string{"name"},
			map[string]any{"name": "Alex", "case_number": "N1"}},
		{"nested: sibling kept, own leaf removed, empty parent pruned",
			map[string]any{"case": map[string]any{"label": "high", "flex": 1}, "x": map[string]any{"y": 1}},
			map[string]any{}, []string{"case.label", "x.y"},
			map[string]any{"case": map[string]any{"flex": 1}}},
		{"no current attributes", nil, map[string]any{"a": "b"}, nil, map[string]any{"a": "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.current)
			got := MergeAttributes(tc.current, tc.mapped, tc.written)
			if g, w := jsonForm(got), jsonForm(tc.want); !reflect.DeepEqual(g, w) {
				t.Fatalf("got %v, want %v", g, w)
			}
			if after, _ := json.Marshal(tc.current); string(after) != string(before) {
				t.Fatal("current was modified")
			}
		})
	}
}

// An update reads the task, merges, writes with If-Match and reads again
// after a 412; what Flex wrote in between survives.
func TestUpdateMergesAndRetriesOnStaleETag(t *testing.T) {
	flexAttrs := map[string]any{"call_sid": "CA0123", "conversations": map[string]any{"outcome": "Reached"}}
	var state struct {
		attrs map[string]any
		etag  int
	}
	tasks := &fakeTasks{}
	tasks.create = func(attrs map[string]any) (twilio.Task, error) {
		state.attrs = attrs
		return twilio.Task{SID: "WTone", ETag: "0"}, nil
	}
	fetches, stale := 0, 1
	tasks.fetch = func(sid string) (twilio.Task, error) {
		fetches++
		return twilio.Task{SID: sid, AssignmentStatus: "assigned", Attributes: deepCopy(state.attrs), ETag: strconv.Itoa(state.etag)}, nil
	}
	var written map[string]any
	tasks.update = func(string) error {
		if stale > 0 {
			// Flex writes between our read and our write.
			stale--
			state.attrs = MergeAttributes(state.attrs, flexAttrs, nil)
			state.etag++
			return &twilio.APIError{Status: 412, Code: 20412}
		}
		return nil
	}
	f, _ := newFlow(t, tasks)
	tasks2 := &etagTasks{fakeTasks: tasks, written: &written}
	f.cfg.Tasks = tasks2
	if got, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", "")); err != nil || got != Created {
		t.Fatalf("create: %v %v", got, err)
	}
	if got, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550199", "")); err != nil || got != Updated {
		t.Fatalf("update: %v %v", got, err)
	}
	if fetches != 2 {
		t.Fatalf("%d fetches, want 2 (one per If-Match attempt)", fetches)
	}
	if written["to"] != "+12125550199" || written["call_sid"] != "CA0123" || written["crm"] == nil {
		t.Fatalf("written attributes %v", written)
	}
	if conv, _ := written["conversations"].(map[string]any); conv["outcome"] != "Reached" {
		t.Fatalf("Flex's outcome lost: %v", written)
	}
}

// A task Flex keeps changing: after UpdateAttempts rounds the sync fails in
// a way the queue retries, never as a dead letter.
func TestUpdateRacingFlexIsRetriedLater(t *testing.T) {
	tasks := &fakeTasks{update: func(string) error { return &twilio.APIError{Status: 412, Code: 20412} }}
	f, _ := newFlow(t, tasks)
	if _, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550123", "")); err != nil {
		t.Fatal(err)
	}
	_, err := f.Sync(context.Background(), rec("Needs Outreach", "2125550199", ""))
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("err %v: want a retryable error", err)
	}
	if n := len(tasks.calls); n != 1+f.cfg.UpdateAttempts {
		t.Fatalf("calls %v: want the create and %d update attempts", tasks.calls, f.cfg.UpdateAttempts)
	}
}

// etagTasks records what the last successful conditional update wrote.
type etagTasks struct {
	*fakeTasks
	written *map[string]any
}

func (e *etagTasks) UpdateTaskIfMatch(ctx context.Context, sid, etag string, attrs map[string]any, prio int) error {
	if etag == "" {
		return errors.New("update without If-Match")
	}
	if err := e.fakeTasks.UpdateTaskIfMatch(ctx, sid, etag, attrs, prio); err != nil {
		return err
	}
	*e.written = attrs
	return nil
}

// A record read through REST (numbers as JSON numbers, nulls present) and the
// same record in an Outbound Message (numbers as "2.0", nulls left out) map
// the same: the second makes no Twilio call.
func TestRESTAndSOAPFormsMapTheSame(t *testing.T) {
	doc := strings.Replace(config.ExampleMapping, "    case_number: {field: Case_Number__c}\n",
		"    case_number: {field: Case_Number__c}\n    case.priority: {field: Priority__c}\n    case.level: {field: Priority__c, map: {\"2\": high}}\n", 1)
	m, err := mapping.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tasks := &fakeTasks{}
	f, err := New(Config{Tasks: tasks, Store: &memkv.Store{}, Mappings: mapping.NewHolder(m, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rest := rec("Needs Outreach", "2125550123", "")
	rest.Fields["Priority__c"] = 2.0
	rest.Fields["Case_Number__c"] = nil
	soap := rec("Needs Outreach", "2125550123", "")
	soap.Fields["Priority__c"] = "2.0"
	for i, r := range []event.Record{rest, soap} {
		if _, err := f.Sync(context.Background(), r); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if len(tasks.calls) != 1 || tasks.calls[0] != "create" {
		t.Fatalf("calls %v, want only the create", tasks.calls)
	}
}
