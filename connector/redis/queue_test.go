package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/redistest"
)

func TestConfigValidate(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, tc := range []struct {
		name string
		cfg  QueueConfig
		want string
	}{
		{"empty name", QueueConfig{}, "queue name"},
		{"brace in name", QueueConfig{Name: "a{b}"}, "queue name"},
		{"batch too big", QueueConfig{Name: "a", BatchSize: 5000}, "BatchSize"},
		{"max below initial", QueueConfig{Name: "a", Retry: RetryPolicy{Initial: time.Second, Max: time.Millisecond}}, "Initial <= Max"},
		{"negative linger", QueueConfig{Name: "a", Linger: -1}, "Linger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewQueue(c, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := NewQueue(c, QueueConfig{Name: "records"}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestEnqueueDedupes(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	ctx := context.Background()

	got := mustEnqueue(t, q, Item{Key: "n1", Payload: []byte("x")})
	if !got[0] {
		t.Fatal("first enqueue reported duplicate")
	}
	got = mustEnqueue(t, q, Item{Key: "n1", Payload: []byte("x")}, Item{Key: "n2"}, Item{Key: "n2"}, Item{Payload: []byte("nokey")}, Item{Payload: []byte("nokey")})
	want := []bool{false, true, false, true, true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("enqueue results %v, want %v", got, want)
	}
	if n := c.XLen(ctx, q.keys.stream).Val(); n != 4 {
		t.Fatalf("stream length %d, want 4", n)
	}
	ttl := c.PTTL(ctx, q.keys.seenPrefix+"n1").Val()
	if ttl <= 0 || ttl > time.Hour {
		t.Fatalf("seen key TTL %s, want (0, 1h]", ttl)
	}
}

// A failing XADD must leave no seen key, or the sender's retry would be
// dropped as a duplicate and the event lost.
func TestEnqueueAtomic(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	ctx := context.Background()
	if err := c.Set(ctx, q.keys.stream, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, items("k", 3)...); err == nil {
		t.Fatal("enqueue onto a broken stream succeeded")
	}
	if n := c.Exists(ctx, q.keys.seenPrefix+"k-0", q.keys.seenPrefix+"k-1", q.keys.seenPrefix+"k-2").Val(); n != 0 {
		t.Fatalf("%d seen keys written without a stream entry", n)
	}
	c.Del(ctx, q.keys.stream)
	got := mustEnqueue(t, q, items("k", 3)...)
	for i, ok := range got {
		if !ok {
			t.Fatalf("item %d reported duplicate after the failed attempt", i)
		}
	}
	if n := c.XLen(ctx, q.keys.stream).Val(); n != 3 {
		t.Fatalf("stream length %d, want 3", n)
	}
}

func TestEnqueueRedisDownFails(t *testing.T) {
	s := redistest.Start(t)
	c := mustOpen(t, s.URL())
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	s.Stop()
	start := time.Now()
	_, err := q.Enqueue(context.Background(), items("k", 5)...)
	if err == nil {
		t.Fatal("enqueue against a stopped Redis succeeded")
	}
	// Generous bound: it must not hang until some far-off timeout.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("enqueue took %s to fail", d)
	}
}

func TestRunHandlesAndAcks(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	mustEnqueue(t, q, items("k", 120)...)
	r := newRecorder()
	startRun(t, q, r.handle)
	eventually(t, "all handled", func() bool { return r.distinct() == 120 })
	waitDrained(t, q)
	for k, n := range r.seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	for _, m := range r.msgs {
		if m.Attempts != 1 || m.FirstSeen.IsZero() || len(m.Payload) == 0 {
			t.Fatalf("message %+v: want attempts 1, first seen and payload", m)
		}
	}
}

// ActiveConsumers sees an instance working the queue, and none before one
// ever read it (so backfill can tell that nothing will work what it adds).
func TestActiveConsumers(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	if n, err := q.ActiveConsumers(ctx, time.Minute); n != 0 || err != nil {
		t.Fatalf("before any reader: %d %v", n, err)
	}
	mustEnqueue(t, q, items("k", 3)...)
	if n, err := q.ActiveConsumers(ctx, time.Minute); n != 0 || err != nil {
		t.Fatalf("enqueued, no reader: %d %v", n, err)
	}
	r := newRecorder()
	startRun(t, q, r.handle)
	eventually(t, "all handled", func() bool { return r.distinct() == 3 })
	if n, err := q.ActiveConsumers(ctx, time.Minute); n != 1 || err != nil {
		t.Fatalf("one reader: %d %v", n, err)
	}
}

func TestBatchSizeRespected(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	cfg := fastConfig(t, uniqueName(t), "a")
	cfg.BatchSize = 200
	cfg.Linger = 50 * time.Millisecond
	q := mustQueue(t, c, cfg)
	for i := range 10 {
		mustEnqueue(t, q, items(fmt.Sprintf("b%d", i), 100)...)
	}
	r := newRecorder()
	startRun(t, q, r.handle)
	eventually(t, "all handled", func() bool { return r.distinct() == 1000 })
	calls := r.calls()
	for _, n := range calls {
		if n > 200 {
			t.Fatalf("batch of %d exceeds BatchSize 200", n)
		}
	}
	if len(calls) != 5 {
		t.Fatalf("%d handler calls %v, want 5 full batches", len(calls), calls)
	}
}

// Linger fills a batch from items that arrive while it waits.
func TestLingerFillsBatch(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	cfg := fastConfig(t, uniqueName(t), "a")
	cfg.BatchSize = 10
	cfg.Linger = 2 * time.Second
	q := mustQueue(t, c, cfg)
	r := newRecorder()
	startRun(t, q, r.handle)
	for i := range 10 {
		mustEnqueue(t, q, Item{Key: fmt.Sprint(i), Payload: []byte("x")})
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, "all handled", func() bool { return r.distinct() == 10 })
	if calls := r.calls(); len(calls) != 1 {
		t.Fatalf("handler calls %v, want one batch of 10", calls)
	}
}

// Consumer A reads entries and dies without acking; B takes them over after
// ClaimIdle and handles each exactly once.
func TestTakeoverFromDeadConsumer(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	name := uniqueName(t)
	cfgA := fastConfig(t, name, "A")
	qa := mustQueue(t, c, cfgA)
	mustEnqueue(t, qa, items("k", 30)...)
	if err := qa.setup(ctx); err != nil {
		t.Fatal(err)
	}
	// A's read: the entries are now pending for A, who never acks.
	res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: groupName, Consumer: "A", Streams: []string{qa.keys.stream, ">"}, Count: 20}).Result()
	if err != nil || len(res[0].Messages) != 20 {
		t.Fatalf("A's read: %v, %v", res, err)
	}
	mustEnqueue(t, qa, items("late", 5)...)

	cfgB := fastConfig(t, name, "B")
	cfgB.ClaimIdle = 100 * time.Millisecond
	qb := mustQueue(t, c, cfgB)
	r := newRecorder()
	startRun(t, qb, r.handle)
	eventually(t, "all handled", func() bool { return r.distinct() == 35 })
	waitDrained(t, qb)
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	taken := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m.Key, "k-") && m.Attempts == 2 {
			taken++
		}
	}
	if taken != 20 {
		t.Errorf("%d taken-over messages report attempt 2, want 20", taken)
	}
}

