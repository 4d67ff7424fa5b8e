// Package kvcontract is the one contract every implementation of the flows'
// small key-value store meets (connector/redis.KV against a real
// redis-server, test/memkv in memory), as Watermill's universal Pub/Sub
// suite is for its adapters: a fake that passes it behaves like Redis where
// the flows' unit tests rely on it.
package kvcontract

import (
	"context"
	"testing"
	"time"
)

// Store is what the flows declare: get, set, set-if-absent, delete and a
// token-checked lock.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	Del(ctx context.Context, keys ...string) error
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// Run checks a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("get of a missing key", func(t *testing.T) {
		s := newStore(t)
		if v, ok, err := s.Get(ctx, "missing"); v != "" || ok || err != nil {
			t.Fatalf("Get = %q %v %v", v, ok, err)
		}
	})
	t.Run("set then get, set overwrites", func(t *testing.T) {
		s := newStore(t)
		for _, v := range []string{"1", "2"} {
			if err := s.Set(ctx, "k", v, time.Minute); err != nil {
				t.Fatal(err)
			}
			if got, ok, err := s.Get(ctx, "k"); got != v || !ok || err != nil {
				t.Fatalf("Get = %q %v %v, want %q", got, ok, err, v)
			}
		}
	})
	t.Run("set-if-absent keeps the first value", func(t *testing.T) {
		s := newStore(t)
		if ok, err := s.SetNX(ctx, "k", "first", time.Minute); !ok || err != nil {
			t.Fatalf("first SetNX = %v %v", ok, err)
		}
		if ok, err := s.SetNX(ctx, "k", "second", time.Minute); ok || err != nil {
			t.Fatalf("second SetNX = %v %v", ok, err)
		}
		if got, _, _ := s.Get(ctx, "k"); got != "first" {
			t.Fatalf("value %q", got)
		}
	})
	t.Run("delete, absent keys too", func(t *testing.T) {
		s := newStore(t)
		_ = s.Set(ctx, "a", "1", 0)
		_ = s.Set(ctx, "b", "1", 0)
		if err := s.Del(ctx, "a", "b", "never"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "b"} {
			if _, ok, _ := s.Get(ctx, k); ok {
				t.Fatalf("%s survived Del", k)
			}
		}
		if err := s.Del(ctx); err != nil {
			t.Fatalf("Del of nothing: %v", err)
		}
	})
	t.Run("lock is exclusive and released only by its holder", func(t *testing.T) {
		s := newStore(t)
		first, ok, err := s.Lock(ctx, "lock", time.Minute)
		if !ok || err != nil {
			t.Fatalf("Lock = %v %v", ok, err)
		}
		if _, ok, _ := s.Lock(ctx, "lock", time.Minute); ok {
			t.Fatal("a held lock was taken twice")
		}
		// The first holder outlived its lock: the key is gone (as at its
		// TTL) and someone else holds it now.
		_ = s.Del(ctx, "lock")
		second, ok, _ := s.Lock(ctx, "lock", time.Minute)
		if !ok {
			t.Fatal("a free lock was refused")
		}
		first()
		if _, ok, _ := s.Lock(ctx, "lock", time.Minute); ok {
			t.Fatal("the stale holder freed the newer holder's lock")
		}
		second()
		if again, ok, _ := s.Lock(ctx, "lock", time.Minute); !ok {
			t.Fatal("release did not free the lock")
		} else {
			again()
		}
	})
}

// Schedule is the flows' sorted set of due work (connector/redis.Schedule).
type Schedule interface {
	Set(ctx context.Context, at time.Time, members ...string) error
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
	Done(ctx context.Context, member string, claimedAt time.Time, lease time.Duration) error
}

// RunSchedule checks a fresh, empty schedule.
func RunSchedule(t *testing.T, newSchedule func(t *testing.T) Schedule) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	claim := func(t *testing.T, s Schedule, now time.Time, limit int) []string {
		t.Helper()
		got, err := s.Claim(ctx, now, time.Minute, limit)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	t.Run("claims what is due, earliest first, up to the limit", func(t *testing.T) {
		s := newSchedule(t)
		_ = s.Set(ctx, t0.Add(3*time.Second), "c")
		_ = s.Set(ctx, t0.Add(time.Second), "a")
		_ = s.Set(ctx, t0.Add(2*time.Second), "b")
		_ = s.Set(ctx, t0.Add(time.Hour), "later")
		if got := claim(t, s, t0, 10); len(got) != 0 {
			t.Fatalf("claimed %v before anything was due", got)
		}
		if got := claim(t, s, t0.Add(5*time.Second), 2); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Fatalf("claimed %v, want [a b]", got)
		}
		if got := claim(t, s, t0.Add(5*time.Second), 10); len(got) != 1 || got[0] != "c" {
			t.Fatalf("claimed %v, want [c]: a and b are leased", got)
		}
	})
	t.Run("a claim not finished is due again when its lease ends", func(t *testing.T) {
		s := newSchedule(t)
		_ = s.Set(ctx, t0, "m")
		if got := claim(t, s, t0, 10); len(got) != 1 {
			t.Fatalf("claimed %v", got)
		}
		if got := claim(t, s, t0.Add(30*time.Second), 10); len(got) != 0 {
			t.Fatalf("claimed %v within the lease", got)
		}
		if got := claim(t, s, t0.Add(time.Minute), 10); len(got) != 1 {
			t.Fatalf("claimed %v after the lease", got)
		}
	})
	t.Run("done removes, unless rescheduled past the lease", func(t *testing.T) {
		s := newSchedule(t)
		_ = s.Set(ctx, t0, "done", "moved")
		if got := claim(t, s, t0, 10); len(got) != 2 {
			t.Fatalf("claimed %v", got)
		}
		_ = s.Set(ctx, t0.Add(time.Hour), "moved")
		for _, m := range []string{"done", "moved"} {
			if err := s.Done(ctx, m, t0, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if got := claim(t, s, t0.Add(2*time.Hour), 10); len(got) != 1 || got[0] != "moved" {
			t.Fatalf("claimed %v, want [moved]", got)
		}
	})
}
