package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/queue"
)

func TestScheduleClaimsEachDueMemberOnce(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	s, err := NewSchedule(c, "test:due")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSchedule(c, "bad name*"); err == nil {
		t.Fatal("a schedule name with a glob character was accepted")
	}
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	due := map[string]time.Time{}
	for i := range 250 {
		due[fmt.Sprintf("c%03d|2026-03-03", i)] = t0.Add(-time.Duration(i) * time.Second)
	}
	due["later|2026-03-04"] = t0.Add(time.Hour)
	if err := s.SetEach(ctx, due); err != nil {
		t.Fatal(err)
	}
	// Four claimers at once: every due member is taken exactly once.
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 250 due members, 30 a claim: far fewer rounds than this bound.
			for range 100 {
				ms, err := s.Claim(ctx, t0, time.Minute, 30)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				got = append(got, ms...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(got)
	if len(got) != 250 || len(slices.Compact(slices.Clone(got))) != 250 || slices.Contains(got, "later|2026-03-04") {
		t.Fatalf("claimed %d members (%d distinct), want the 250 due ones once", len(got), len(slices.Compact(slices.Clone(got))))
	}
	// Unfinished claims come back when the lease ends; finished ones do not.
	for _, m := range got[:200] {
		if err := s.Done(ctx, m, t0, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if ms, _ := s.Claim(ctx, t0.Add(30*time.Second), time.Minute, 1000); len(ms) != 0 {
		t.Fatalf("%d members due again inside the lease", len(ms))
	}
	back, _ := s.Claim(ctx, t0.Add(61*time.Second), time.Minute, 1000)
	if len(back) != 50 {
		t.Fatalf("%d members back after the lease, want the 50 unfinished", len(back))
	}
	// A member rescheduled past the claim survives Done.
	if err := s.Set(ctx, t0.Add(24*time.Hour), back[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(ctx, back[0], t0.Add(61*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if at, ok, _ := s.When(ctx, back[0]); !ok || !at.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("rescheduled member: %v %v", at, ok)
	}
	// Members by prefix, glob characters taken literally.
	if err := s.Set(ctx, t0, "c*|x"); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Members(ctx, "c*|")
	if err != nil || len(ms) != 1 || ms[0] != "c*|x" {
		t.Fatalf("Members(c*|) = %v, %v", ms, err)
	}
	if n, _ := s.Len(ctx, t0.Add(2*time.Hour)); n < 2 {
		t.Fatalf("Len = %d", n)
	}
}

func TestDeadLettersForgetAContact(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ctx := context.Background()
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	startRun(t, q, func(ctx context.Context, msgs []Message) []error {
		return fill(len(msgs), queue.Permanent(errors.New("bad")))
	})
	var its []Item
	for i := range 450 {
		its = append(its, Item{Key: fmt.Sprintf("k%d", i), Payload: fmt.Appendf(nil, `{"from":"+1917555%04d"}`, i%3)})
	}
	its = append(its, Item{Key: "rec", Payload: []byte(`{"record_id":"003000000000001AAA","fields":{"FirstName":"Zoe"}}`)})
	mustEnqueue(t, q, its...)
	dl := NewDeadLetters(c)
	eventually(t, "all dead", func() bool { l, _ := dl.List(ctx, 1000); return len(l) == 451 })
	if err := dl.Forget(ctx, "003000000000001AAA", []string{"+19175550001"}); err != nil {
		t.Fatal(err)
	}
	left, _ := dl.List(ctx, 1000)
	if len(left) != 300 {
		t.Fatalf("%d dead letters left, want 300", len(left))
	}
	for _, d := range left {
		if strings.Contains(string(d.Payload), "+19175550001") || strings.Contains(string(d.Payload), "Zoe") {
			t.Fatalf("a dead letter of the forgotten contact survived: %s", d.Payload)
		}
	}
}
