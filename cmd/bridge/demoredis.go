package main

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// redisTick is how often the embedded Redis's clock moves: a key expires at
// most this late, as real Redis's active expiry also lags a little.
const redisTick = 100 * time.Millisecond

// embeddedRedis starts miniredis with its clock running. miniredis only
// expires keys when told time has passed (FastForward), so without this a
// 10-second dedupe window would last as long as the demo.
func embeddedRedis(ctx context.Context) (mr *miniredis.Miniredis, stop func(), err error) {
	mr, err = miniredis.Run()
	if err != nil {
		return nil, nil, fmt.Errorf("embedded redis: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runClock(ctx, mr, redisTick, time.Now)
	}()
	return mr, func() { cancel(); <-done; mr.Close() }, nil
}

// runClock moves mr's TTLs forward by the real time elapsed, every tick.
func runClock(ctx context.Context, mr *miniredis.Miniredis, tick time.Duration, now func() time.Time) {
	t := time.NewTicker(tick)
	defer t.Stop()
	last := now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := now()
			mr.FastForward(n.Sub(last))
			last = n
		}
	}
}
