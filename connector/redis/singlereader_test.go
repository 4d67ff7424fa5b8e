package redis

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// With SingleReader, one consumer at a time fills a batch of new entries,
// so a trickle is not split between consumers, and another goes on when the
// reader stops.
func TestSingleReaderBatchesOnOneConsumerAndHandsOver(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	name := uniqueName(t)
	cfg := func(consumer string) QueueConfig {
		qc := fastConfig(t, name, consumer)
		qc.ClaimIdle = 3 * time.Second // lease of 1 s, longer than a linger
		qc.Linger = 200 * time.Millisecond
		qc.SingleReader = true
		return qc
	}
	a, b := mustQueue(t, c, cfg("a")), mustQueue(t, c, cfg("b"))
	ra, rb := newRecorder(), newRecorder()
	stopA := startRun(t, a, ra.handle)
	startRun(t, b, rb.handle)

	// A trickle: one item every 20 ms for 0.8 s. One linger window at a
	// time means about one batch per 200 ms linger; two readers lingering
	// side by side would make twice the handler calls.
	for i := 0; i < 40; i++ {
		mustEnqueue(t, a, Item{Key: fmt.Sprintf("k%d", i), Payload: []byte("p")})
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, "40 items handled", func() bool { return ra.distinct()+rb.distinct() == 40 })
	n := len(ra.calls()) + len(rb.calls())
	t.Logf("%d handler calls (a %d, b %d)", n, len(ra.calls()), len(rb.calls()))
	if n > 6 {
		t.Fatalf("%d handler calls for a 0.8 s trickle with a 200 ms linger: batches were split", n)
	}
	leader, follower, rl, rf := a, b, ra, rb
	stopLeader := stopA
	if len(rb.calls()) > len(ra.calls()) {
		leader, follower, rl, rf = b, a, rb, ra
		stopLeader = nil
	}
	// The reader stops: the other takes the lease at once and goes on.
	if stopLeader != nil {
		stopLeader()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = leader.Close(ctx)
	}
	mustEnqueue(t, follower, Item{Key: "after", Payload: []byte("p")})
	eventually(t, "the other consumer to read", func() bool { return rf.count("after") == 1 })
	if rl.distinct()+rf.distinct() != 41 {
		t.Fatalf("handled %d, want 41", rl.distinct()+rf.distinct())
	}
}