// A consumer restarting under the same name first finishes its own
// pending entries.
func TestRestartSameConsumerResumesPending(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	cfg := fastConfig(t, uniqueName(t), "A")
	cfg.ClaimIdle = time.Hour // no takeover: only the history read can find them
	q := mustQueue(t, c, cfg)
	mustEnqueue(t, q, items("k", 10)...)
	if err := q.setup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: groupName, Consumer: "A", Streams: []string{q.keys.stream, ">"}, Count: 10}).Result(); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	startRun(t, q, r.handle)
	eventually(t, "pending handled", func() bool { return r.distinct() == 10 })
	waitDrained(t, q)
}

// The heartbeat keeps a slow batch from being taken over by a live peer.
func TestSlowBatchNotTakenOver(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	name := uniqueName(t)
	var mu sync.Mutex
	seen := map[string]int{}
	slow := func(ctx context.Context, msgs []Message) []error {
		mu.Lock()
		for _, m := range msgs {
			seen[m.Key]++
		}
		mu.Unlock()
		time.Sleep(900 * time.Millisecond)
		return nil
	}
	for _, consumer := range []string{"A", "B"} {
		cfg := fastConfig(t, name, consumer)
		// Idle well past the heartbeat (ClaimIdle/3) even on a loaded machine,
		// and far shorter than the batch: only the heartbeat prevents a takeover.
		cfg.ClaimIdle = 300 * time.Millisecond
		cfg.BatchSize = 5
		startRun(t, mustQueue(t, c, cfg), slow)
	}
	q := mustQueue(t, c, fastConfig(t, name, "producer"))
	mustEnqueue(t, q, items("k", 10)...)
	eventually(t, "all handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 10
	})
	waitDrained(t, q)
	mu.Lock()
	defer mu.Unlock()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
}

