package escalation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/escalation"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/testclock"
)

// ---- fakes ------------------------------------------------------------------

type fakeTasks struct {
	mu      sync.Mutex
	tasks   []twilio.Task
	creates int
	lists   int
	// createErr, when set, answers the next create; created says whether
	// the task was made anyway (a timeout after sending).
	createErr error
	created   bool
}

var _ escalation.Tasks = (*fakeTasks)(nil)

func (f *fakeTasks) CreateTask(_ context.Context, attrs map[string]any, priority int) (twilio.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	t := twilio.Task{SID: fmt.Sprintf("WT%032x", len(f.tasks)+1), Attributes: attrs, Priority: priority, AssignmentStatus: "pending"}
	if err := f.createErr; err != nil {
		f.createErr = nil
		if f.created {
			f.tasks = append(f.tasks, t)
		}
		return twilio.Task{}, err
	}
	f.tasks = append(f.tasks, t)
	return t, nil
}

func (f *fakeTasks) FindOpenTasks(_ context.Context, expr string) ([]twilio.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	var out []twilio.Task
	for _, t := range f.tasks {
		crm, _ := t.Attributes["crm"].(map[string]any)
		if strings.Contains(expr, fmt.Sprintf("crm.record_id == %q", crm["record_id"])) &&
			strings.Contains(expr, fmt.Sprintf("escalation_date == %q", t.Attributes["escalation_date"])) {
			out = append(out, t)
		}
	}
	return out, nil
}

type fakeCRM struct {
	mu        sync.Mutex
	record    salesforce.Record
	gets      [][]string
	upserts   map[string]salesforce.Record
	upsertErr error
}

var _ escalation.CRM = (*fakeCRM)(nil)

