package reconcile

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/testclock"
	"github.com/cityhealth/bridge/test/twiliosim"
	"github.com/cityhealth/bridge/webhooks"
)

// env is one world: the Twilio stand-in (no webhook reaches the bridge:
// every delivery is lost), a real Redis, the queues the webhooks write to.
type env struct {
	sim        *twiliosim.Server
	tw         *twilio.Client
	rdb        goredis.UniversalClient
	kv         *redis.KV
	monitoring *redis.Queue
	writeback  *redis.Queue
	clock      *testclock.Clock
	ns         string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	u := redistest.URLFromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb, err := redis.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	c := testclock.At(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	sim := twiliosim.New(twiliosim.Options{Now: c.Now})
	t.Cleanup(sim.Close)
	tw, err := twilio.NewClient(twilio.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken,
		WorkspaceSID: sim.WorkspaceSID, WorkflowSID: sim.WorkflowSID, APIURL: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("rt%d", time.Now().UnixNano())
	kv, err := redis.NewKV(rdb, ns)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sim: sim, tw: tw, rdb: rdb, kv: kv, clock: c, ns: ns}
	for _, q := range []**redis.Queue{&e.monitoring, &e.writeback} {
		name := ns + "-mon"
		if q == &e.writeback {
			name = ns + "-wb"
		}
		if *q, err = redis.NewQueue(rdb, redis.QueueConfig{Name: name, Consumer: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) reconciler(t *testing.T, owner string, mut func(*Config)) *Reconciler {
	t.Helper()
	cfg := Config{History: e.tw, Monitoring: e.monitoring, Writeback: e.writeback, Store: e.kv, Owner: owner,
		Interval: time.Minute, Now: e.clock.Now}
	if mut != nil {
		mut(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// completeTask opens a task carrying crm.record_id and completes it; its
// event callback is lost (the sim has no callback URL).
func (e *env) completeTask(t *testing.T, recordID string) string {
	t.Helper()
	task, err := e.tw.CreateTask(context.Background(), map[string]any{"crm": map[string]any{"record_id": recordID, "object": "Contact"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.CompleteTask(task.SID, map[string]any{"conversations": map[string]any{"outcome": "Reached"}}); err != nil {
		t.Fatal(err)
	}
	return task.SID
}

func (e *env) length(t *testing.T, q *redis.Queue) int64 {
	t.Helper()
	st, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Length
}

func (e *env) checkpoint(t *testing.T, key string) (time.Time, bool) {
	t.Helper()
	v, ok, err := e.kv.Get(context.Background(), key)
	if err != nil || !ok {
		return time.Time{}, false
	}
	cp, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatal(err)
	}
	return cp, true
}

func mustRun(t *testing.T, r *Reconciler) Result {
	t.Helper()
	res, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ran {
		t.Fatal("run skipped: lease held")
	}
	return res
}

func TestRecoversMissedEventsAndMessagesOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Three outcomes and a STOP, a reply and a HELP the webhooks never got;
	// one outcome did come in by webhook.
	var sids []string
	for i := range 3 {
		sids = append(sids, e.completeTask(t, fmt.Sprintf("003000000000000AA%d", i)))
		e.clock.Add(time.Second)
	}
	_, _ = e.sim.ReceiveSMS("+12125550123", "+12125550100", "STOP", "STOP")
	_, _ = e.sim.ReceiveSMS("+12125550124", "+12125550100", "feeling fine", "")
	_, _ = e.sim.ReceiveSMS("+12125550125", "+12125550100", "HELP", "HELP")
	evs := e.sim.Events()
	item, ok, err := webhooks.TaskRouterItem(evs[0])
	if err != nil || !ok {
		t.Fatalf("webhook item: %v %v", ok, err)
	}
	if _, err := e.writeback.Enqueue(ctx, item); err != nil {
		t.Fatal(err)
	}
	// A task event writeback ignores (no crm) is not recorded.
	other, _ := e.tw.CreateTask(ctx, map[string]any{"type": "inbound"}, 0)
	_ = e.sim.CompleteTask(other.SID, nil)
	e.clock.Add(time.Minute)

	r := e.reconciler(t, "a", nil)
	res := mustRun(t, r)
	if res.Recovered["task.completed"] != 2 || res.Recovered["sms_stop"] != 1 || res.Recovered["sms_reply"] != 1 || len(res.Recovered) != 3 {
		t.Fatalf("recovered %v, want 2 task.completed, 1 sms_stop, 1 sms_reply", res.Recovered)
	}
	if n := e.length(t, e.writeback); n != 4 { // 3 outcomes + 1 reply
		t.Fatalf("writeback holds %d, want 4", n)
	}
	if n := e.length(t, e.monitoring); n != 1 {
		t.Fatalf("monitoring holds %d, want 1 (the STOP)", n)
	}
	// The reconciled outcome is the webhook's item: same key, same payload.
	fresh, err := e.writeback.Enqueue(ctx, queue.Item{Key: evs[1].Get("Sid")})
	if err != nil || fresh[0] {
		t.Fatalf("the reconciled outcome is not under its EventSid: fresh=%v err=%v", fresh, err)
	}
	for _, key := range []string{keyEventsCursor, keyMessagesCursor} {
		if cp, ok := e.checkpoint(t, key); !ok || !cp.Equal(e.clock.Now()) {
			t.Fatalf("checkpoint %s = %v, want %v", key, cp, e.clock.Now())
		}
	}

	// The next run re-reads the overlap: nothing is recorded twice.
	e.clock.Add(30 * time.Second)
	_ = e.kv.Del(ctx, keyLease)
	res = mustRun(t, r)
	if len(res.Recovered) != 0 || res.Seen == 0 {
		t.Fatalf("second run recovered %v (seen %d); want nothing new from the overlap", res.Recovered, res.Seen)
	}
	if n := e.length(t, e.writeback); n != 4 {
		t.Fatalf("writeback holds %d after the overlap, want 4", n)
	}
}

func TestLeaseLetsOneInstanceRead(t *testing.T) {
	e := newEnv(t)
	e.completeTask(t, "003000000000000AAA")
	a, b := e.reconciler(t, "a", nil), e.reconciler(t, "b", nil)
	var wg sync.WaitGroup
	results := make([]Result, 2)
	for i, r := range []*Reconciler{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if results[i], err = r.RunOnce(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if results[0].Ran == results[1].Ran {
		t.Fatalf("ran: a=%v b=%v, want exactly one", results[0].Ran, results[1].Ran)
	}
	// One run's calls: one Events list per writeback type, one Messages list.
	if n := e.sim.Calls(twiliosim.OpListEvents); n != len(webhooks.WritebackEventTypes()) {
		t.Fatalf("events list calls = %d, want %d", n, len(webhooks.WritebackEventTypes()))
	}
	if n := e.sim.Calls(twiliosim.OpListMessages); n != 1 {
		t.Fatalf("messages list calls = %d, want 1", n)
	}
	// The lease expires within one interval: a killed holder blocks nobody.
	ttl, err := e.rdb.PTTL(context.Background(), e.kv.Key(keyLease)).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("lease TTL %v (err %v), want (0, 1m]", ttl, err)
	}
	_ = e.kv.Del(context.Background(), keyLease) // as if it expired
	if res, err := b.RunOnce(context.Background()); err != nil || !res.Ran {
		t.Fatalf("after the lease expired: ran=%v err=%v", res.Ran, err)
	}
}

func TestTwilioErrorKeepsCheckpointAndNothingIsLost(t *testing.T) {
	e := newEnv(t)
	r := e.reconciler(t, "a", nil)
	mustRun(t, r) // sets both checkpoints
	start, _ := e.checkpoint(t, keyEventsCursor)

	e.clock.Add(10 * time.Second)
	sid := e.completeTask(t, "003000000000000AAA")
	_, _ = e.sim.ReceiveSMS("+12125550123", "+12125550100", "STOP", "STOP")
	e.clock.Add(time.Minute)
	_ = e.kv.Del(context.Background(), keyLease)
	e.sim.FailNext(twiliosim.OpListEvents, 1, 500)
	e.sim.FailNext(twiliosim.OpListMessages, 1, 503)
	res, err := r.RunOnce(context.Background())
	if err == nil || !res.Ran {
		t.Fatalf("run with Twilio failing: ran=%v err=%v, want an error", res.Ran, err)
	}
	for _, key := range []string{keyEventsCursor, keyMessagesCursor} {
		if cp, _ := e.checkpoint(t, key); !cp.Equal(start) {
			t.Fatalf("checkpoint %s moved to %v after a failed run (was %v)", key, cp, start)
		}
	}

	e.clock.Add(time.Minute)
	_ = e.kv.Del(context.Background(), keyLease)
	res = mustRun(t, r)
	if res.Recovered["task.completed"] != 1 || res.Recovered["sms_stop"] != 1 {
		t.Fatalf("next run recovered %v, want the outcome of %s and the STOP", res.Recovered, sid)
	}
	if cp, _ := e.checkpoint(t, keyEventsCursor); !cp.Equal(e.clock.Now()) {
		t.Fatalf("checkpoint %v, want %v", cp, e.clock.Now())
	}
}

func TestOneSourceFailingLetsTheOtherAdvance(t *testing.T) {
	e := newEnv(t)
	r := e.reconciler(t, "a", nil)
	e.sim.FailNext(twiliosim.OpListMessages, 1, 500)
	if _, err := r.RunOnce(context.Background()); err == nil {
		t.Fatal("want an error")
	}
	if _, ok := e.checkpoint(t, keyEventsCursor); !ok {
		t.Fatal("events checkpoint not stored though events were read")
	}
	if _, ok := e.checkpoint(t, keyMessagesCursor); ok {
		t.Fatal("messages checkpoint stored after a failed read")
	}
}

func TestPagingAndCatchUp(t *testing.T) {
	e := newEnv(t)
	r := e.reconciler(t, "a", func(c *Config) { c.PageSize = 2; c.MaxSpan = 10 * time.Minute })
	mustRun(t, r)
	// 25 minutes down: 7 outcomes and 5 replies, spread out.
	for i := range 7 {
		e.clock.Add(3 * time.Minute)
		e.completeTask(t, fmt.Sprintf("00300000000000%04d", i))
		if i < 5 {
			_, _ = e.sim.ReceiveSMS(fmt.Sprintf("+1212555%04d", i), "+12125550100", "ok", "")
		}
	}
	e.clock.Add(4 * time.Minute)
	_ = e.kv.Del(context.Background(), keyLease)
	e.sim.ResetCalls()
	res := mustRun(t, r)
	if res.Recovered["task.completed"] != 7 || res.Recovered["sms_reply"] != 5 {
		t.Fatalf("recovered %v, want 7 outcomes and 5 replies", res.Recovered)
	}
	// 25 min in 10-min spans = 3 spans × 3 types, more pages where a span
	// holds more than 2 events; the messages need 3 pages of 2.
	if n := e.sim.Calls(twiliosim.OpListEvents); n < 9 {
		t.Fatalf("events list calls = %d, want at least 9", n)
	}
	if n := e.sim.Calls(twiliosim.OpListMessages); n < 3 {
		t.Fatalf("messages list calls = %d, want at least 3 pages", n)
	}
}

func TestFirstRunReadsABoundedWindow(t *testing.T) {
	e := newEnv(t)
	e.completeTask(t, "003000000000000AAA") // 2 hours before the first run
	e.clock.Add(2 * time.Hour)
	e.completeTask(t, "003000000000000AAB")
	r := e.reconciler(t, "a", nil)
	res := mustRun(t, r)
	if res.Recovered["task.completed"] != 1 {
		t.Fatalf("first run recovered %v, want only the outcome inside the first hour", res.Recovered)
	}
}

func TestMalformedItemsAreSkippedNotBlocking(t *testing.T) {
	e := newEnv(t)
	h := fakeHistory{e.tw, func(p twilio.EventsPage) twilio.EventsPage {
		bad := url.Values{"Sid": {"EV" + fmt.Sprintf("%032d", 1)}, "EventType": {"task.completed"},
			"TaskAttributes": {`{"crm":{"record_id":"003000000000000AAA"}}`}} // no TaskSid
		p.Forms = append(p.Forms, bad)
		return p
	}}
	r := e.reconciler(t, "a", func(c *Config) { c.History = h })
	e.completeTask(t, "003000000000000AAA")
	res := mustRun(t, r)
	if res.Recovered["task.completed"] != 1 {
		t.Fatalf("recovered %v", res.Recovered)
	}
	if _, ok := e.checkpoint(t, keyEventsCursor); !ok {
		t.Fatal("a malformed event held the checkpoint")
	}
}

type fakeHistory struct {
	*twilio.Client
	events func(twilio.EventsPage) twilio.EventsPage
}

func (f fakeHistory) ListEventsPage(ctx context.Context, typ string, start, end time.Time, size int, cursor string) (twilio.EventsPage, error) {
	p, err := f.Client.ListEventsPage(ctx, typ, start, end, size, cursor)
	if err == nil && typ == "task.completed" {
		p = f.events(p)
	}
	return p, err
}

var _ History = fakeHistory{}

func TestConfigIsChecked(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	_ = event.QueueWriteback
}

// The cost at rest, measured on the stand-in's counters: an hour of
// one-minute runs by two competing instances costs 60 × (3 Events lists,
// one per writeback event type, + 1 Messages list) = 240 Twilio calls.
func TestCostAtRestIs240CallsAnHour(t *testing.T) {
	if testing.Short() {
		t.Skip("six seconds of real lease expiries")
	}
	e := newEnv(t)
	// A real lease, expiring in real time: 100 ms stands for the minute.
	mk := func(owner string) *Reconciler {
		return e.reconciler(t, owner, func(c *Config) { c.Interval = 100 * time.Millisecond })
	}
	a, b := mk("a"), mk("b")
	ranTotal := 0
	for range 60 {
		e.clock.Add(time.Minute)
		for _, r := range []*Reconciler{a, b} {
			res, err := r.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Ran {
				ranTotal++
			}
		}
		time.Sleep(100 * time.Millisecond) // let the lease lapse
	}
	calls := e.sim.Calls(twiliosim.OpListEvents) + e.sim.Calls(twiliosim.OpListMessages)
	t.Logf("at rest: %d runs, %d Twilio calls in a simulated hour", ranTotal, calls)
	if ranTotal != 60 || calls != 240 || e.sim.TotalCalls() != 240 {
		t.Fatalf("%d runs, %d list calls (%d in all); want 60 runs and 240 calls", ranTotal, calls, e.sim.TotalCalls())
	}
}

// The cost at 100 task events a second, measured: one run with the default
// one-minute interval reads two minutes (interval + overlap) = 12,000
// events in pages of 1,000, plus one empty page per other event type and
// one Messages page: 15 calls a run, 900 an hour.
func TestCostAt100EventsPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("12,000 events")
	}
	e := newEnv(t)
	r := e.reconciler(t, "a", nil)
	mustRun(t, r) // checkpoint now
	task, err := e.tw.CreateTask(context.Background(), map[string]any{"crm": map[string]any{"record_id": "003000000000000AAA"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(-time.Minute) // the overlap before the checkpoint is busy too
	for range 12000 {
		e.clock.Add(10 * time.Millisecond)
		if err := e.sim.SendTaskEvent(task.SID, "task.completed"); err != nil {
			t.Fatal(err)
		}
	}
	_ = e.kv.Del(context.Background(), keyLease)
	e.sim.ResetCalls()
	res := mustRun(t, r)
	calls := e.sim.TotalCalls()
	t.Logf("100 events/s: one run read %d events in %d Twilio calls (%d an hour at one run a minute)", res.Seen, calls, 60*calls)
	if res.Seen != 12000 || calls != 15 {
		t.Fatalf("seen %d in %d calls, want 12000 in 15", res.Seen, calls)
	}
}