func TestTwoConsumersShareWork(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	name := uniqueName(t)
	var mu sync.Mutex
	seen := map[string]int{}
	byConsumer := map[string]int{}
	handler := func(consumer string) BatchHandler {
		return func(ctx context.Context, msgs []Message) []error {
			mu.Lock()
			for _, m := range msgs {
				seen[m.Key]++
			}
			byConsumer[consumer] += len(msgs)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			return nil
		}
	}
	var qs []*Queue
	for _, consumer := range []string{"A", "B"} {
		cfg := fastConfig(t, name, consumer)
		cfg.BatchSize = 10
		q := mustQueue(t, c, cfg)
		qs = append(qs, q)
		startRun(t, q, handler(consumer))
	}
	for i := range 20 {
		mustEnqueue(t, qs[0], items(fmt.Sprintf("b%d", i), 25)...)
	}
	eventually(t, "all handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 500
	})
	waitDrained(t, qs[0])
	mu.Lock()
	defer mu.Unlock()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	if byConsumer["A"] == 0 || byConsumer["B"] == 0 {
		t.Errorf("work not shared: %v", byConsumer)
	}
}

func TestRetryThenDeadLetterAfterGiveUp(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	cfg := fastConfig(t, uniqueName(t), "a")
	// GiveUpAfter leaves room for several 5-20 ms retries on a loaded machine.
	cfg.Retry = RetryPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, GiveUpAfter: time.Second}
	q := mustQueue(t, c, cfg)
	r := newRecorder()
	r.fail = func(Message) error { return errors.New("salesforce: 503 unavailable") }
	startRun(t, q, r.handle)
	mustEnqueue(t, q, Item{Key: "ev-1", Payload: []byte(`{"id":"ev-1"}`)})

	dl := NewDeadLetters(c)
	var letters []DeadLetter
	eventually(t, "dead letter", func() bool {
		var err error
		letters, err = dl.List(context.Background(), 10)
		return err == nil && len(letters) == 1
	})
	d := letters[0]
	calls := r.count("ev-1")
	if calls < 3 {
		t.Fatalf("handler called %d times before giving up; want retries", calls)
	}
	if d.Attempts != calls || d.Error != "salesforce: 503 unavailable" || d.Queue != q.Name() ||
		d.Key != "ev-1" || string(d.Payload) != `{"id":"ev-1"}` {
		t.Fatalf("dead letter %+v; handler calls %d", d, calls)
	}
	if d.FailedAt.Sub(d.FirstSeen) < cfg.Retry.GiveUpAfter {
		t.Fatalf("gave up after %s, before GiveUpAfter %s", d.FailedAt.Sub(d.FirstSeen), cfg.Retry.GiveUpAfter)
	}
	waitDrained(t, q)
	r.mu.Lock()
	for i, m := range r.msgs {
		if m.Attempts != i+1 {
			t.Errorf("call %d saw Attempts %d", i+1, m.Attempts)
		}
	}
	r.mu.Unlock()
}

