package monitoring

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/test/redistest"
)

// Two instances sharing Redis place calls at most CallsPerSecond together:
// each call gets its own slot of 1/CallsPerSecond.
func TestPaceAcrossInstances(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	flows := []*Flow{{cfg: Config{Store: kv, CallsPerSecond: 10}}, {cfg: Config{Store: kv, CallsPerSecond: 10}}}
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := flows[i%2].pace(context.Background()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
	if d := times[len(times)-1].Sub(start); d < 600*time.Millisecond {
		t.Fatalf("8 calls at 10/s took %v, want at least 0.6 s", d)
	}
	// Any 4 calls in a row span 3 slots (timers may wake a little late).
	for i := 3; i < len(times); i++ {
		if span := times[i].Sub(times[i-3]); span < 200*time.Millisecond {
			t.Fatalf("calls %d to %d within %v", i-3, i, span)
		}
	}
}