func (f *fakeCRM) Get(_ context.Context, object, id string, fields []string) (salesforce.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, fields)
	out := salesforce.Record{}
	for _, k := range fields {
		if v, ok := f.record[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func (f *fakeCRM) Upsert(_ context.Context, object, extField, extValue string, rec salesforce.Record) (salesforce.RowResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.upsertErr; err != nil {
		f.upsertErr = nil
		return salesforce.RowResult{}, err
	}
	if f.upserts == nil {
		f.upserts = map[string]salesforce.Record{}
	}
	f.upserts[object+"/"+extField+"/"+extValue] = rec
	return salesforce.RowResult{Success: true}, nil
}

type fakeMonitor struct{ notReminded map[string]bool }

func (f fakeMonitor) Reminded(_ context.Context, id, date string) (bool, error) {
	return !f.notReminded[date], nil
}

type fakeQueue struct {
	mu    sync.Mutex
	items []queue.Item
	seen  map[string]bool
}

func (q *fakeQueue) Enqueue(_ context.Context, items ...queue.Item) ([]bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	out := make([]bool, len(items))
	for i, it := range items {
		if !q.seen[it.Key] {
			q.seen[it.Key] = true
			q.items = append(q.items, it)
			out[i] = true
		}
	}
	return out, nil
}

// ---- world ------------------------------------------------------------------

const contactID = "003000000000001AAA"

type env struct {
	flow  *escalation.Flow
	tasks *fakeTasks
	crm   *fakeCRM
	mon   fakeMonitor
	queue *fakeQueue
	kv    *redis.KV
	rdb   goredis.UniversalClient
	clock *testclock.Clock
	ny    *time.Location
}

func mustEnv(t *testing.T, doc string) *env {
	t.Helper()
	if doc == "" {
		doc = config.ExampleMapping
	}
	m, err := mapping.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redistest.Start(t).Client(t)
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	due, err := redis.NewSchedule(rdb, "escalation:due")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	e := &env{
		tasks: &fakeTasks{},
		crm: &fakeCRM{record: salesforce.Record{"FirstName": "Ana", "MobilePhone": "(212) 555-0123",
			"Preferred_Language__c": "Spanish", "Priority__c": "3", "Index_Case_Name__c": "Never Shown"}},
		mon: fakeMonitor{notReminded: map[string]bool{}}, queue: &fakeQueue{}, kv: kv, rdb: rdb,
		clock: testclock.At(time.Date(2026, 3, 3, 11, 0, 0, 0, ny)), ny: ny,
	}
	e.flow, err = escalation.New(escalation.Config{
		Tasks: e.tasks, CRM: e.crm, Store: kv, Due: due, Mappings: mapping.NewHolder(m, 1), Monitor: e.mon, Answers: kv, UsedKey: survey.UsedKey,
		Queue: e.queue, Location: ny, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func msg(t *testing.T, ev event.Escalation) queue.Message {
	t.Helper()
	raw, _ := json.Marshal(ev)
	return queue.Message{ID: "1-0", Payload: raw}
}

func (e *env) handle(t *testing.T, evs ...event.Escalation) []error {
	t.Helper()
	var msgs []queue.Message
	for _, ev := range evs {
		msgs = append(msgs, msg(t, ev))
	}
	return e.flow.Handle(context.Background(), msgs)
}

func (e *env) mustHandle(t *testing.T, evs ...event.Escalation) {
	t.Helper()
	for i, err := range e.handle(t, evs...) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

func fever(date string) event.Escalation {
	return event.Escalation{Kind: event.EscalationAnswer, ContactID: contactID, Day: date, Date: date, Symptoms: []string{"Fever__c"}}
}

// ---- tests ------------------------------------------------------------------

func TestBadEventsAreDeadLettered(t *testing.T) {
	e := mustEnv(t, "")
	errs := e.flow.Handle(context.Background(), []queue.Message{
		{ID: "1-0", Payload: []byte("{not json")},
		msg(t, event.Escalation{Kind: event.EscalationReply, ContactID: "not-an-id", Date: "2026-03-03"}),
		msg(t, event.Escalation{Kind: event.EscalationReply, ContactID: contactID, Date: "03/03/2026"}),
		msg(t, event.Escalation{Kind: "party", ContactID: contactID, Date: "2026-03-03"}),
	})
	for i, err := range errs {
		if !queue.IsPermanent(err) {
			t.Fatalf("event %d: %v, want a permanent error", i, err)
		}
	}
	if e.tasks.creates != 0 || len(e.crm.gets) != 0 {
		t.Fatal("a bad event reached a vendor")
	}
}

func TestSymptomsOpenOneTaskAndActivity(t *testing.T) {
	e := mustEnv(t, "")
	e.mustHandle(t, fever("2026-03-03"))
	if len(e.tasks.tasks) != 1 {
		t.Fatalf("%d tasks", len(e.tasks.tasks))
	}
	task := e.tasks.tasks[0]
	a := task.Attributes
	crm, _ := a["crm"].(map[string]any)
	switch {
	case task.Priority != 100:
		t.Fatalf("priority %d", task.Priority)
	case a["type"] != escalation.TaskType || a["reason"] != escalation.ReasonSymptoms || a["escalation_date"] != "2026-03-03":
		t.Fatalf("attributes %v", a)
	case crm["record_id"] != contactID || crm["object"] != "Contact":
		t.Fatalf("crm %v", crm)
	case a["to"] != "+12125550123" || a["name"] != "Ana" || a["language"] != "es":
		t.Fatalf("record_to_task attributes %v", a)
	case !slices.Equal(a["symptoms"].([]string), []string{"Fever__c"}):
		t.Fatalf("symptoms %v", a["symptoms"])
	}
	for _, fields := range e.crm.gets {
		if slices.Contains(fields, "Index_Case_Name__c") {
			t.Fatalf("a protected field was read: %v", fields)
		}
	}
	act, ok := e.crm.upserts["Task/Twilio_Task_Sid__c/"+escalation.ActivityKey(contactID, "2026-03-03")]
	if !ok || act["WhoId"] != contactID || act["ActivityDate"] != "2026-03-03" || !strings.Contains(act["Description"].(string), "Fever__c") ||
		!strings.Contains(act["Description"].(string), task.SID) {
		t.Fatalf("activity %v", e.crm.upserts)
	}
	// Again, with another reason the same day: nothing new.
	e.mustHandle(t, fever("2026-03-03"), event.Escalation{Kind: event.EscalationReply, ContactID: contactID, Date: "2026-03-03"})
	if e.tasks.creates != 1 || len(e.crm.upserts) != 1 || len(e.crm.gets) != 1 {
		t.Fatalf("%d creates, %d activities, %d reads after repeats", e.tasks.creates, len(e.crm.upserts), len(e.crm.gets))
	}
	// Another day: a new task.
	e.mustHandle(t, event.Escalation{Kind: event.EscalationReply, ContactID: contactID, Date: "2026-03-04"})
	if e.tasks.creates != 2 || len(e.crm.upserts) != 2 {
		t.Fatalf("next day: %d creates, %d activities", e.tasks.creates, len(e.crm.upserts))
	}
}

func TestAnswerWithoutSymptomsOpensNothing(t *testing.T) {
	e := mustEnv(t, "")
	e.mustHandle(t, event.Escalation{Kind: event.EscalationAnswer, ContactID: contactID, Day: "2026-03-03", Date: "2026-03-03"})
	if e.tasks.creates != 0 || len(e.crm.upserts) != 0 {
		t.Fatal("an answer without symptoms escalated")
	}
}

func TestCreateOfUnknownOutcomeIsAdopted(t *testing.T) {
	e := mustEnv(t, "")
	e.tasks.createErr, e.tasks.created = &twilio.TransportError{Op: "create_task", Sent: true, Err: context.DeadlineExceeded}, true
	if errs := e.handle(t, fever("2026-03-03")); errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("first try: %v, want a retryable error", errs[0])
	}
	e.mustHandle(t, fever("2026-03-03"))
	if len(e.tasks.tasks) != 1 || e.tasks.creates != 1 || e.tasks.lists != 1 {
		t.Fatalf("%d tasks from %d creates (%d lists), want 1 from 1", len(e.tasks.tasks), e.tasks.creates, e.tasks.lists)
	}
	if len(e.crm.upserts) != 1 {
		t.Fatalf("%d activities", len(e.crm.upserts))
	}
}

func TestCreateThatFailedIsRetried(t *testing.T) {
	e := mustEnv(t, "")
	e.tasks.createErr = &twilio.APIError{Status: 503, Code: 20503}
	if errs := e.handle(t, fever("2026-03-03")); errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("first try: %v", errs[0])
	}
	e.mustHandle(t, fever("2026-03-03"))
	if len(e.tasks.tasks) != 1 || e.tasks.creates != 2 {
		t.Fatalf("%d tasks from %d creates, want 1 from 2", len(e.tasks.tasks), e.tasks.creates)
	}
	// A refused create (400) is permanent: it would never pass.
	e.tasks.createErr = &twilio.APIError{Status: 400, Code: 20001}
	errs := e.handle(t, event.Escalation{Kind: event.EscalationReply, ContactID: contactID, Date: "2026-03-05"})
	if !queue.IsPermanent(errs[0]) {
		t.Fatalf("400 on create: %v, want permanent", errs[0])
	}
}

func TestActivityFailureDoesNotRecreateTheTask(t *testing.T) {
	e := mustEnv(t, "")
	e.crm.upsertErr = &salesforce.APIError{Status: 503, Code: "SERVER_UNAVAILABLE"}
	if errs := e.handle(t, fever("2026-03-03")); errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("first try: %v", errs[0])
	}
	e.mustHandle(t, fever("2026-03-03"))
	if e.tasks.creates != 1 || len(e.crm.upserts) != 1 {
		t.Fatalf("%d creates, %d activities", e.tasks.creates, len(e.crm.upserts))
	}
}

func TestRequiredRuleMissingStillEscalates(t *testing.T) {
	e := mustEnv(t, "")
	delete(e.crm.record, "MobilePhone") // record_to_task's `to` is required
	e.mustHandle(t, fever("2026-03-03"))
	if len(e.tasks.tasks) != 1 {
		t.Fatalf("%d tasks", len(e.tasks.tasks))
	}
	a := e.tasks.tasks[0].Attributes
	if a["type"] != escalation.TaskType || a["to"] != nil {
		t.Fatalf("attributes %v", a)
	}
}

func missed(day, date string) event.Escalation {
	return event.Escalation{Kind: event.EscalationMissed, ContactID: contactID, Day: day, Date: date}
}

func TestMissedDaysInARowEscalateOnce(t *testing.T) {
	e := mustEnv(t, "")
	e.mustHandle(t, missed("2026-03-01", "2026-03-01"))
	if e.tasks.creates != 0 {
		t.Fatal("one missed day escalated")
	}
	e.mustHandle(t, missed("2026-03-02", "2026-03-02"), missed("2026-03-02", "2026-03-02"))
	if e.tasks.creates != 1 || e.tasks.tasks[0].Attributes["reason"] != escalation.ReasonMissedDays {
		t.Fatalf("%d creates after two missed days", e.tasks.creates)
	}
	if d := e.crm.upserts["Task/Twilio_Task_Sid__c/"+escalation.ActivityKey(contactID, "2026-03-02")]["Description"].(string); !strings.Contains(d, "2 consecutive") {
		t.Fatalf("activity: %q", d)
	}
	// The row starts again: day 3 alone is one missed day.
	e.mustHandle(t, missed("2026-03-03", "2026-03-03"))
	if e.tasks.creates != 1 {
		t.Fatal("the escalated days were counted again")
	}
	// Day 4 answered on the page (its used mark); day 5 missed, then
	// answered late through writeback (its link lives two more days); day
	// 6 missed: no run of two.
	if err := e.kv.Set(context.Background(), survey.UsedKey(contactID, "2026-03-04"), "x", time.Hour); err != nil {
		t.Fatal(err)
	}
	e.mustHandle(t, missed("2026-03-04", "2026-03-04"), missed("2026-03-05", "2026-03-05"))
	e.mustHandle(t, event.Escalation{Kind: event.EscalationAnswer, ContactID: contactID, Day: "2026-03-05", Date: "2026-03-06"})
	e.mustHandle(t, missed("2026-03-06", "2026-03-06"))
	if e.tasks.creates != 1 {
		t.Fatal("an answered day counted as missed")
	}
	// A day whose reminder never went out is not missed, and breaks the row.
	e.mon.notReminded["2026-03-07"] = true
	e.mustHandle(t, missed("2026-03-07", "2026-03-07"), missed("2026-03-08", "2026-03-08"))
	if e.tasks.creates != 1 {
		t.Fatal("a day without a reminder counted as missed")
	}
	e.mustHandle(t, missed("2026-03-09", "2026-03-09"))
	if e.tasks.creates != 2 {
		t.Fatalf("days 8 and 9 missed: %d creates, want 2", e.tasks.creates)
	}
}

func TestDueChecksFollowTheContact(t *testing.T) {
	e := mustEnv(t, "")
	ctx := context.Background()
	var days []contacts.Day
	for i := range 3 {
		d := time.Date(2026, 3, 3+i, 10, 0, 0, 0, e.ny)
		days = append(days, contacts.Day{Date: d.Format("2006-01-02"), SendAt: d})
	}
	c := contacts.Change{ID: contactID, Object: "Contact", Active: true, Channel: "voice", Days: days}
	if err := e.flow.ContactChanged(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Nothing is due before 22:00 (10:00 plus the 12 h grace).
	e.clock.Set(time.Date(2026, 3, 3, 21, 59, 0, 0, e.ny))
	if n, err := e.flow.EnqueueDue(ctx); err != nil || n != 0 {
		t.Fatalf("before grace: %d, %v", n, err)
	}
	e.clock.Set(time.Date(2026, 3, 4, 22, 0, 0, 0, e.ny))
	if n, err := e.flow.EnqueueDue(ctx); err != nil || n != 2 {
		t.Fatalf("after two days: %d, %v", n, err)
	}
	var ev event.Escalation
	_ = json.Unmarshal(e.queue.items[0].Payload, &ev)
	if ev.Kind != event.EscalationMissed || ev.ContactID != contactID || ev.Date != "2026-03-04" || !strings.HasPrefix(e.queue.items[0].Key, "missed:"+contactID+":") {
		t.Fatalf("queued %+v under %s", ev, e.queue.items[0].Key)
	}
	if n, _ := e.flow.EnqueueDue(ctx); n != 0 {
		t.Fatalf("checks enqueued twice: %d", n)
	}
	view, err := e.flow.Today(ctx)
	if err != nil || view.Channels["voice"] != 1 || view.Contacts["voice"][0] != contactID {
		t.Fatalf("view %+v, %v", view, err)
	}
	// Opted out: the last day's check goes, and the contact leaves the view.
	c.Active = false
	if err := e.flow.ContactChanged(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 3, 6, 0, 0, 0, 0, e.ny))
	if n, _ := e.flow.EnqueueDue(ctx); n != 0 {
		t.Fatalf("%d checks of an opted-out contact", n)
	}
	if view, _ := e.flow.Today(ctx); len(view.Channels) != 0 {
		t.Fatalf("opted-out contact still counted: %+v", view.Channels)
	}
}

func TestForgetLeavesNothing(t *testing.T) {
	e := mustEnv(t, "")
	ctx := context.Background()
	e.mustHandle(t, fever("2026-03-03"), missed("2026-03-02", "2026-03-03"))
	d := time.Date(2026, 3, 9, 10, 0, 0, 0, e.ny)
	if err := e.flow.ContactChanged(ctx, contacts.Change{ID: contactID, Active: true, Days: []contacts.Day{{Date: "2026-03-09", SendAt: d}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.flow.Forget(ctx, contactID, nil); err != nil {
		t.Fatal(err)
	}
	keys, _ := e.rdb.Keys(ctx, "*").Result()
	for _, k := range keys {
		if strings.Contains(k, contactID) {
			t.Fatalf("key %s left", k)
		}
		if typ := e.rdb.Type(ctx, k).Val(); typ == "zset" || typ == "hash" {
			var vals []string
			if typ == "zset" {
				vals = e.rdb.ZRange(ctx, k, 0, -1).Val()
			} else {
				for f := range e.rdb.HGetAll(ctx, k).Val() {
					vals = append(vals, f)
				}
			}
			for _, v := range vals {
				if strings.Contains(v, contactID) && !strings.HasPrefix(k, "bridge:escalation:log:") && !strings.HasPrefix(k, "bridge:escalation:missed:") {
					t.Fatalf("%s still holds the contact", k)
				}
			}
		}
	}
}

func TestEscalateOffWithoutSection(t *testing.T) {
	doc := strings.Split(config.ExampleMapping, "escalate:")[0] + "protected: [Index_Case_Name__c]\n"
	e := mustEnv(t, doc)
	e.mustHandle(t, fever("2026-03-03"), missed("2026-03-01", "2026-03-01"), missed("2026-03-02", "2026-03-02"))
	if e.tasks.creates != 0 {
		t.Fatal("escalated without an escalate section")
	}
}

func TestBatchOfManyContactsRunsConcurrently(t *testing.T) {
	e := mustEnv(t, "")
	var evs []event.Escalation
	for i := range 30 {
		id := fmt.Sprintf("003000000000%03dAAA", i)
		evs = append(evs, event.Escalation{Kind: event.EscalationReply, ContactID: id, Date: "2026-03-03"},
			event.Escalation{Kind: event.EscalationReply, ContactID: id, Date: "2026-03-03"})
	}
	e.mustHandle(t, evs...)
	if e.tasks.creates != 30 || len(e.crm.upserts) != 30 {
		t.Fatalf("%d creates and %d activities for 30 contacts, each twice", e.tasks.creates, len(e.crm.upserts))
	}
}

// The Redis keys stay what they were when the flow held its own client:
// the contact's hash and lock share its hash tag (one Cluster slot), and
// the hashes expire.
func TestRedisKeysAndExpiry(t *testing.T) {
	e := mustEnv(t, "")
	ctx := context.Background()
	e.mustHandle(t, fever("2026-03-03"), missed("2026-03-02", "2026-03-03"))
	d := time.Date(2026, 3, 9, 10, 0, 0, 0, e.ny)
	if err := e.flow.ContactChanged(ctx, contacts.Change{ID: contactID, Active: true, Days: []contacts.Day{{Date: "2026-03-09", SendAt: d}}}); err != nil {
		t.Fatal(err)
	}
	days := "bridge:escalation:{" + contactID + "}:days"
	for key, typ := range map[string]string{
		days:                               "hash",
		"bridge:escalation:log:2026-03-03": "hash",
		"bridge:escalation:channels":       "hash",
		"bridge:escalation:due":            "zset",
	} {
		if got := e.rdb.Type(ctx, key).Val(); got != typ {
			t.Errorf("%s is a %q, want a %s", key, got, typ)
		}
	}
	for _, key := range []string{days, "bridge:escalation:log:2026-03-03"} {
		if ttl := e.rdb.TTL(ctx, key).Val(); ttl <= 0 {
			t.Errorf("%s has ttl %s", key, ttl)
		}
	}
	if ttl := e.rdb.TTL(ctx, "bridge:escalation:channels").Val(); ttl != -1 {
		t.Errorf("the channel index expires: ttl %s", ttl)
	}
	// The lock is the contact's: held, the contact's events wait.
	e.rdb.Set(ctx, "bridge:escalation:{"+contactID+"}:lock", "other", time.Minute)
	errs := e.flow.Handle(ctx, []queue.Message{msg(t, fever("2026-03-04"))})
	if !errors.Is(errs[0], escalation.ErrBusy) || queue.IsPermanent(errs[0]) {
		t.Fatalf("locked contact: %v", errs[0])
	}
}