func TestPermanentDeadLettersAtOnceAndReplay(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	var fails atomic.Bool
	fails.Store(true)
	r := newRecorder()
	r.fail = func(Message) error {
		if fails.Load() {
			return queue.Permanent(errors.New("INVALID_FIELD: No such column 'Foo__c'"))
		}
		return nil
	}
	startRun(t, q, r.handle)
	mustEnqueue(t, q, Item{Key: "ev-1", Payload: []byte("p1")}, Item{Key: "ev-2", Payload: []byte("p2")})
	dl := NewDeadLetters(c)
	ctx := context.Background()
	var letters []DeadLetter
	eventually(t, "dead letters", func() bool {
		letters, _ = dl.List(ctx, 10)
		return len(letters) == 2
	})
	for _, d := range letters {
		if d.Attempts != 1 || !strings.Contains(d.Error, "INVALID_FIELD") || r.count(d.Key) != 1 {
			t.Fatalf("dead letter %+v (handler calls %d), want one attempt with the error", d, r.count(d.Key))
		}
	}
	if !letters[0].FailedAt.After(letters[1].FailedAt) && !letters[0].FailedAt.Equal(letters[1].FailedAt) {
		t.Fatalf("not newest first: %v then %v", letters[0].FailedAt, letters[1].FailedAt)
	}
	got, err := dl.Get(ctx, letters[0].ID)
	if err != nil || got.Key != letters[0].Key {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	st, _ := q.Stats(ctx)
	if st.Dead != 2 || st.Length != 0 {
		t.Fatalf("stats %+v", st)
	}

	fails.Store(false)
	if err := dl.Replay(ctx, letters[0].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replayed message handled", func() bool { return r.count(letters[0].Key) == 2 })
	if err := dl.Replay(ctx, letters[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second replay: %v, want ErrNotFound", err)
	}
	if _, err := dl.Get(ctx, letters[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after replay: %v, want ErrNotFound", err)
	}
	r.mu.Lock()
	last := r.msgs[len(r.msgs)-1]
	r.mu.Unlock()
	if last.Attempts != 1 {
		t.Fatalf("replayed message attempts %d, want reset to 1", last.Attempts)
	}
	left, _ := dl.List(ctx, 10)
	if len(left) != 1 || left[0].ID != letters[1].ID {
		t.Fatalf("left %+v", left)
	}
	if err := dl.Delete(ctx, left[0].ID); err != nil {
		t.Fatal(err)
	}
	if left, _ := dl.List(ctx, 10); len(left) != 0 {
		t.Fatalf("after delete: %+v", left)
	}
	if _, err := dl.Get(ctx, "nonsense"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(nonsense): %v", err)
	}
}

func TestDeadLettersListAcrossQueues(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	for i, name := range []string{uniqueName(t) + "a", uniqueName(t) + "b"} {
		q := mustQueue(t, c, fastConfig(t, name, "a"))
		startRun(t, q, func(ctx context.Context, msgs []Message) []error {
			return fill(len(msgs), queue.Permanent(errors.New("bad")))
		})
		mustEnqueue(t, q, items(fmt.Sprint(i), 3)...)
	}
	dl := NewDeadLetters(c)
	eventually(t, "dead letters of both queues", func() bool {
		l, _ := dl.List(ctx, 100)
		return len(l) == 6
	})
	l, _ := dl.List(ctx, 4)
	if len(l) != 4 {
		t.Fatalf("limit 4 gave %d", len(l))
	}
	for i := 1; i < len(l); i++ {
		if l[i].FailedAt.After(l[i-1].FailedAt) {
			t.Fatalf("not newest first at %d", i)
		}
	}
}

// The wait before a retry is the drawn backoff; jitter is pinned to its
// ceiling here so the lower bound is known.
func TestRetryWaitsBackoff(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	cfg := fastConfig(t, uniqueName(t), "a")
	cfg.Retry = RetryPolicy{Initial: 300 * time.Millisecond, Max: time.Second, GiveUpAfter: time.Minute}
	q := mustQueue(t, c, cfg)
	q.jitter = func(ceil time.Duration) time.Duration { return ceil }
	var mu sync.Mutex
	var times []time.Time
	startRun(t, q, func(ctx context.Context, msgs []Message) []error {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) < 3 {
			return fill(len(msgs), errors.New("transient"))
		}
		return nil
	})
	mustEnqueue(t, q, Item{Key: "k", Payload: []byte("x")})
	eventually(t, "third attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(times) == 3
	})
	if d := times[1].Sub(times[0]); d < 300*time.Millisecond {
		t.Errorf("first retry after %s, want >= 300ms", d)
	}
	if d := times[2].Sub(times[1]); d < 600*time.Millisecond {
		t.Errorf("second retry after %s, want >= 600ms (doubled)", d)
	}
}

func TestBackoffCeiling(t *testing.T) {
	p := RetryPolicy{Initial: time.Second, Max: time.Minute}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {70, time.Minute}} {
		if got := p.ceiling(tc.attempt); got != tc.want {
			t.Errorf("ceiling(%d) = %s, want %s", tc.attempt, got, tc.want)
		}
	}
	for range 1000 {
		if d := fullJitter(time.Second); d < 0 || d > time.Second {
			t.Fatalf("jitter %s out of [0, 1s]", d)
		}
	}
}

func TestMaxDeliveriesDeadLetters(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	cfg := fastConfig(t, uniqueName(t), "B")
	cfg.ClaimIdle = 50 * time.Millisecond
	cfg.Retry.MaxDeliveries = 2
	q := mustQueue(t, c, cfg)
	mustEnqueue(t, q, Item{Key: "poison", Payload: []byte("x")})
	if err := q.setup(ctx); err != nil {
		t.Fatal(err)
	}
	// Two consumers take it and die.
	if err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: groupName, Consumer: "A1", Streams: []string{q.keys.stream, ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, _, err := c.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: q.keys.stream, Group: groupName, Consumer: "A2", MinIdle: 50 * time.Millisecond, Start: "0"}).Result(); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	startRun(t, q, r.handle)
	dl := NewDeadLetters(c)
	var l []DeadLetter
	eventually(t, "dead letter", func() bool { l, _ = dl.List(ctx, 10); return len(l) == 1 })
	if r.count("poison") != 0 || l[0].Attempts != 3 || !strings.Contains(l[0].Error, "delivered 3 times") {
		t.Fatalf("handler calls %d, letter %+v", r.count("poison"), l[0])
	}
}

