package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityhealth/bridge/queue"
)

type ev struct {
	key string
	at  int // orders events of one key
	n   int // arrival
}

func keyOf(e ev) string { return e.key }
func byAt(a, b ev) bool { return a.at < b.at }
func events(spec string) []ev { // "a3 b1 a1 …": key and order
	var out []ev
	for i, f := range strings.Fields(spec) {
		out = append(out, ev{key: f[:1], at: int(f[1] - '0'), n: i})
	}
	return out
}

func TestByKeyOrdersEachKey(t *testing.T) {
	items := events("a3 b1 a1 c2 a2 b0 a1")
	var mu sync.Mutex
	seen := map[string][]int{}
	errs := queue.ByKey(context.Background(), items, 4, keyOf, byAt, func(_ context.Context, e ev) error {
		mu.Lock()
		defer mu.Unlock()
		seen[e.key] = append(seen[e.key], e.n)
		return nil
	})
	if len(errs) != len(items) || slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatalf("errs %v", errs)
	}
	// By at, then arrival: a1 (n=2), a1 (n=6), a2, a3.
	want := map[string][]int{"a": {2, 6, 4, 0}, "b": {5, 1}, "c": {3}}
	for k, w := range want {
		if !slices.Equal(seen[k], w) {
			t.Errorf("key %s handled in order %v, want %v", k, seen[k], w)
		}
	}
}

func TestByKeyNilLessKeepsArrival(t *testing.T) {
	items := events("a3 a1 a2")
	var got []int
	queue.ByKey(context.Background(), items, 2, keyOf, nil, func(_ context.Context, e ev) error {
		got = append(got, e.n) // one key: never concurrent
		return nil
	})
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("order %v", got)
	}
}

// At most parallelism keys run at once, and that many do; one key never
// runs two items at once.
func TestByKeyParallelismBound(t *testing.T) {
	const p = 3
	var items []ev
	for i := range 24 {
		items = append(items, ev{key: fmt.Sprint(i % 8), at: i, n: i})
	}
	var running, peak atomic.Int32
	var mu sync.Mutex
	busy := map[string]bool{}
	full := make(chan struct{})
	var once sync.Once
	errs := queue.ByKey(context.Background(), items, p, keyOf, byAt, func(_ context.Context, e ev) error {
		mu.Lock()
		if busy[e.key] {
			mu.Unlock()
			return errors.New("two items of one key at once")
		}
		busy[e.key] = true
		mu.Unlock()
		defer func() { mu.Lock(); busy[e.key] = false; mu.Unlock() }()

		n := running.Add(1)
		defer running.Add(-1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		if n == p {
			once.Do(func() { close(full) })
		}
		select {
		case <-full:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("parallelism never reached")
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	if got := peak.Load(); got != p {
		t.Fatalf("peak %d items at once, want %d", got, p)
	}
}

func TestByKeyErrorsInItemOrder(t *testing.T) {
	items := events("a2 b1 a1 c1 b2")
	errs := queue.ByKey(context.Background(), items, 2, keyOf, byAt, func(_ context.Context, e ev) error {
		if e.key == "c" {
			return nil
		}
		return fmt.Errorf("item %d", e.n)
	})
	for i, err := range errs {
		want := fmt.Sprintf("item %d", i)
		if items[i].key == "c" {
			want = ""
		}
		if got := fmt.Sprint(err); err != nil && got != want || err == nil && want != "" {
			t.Errorf("errs[%d] = %v, want %q", i, err, want)
		}
	}
}

func TestByKeyStopsWhenContextEnds(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		calls := 0
		errs := queue.ByKey(ctx, events("a1 b1 a2"), 2, keyOf, byAt, func(context.Context, ev) error { calls++; return nil })
		// The first key may take a slot before the loop sees ctx; its
		// goroutine still starts nothing.
		if calls != 0 {
			t.Fatalf("%d items handled after cancel", calls)
		}
		for i, err := range errs {
			if !errors.Is(err, context.Canceled) || queue.IsPermanent(err) {
				t.Errorf("errs[%d] = %v, want a retryable context.Canceled", i, err)
			}
		}
	})
	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var handled []int
		errs := queue.ByKey(ctx, events("a1 a2 b1 c1"), 1, keyOf, byAt, func(_ context.Context, e ev) error {
			handled = append(handled, e.n)
			cancel()
			return nil
		})
		if !slices.Equal(handled, []int{0}) {
			t.Fatalf("handled %v after cancel", handled)
		}
		if errs[0] != nil {
			t.Errorf("errs[0] = %v", errs[0])
		}
		for i, err := range errs[1:] {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("errs[%d] = %v, want context.Canceled", i+1, err)
			}
		}
	})
}

func TestByKeyEmpty(t *testing.T) {
	if errs := queue.ByKey(context.Background(), []ev(nil), 0, keyOf, byAt, func(context.Context, ev) error { return nil }); len(errs) != 0 {
		t.Fatalf("errs %v", errs)
	}
}
