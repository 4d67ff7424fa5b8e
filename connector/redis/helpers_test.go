package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/test/redistest"
)

// mustOpen connects to $BRIDGE_TEST_REDIS_URL or a private server.
func mustOpen(tb testing.TB, url string) goredis.UniversalClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, url)
	if err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// uniqueName keeps tests apart on a shared Redis.
func uniqueName(tb testing.TB) string {
	return fmt.Sprintf("t%d", time.Now().UnixNano())
}

// fastConfig is a queue config with ms-scale timings.
func fastConfig(tb testing.TB, name, consumer string) QueueConfig {
	return QueueConfig{
		Name:      name,
		Consumer:  consumer,
		BatchSize: 50,
		ClaimIdle: 200 * time.Millisecond,
		Retry:     RetryPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, GiveUpAfter: time.Minute},
		DedupeTTL: time.Hour,
	}
}

func mustQueue(tb testing.TB, c goredis.UniversalClient, cfg QueueConfig) *Queue {
	tb.Helper()
	q, err := NewQueue(c, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Close(ctx)
	})
	return q
}

// startRun runs q in the background; the returned func stops it and waits.
func startRun(tb testing.TB, q *Queue, h BatchHandler) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				tb.Errorf("Run did not return after cancel")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// eventually polls cond; the timeout only bounds a failing test.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustEnqueue(tb testing.TB, q *Queue, items ...Item) []bool {
	tb.Helper()
	res, err := q.Enqueue(context.Background(), items...)
	if err != nil {
		tb.Fatalf("enqueue: %v", err)
	}
	return res
}

func items(prefix string, n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = Item{Key: fmt.Sprintf("%s-%d", prefix, i), Payload: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	return out
}

// recorder is a handler that counts deliveries per key.
type recorder struct {
	mu      sync.Mutex
	seen    map[string]int
	batches []int
	msgs    []Message
	fail    func(m Message) error
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

func (r *recorder) handle(ctx context.Context, msgs []Message) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, len(msgs))
	out := make([]error, len(msgs))
	for i, m := range msgs {
		r.seen[m.Key]++
		r.msgs = append(r.msgs, m)
		if r.fail != nil {
			out[i] = r.fail(m)
		}
	}
	return out
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[key]
}

func (r *recorder) calls() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.batches...)
}

func waitDrained(tb testing.TB, q *Queue) {
	tb.Helper()
	eventually(tb, "queue drained", func() bool {
		st, err := q.Stats(context.Background())
		return err == nil && st.Length == 0 && st.Pending == 0 && st.Retrying == 0
	})
}

// privateURL is a redis-server of the test's own: dead letters and queue
// registrations are global to a server, so sharing one would mix tests.
func privateURL(tb testing.TB) string { return redistest.Start(tb).URL() }
