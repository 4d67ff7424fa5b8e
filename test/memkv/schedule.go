package memkv

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Schedule is an in-memory sorted set of due work with
// connector/redis.Schedule's lease semantics: Claim hands out members due
// by now and pushes them a lease ahead; Done drops a member only if nobody
// moved it past the claimer's lease since.
type Schedule struct {
	mu  sync.Mutex
	due map[string]time.Time
}

// Set schedules members at at.
func (s *Schedule) Set(_ context.Context, at time.Time, members ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.due == nil {
		s.due = map[string]time.Time{}
	}
	for _, m := range members {
		s.due[m] = at
	}
	return nil
}

// Claim leases up to limit members due by now.
func (s *Schedule) Claim(_ context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for m, at := range s.due {
		if !at.After(now) {
			out = append(out, m)
		}
	}
	// Earliest first, ties by member: ZRANGEBYSCORE's order.
	slices.SortFunc(out, func(a, b string) int {
		if c := s.due[a].Compare(s.due[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out = out[:min(len(out), max(limit, 0))]
	for _, m := range out {
		s.due[m] = now.Add(lease)
	}
	return out, nil
}

// Done drops m if it still holds the claim made at claimedAt.
func (s *Schedule) Done(_ context.Context, m string, claimedAt time.Time, lease time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.due[m]; ok && !at.After(claimedAt.Add(lease)) {
		delete(s.due, m)
	}
	return nil
}

// At is when m is due (zero if it is not scheduled).
func (s *Schedule) At(m string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.due[m]
}