func TestHandlerPanicAndShortResultAreRetried(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	var calls atomic.Int32
	r := newRecorder()
	startRun(t, q, func(ctx context.Context, msgs []Message) []error {
		switch calls.Add(1) {
		case 1:
			panic("boom")
		case 2:
			return make([]error, len(msgs)+1) // wrong length, whatever the batch size
		}
		return r.handle(ctx, msgs)
	})
	mustEnqueue(t, q, items("k", 3)...)
	eventually(t, "handled after failures", func() bool { return r.distinct() == 3 })
	waitDrained(t, q)
}

func TestCloseWaitsForInFlightBatch(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	go func() {
		_ = q.Run(context.Background(), func(ctx context.Context, msgs []Message) []error {
			close(started)
			<-release
			finished.Store(true)
			return nil
		})
	}()
	mustEnqueue(t, q, Item{Key: "k", Payload: []byte("x")})
	<-started
	closed := make(chan error, 1)
	go func() { closed <- q.Close(context.Background()) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a batch was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("handler did not finish")
	}
	st, err := q.Stats(context.Background())
	if err != nil || st.Length != 0 || st.Pending != 0 {
		t.Fatalf("after Close: %+v, %v (in-flight batch not settled)", st, err)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := q.Run(context.Background(), newRecorder().handle); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestCloseDeadlineCancelsHandler(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	started := make(chan struct{})
	go func() {
		_ = q.Run(context.Background(), func(ctx context.Context, msgs []Message) []error {
			close(started)
			<-ctx.Done()
			return fill(len(msgs), ctx.Err())
		})
	}()
	mustEnqueue(t, q, Item{Key: "k", Payload: []byte("x")})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want deadline exceeded", err)
	}
}

// Redis is killed under a running consumer and comes back from its AOF:
// Run keeps going and everything is handled.
func TestRunSurvivesRedisRestart(t *testing.T) {
	s := redistest.Start(t, redistest.AppendOnly())
	c := mustOpen(t, s.URL())
	cfg := fastConfig(t, uniqueName(t), "a")
	cfg.BatchSize = 5
	q := mustQueue(t, c, cfg)
	mustEnqueue(t, q, items("k", 100)...)
	r := newRecorder()
	startRun(t, q, func(ctx context.Context, msgs []Message) []error {
		time.Sleep(10 * time.Millisecond)
		return r.handle(ctx, msgs)
	})
	eventually(t, "some handled", func() bool { return r.distinct() >= 10 })
	s.Kill()
	time.Sleep(300 * time.Millisecond)
	if _, err := q.Enqueue(context.Background(), Item{Key: "while-down"}); err == nil {
		t.Fatal("enqueue succeeded while Redis was down")
	}
	s.Restart()
	mustEnqueue(t, q, items("after", 20)...)
	eventually(t, "all handled", func() bool { return r.distinct() == 120 })
	waitDrained(t, q)
	if n := r.distinct(); n != 120 {
		t.Fatalf("handled %d distinct, want 120", n)
	}
}

func TestStatsAndMetrics(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	reg := prometheus.NewRegistry()
	cfg := fastConfig(t, uniqueName(t), "a")
	cfg.Registerer = reg
	q := mustQueue(t, c, cfg)
	ctx := context.Background()
	mustEnqueue(t, q, Item{Key: "a", Payload: []byte("1")}, Item{Key: "a"}, Item{Key: "b", Payload: []byte("2")})
	time.Sleep(5 * time.Millisecond)
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Length != 2 || st.Pending != 0 || st.OldestAge <= 0 {
		t.Fatalf("stats %+v", st)
	}
	if v := metricValue(q.metrics.enqueued); v != 2 {
		t.Errorf("enqueued %v", v)
	}
	if v := metricValue(q.metrics.duplicates); v != 1 {
		t.Errorf("duplicates %v", v)
	}
	startRun(t, q, func(ctx context.Context, msgs []Message) []error {
		out := make([]error, len(msgs))
		for i, m := range msgs {
			if m.Key == "b" {
				out[i] = queue.Permanent(errors.New("bad"))
			}
		}
		return out
	})
	waitDrained(t, q)
	eventually(t, "metrics", func() bool {
		return metricValue(q.metrics.handled.WithLabelValues("ok")) == 1 &&
			metricValue(q.metrics.handled.WithLabelValues("dead")) == 1
	})
	gauges := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if lp := m.GetLabel(); len(lp) == 0 || lp[0].GetName() != "queue" || lp[0].GetValue() != q.Name() {
				t.Fatalf("%s lacks the queue label", mf.GetName())
			}
			if m.Gauge != nil {
				gauges[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	if gauges["bridge_queue_depth"] != 0 || gauges["bridge_queue_dead_letters"] != 1 {
		t.Fatalf("gauges %v", gauges)
	}
	if _, err := NewQueue(c, cfg); err == nil {
		t.Fatal("second queue with the same name registered its metrics twice")
	}
}

func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// A replay that fails again is dead-lettered with what failed before, even
// when it went through retries in between, so it cannot pass for a new
// problem or for nothing having happened.
func TestReplayThatFailsAgainCarriesItsHistory(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	cfg := fastConfig(t, uniqueName(t), "a")
	cfg.Retry.GiveUpAfter = 200 * time.Millisecond
	q := mustQueue(t, c, cfg)
	var round atomic.Int32
	r := newRecorder()
	r.fail = func(Message) error {
		if round.Load() == 0 {
			return queue.Permanent(errors.New("first: INVALID_FIELD"))
		}
		return fmt.Errorf("round %d: 503", round.Load()) // retried, then given up
	}
	startRun(t, q, r.handle)
	mustEnqueue(t, q, Item{Key: "ev-1", Payload: []byte("p1")})
	dl := NewDeadLetters(c)
	ctx := context.Background()
	wait := func(notID string) DeadLetter {
		t.Helper()
		var got DeadLetter
		eventually(t, "a dead letter other than "+notID, func() bool {
			letters, _ := dl.List(ctx, 10)
			if len(letters) == 1 && letters[0].ID != notID {
				got = letters[0]
				return true
			}
			return false
		})
		return got
	}
	first := wait("")
	if len(first.History) != 0 || first.ReplayOf() != "" {
		t.Fatalf("a first failure has history: %+v", first)
	}

	round.Store(1)
	if err := dl.Replay(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	second := wait(first.ID)
	if second.ReplayOf() != first.ID || len(second.History) != 1 || second.History[0].Error != "first: INVALID_FIELD" ||
		second.History[0].Attempts != 1 || !second.History[0].FailedAt.Equal(first.FailedAt.UTC()) {
		t.Fatalf("second failure %+v, want it linked to %s", second, first.ID)
	}
	if !strings.HasPrefix(second.Error, "round 1") || second.Attempts < 2 {
		t.Fatalf("second failure's own error and attempts: %q %d", second.Error, second.Attempts)
	}

	round.Store(2)
	if err := dl.Replay(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	third := wait(second.ID)
	if third.ReplayOf() != second.ID || len(third.History) != 2 || third.History[0].ID != first.ID ||
		!strings.HasPrefix(third.History[1].Error, "round 1") {
		t.Fatalf("third failure %+v", third)
	}
}
