package redis

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// With SingleReader, one consumer builds every batch of new entries while
// the lease holds, and another takes over when it stops.
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

	// A trickle: a handful of items every 20 ms.
	for i := 0; i < 20; i++ {
		mustEnqueue(t, a, Item{Key: fmt.Sprintf("k%d", i), Payload: []byte("p")})
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, "20 items handled", func() bool { return ra.distinct()+rb.distinct() == 20 })
	if ra.distinct() != 0 && rb.distinct() != 0 {
		t.Fatalf("both consumers read new entries: a=%d b=%d", ra.distinct(), rb.distinct())
	}
	leader, follower, rl, rf := a, b, ra, rb
	stopLeader := stopA
	if rb.distinct() == 20 {
		leader, follower, rl, rf = b, a, rb, ra
		stopLeader = nil
	}
	if n := len(rl.calls()); n > 6 {
		t.Fatalf("%d handler calls for a 400 ms trickle with a 200 ms linger: batches were not filled", n)
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
	if rl.distinct()+rf.distinct() != 21 {
		t.Fatalf("handled %d, want 21", rl.distinct()+rf.distinct())
	}
}
