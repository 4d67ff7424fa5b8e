package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/redistest"
)

// Queue scripts touch several keys; on a real cluster they only work if
// every key shares the queue's slot.
func TestClusterQueue(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	c := mustOpen(t, cl.URL())
	ctx := context.Background()
	dl := NewDeadLetters(c)
	for _, name := range []string{"records", "writeback", "monitoring"} {
		q := mustQueue(t, c, fastConfig(t, name, "a"))
		r := newRecorder()
		r.fail = func(m Message) error {
			if m.Key == "bad" {
				return queue.Permanent(errors.New("bad"))
			}
			if m.Key == "flaky" && m.Attempts == 1 {
				return errors.New("try again")
			}
			return nil
		}
		startRun(t, q, r.handle)
		got := mustEnqueue(t, q, append(items(name, 100), Item{Key: name + "-1"}, Item{Key: "bad", Payload: []byte("x")}, Item{Key: "flaky", Payload: []byte("y")})...)
		if got[100] {
			t.Fatalf("%s: duplicate accepted on cluster", name)
		}
		eventually(t, name+" handled", func() bool { return r.distinct() == 102 && r.count("flaky") == 2 })
		waitDrained(t, q)
	}
	var letters []DeadLetter
	eventually(t, "dead letters", func() bool { letters, _ = dl.List(ctx, 10); return len(letters) == 3 })
	if err := dl.Replay(ctx, letters[0].ID); err != nil {
		t.Fatalf("replay on cluster: %v", err)
	}
	kv, err := NewKV(c, "cl")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		release, ok, err := kv.Lock(ctx, fmt.Sprint("lock:", i), time.Minute)
		if !ok || err != nil {
			t.Fatalf("lock on cluster: %v %v", ok, err)
		}
		release()
	}
}
