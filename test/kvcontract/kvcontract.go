// Package kvcontract is the one contract every implementation of the flows'
// small key-value store meets (connector/redis.KV against a real
// redis-server, test/memkv in memory), as Watermill's universal Pub/Sub
// suite is for its adapters: a fake that passes it behaves like Redis where
// the flows' unit tests rely on it.
package kvcontract

import (
	"context"
	"slices"
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

// Recency is a sorted set ordered by push, last pushed first, that can
// take in a JSON list written by an older release (contacts' phone index).
type Recency interface {
	Store
	ZPushTop(ctx context.Context, key, member string, ttl time.Duration) error
	ZRem(ctx context.Context, key string, members ...string) error
	ZRevMembers(ctx context.Context, key string) ([]string, error)
	ZImportJSON(ctx context.Context, from, to string) error
}

// RunRecency checks a fresh, empty store.
func RunRecency(t *testing.T, newStore func(t *testing.T) Recency) {
	ctx := context.Background()
	members := func(t *testing.T, s Recency, key string, want ...string) {
		t.Helper()
		got, err := s.ZRevMembers(ctx, key)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ZRevMembers(%s) = %q %v, want %q", key, got, err, want)
		}
	}
	t.Run("last pushed first, a member once", func(t *testing.T) {
		s := newStore(t)
		members(t, s, "r")
		for _, m := range []string{"a", "b", "c", "a"} {
			if err := s.ZPushTop(ctx, "r", m, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		members(t, s, "r", "a", "c", "b")
		if err := s.ZRem(ctx, "r", "c", "missing"); err != nil {
			t.Fatal(err)
		}
		members(t, s, "r", "a", "b")
	})
	t.Run("the last removal deletes the key", func(t *testing.T) {
		s := newStore(t)
		_ = s.ZPushTop(ctx, "r", "a", 0)
		if err := s.ZRem(ctx, "r", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.SetNX(ctx, "r", "x", time.Minute); !ok || err != nil {
			t.Fatalf("the emptied set's key is still there: %v %v", ok, err)
		}
	})
	t.Run("a string where a set is expected is an error", func(t *testing.T) {
		s := newStore(t)
		_ = s.Set(ctx, "k", "v", time.Minute)
		if err := s.ZPushTop(ctx, "k", "a", time.Minute); err == nil {
			t.Fatal("ZPushTop on a string: no error")
		}
		if _, err := s.ZRevMembers(ctx, "k"); err == nil {
			t.Fatal("ZRevMembers on a string: no error")
		}
		if v, _, _ := s.Get(ctx, "k"); v != "v" {
			t.Fatalf("the string changed: %q", v)
		}
	})
	t.Run("import: the list below the set's members, in order, once", func(t *testing.T) {
		s := newStore(t)
		_ = s.ZPushTop(ctx, "new", "b", time.Minute)
		_ = s.Set(ctx, "old", `["a","b","c"]`, time.Minute)
		if err := s.ZImportJSON(ctx, "old", "new"); err != nil {
			t.Fatal(err)
		}
		members(t, s, "new", "b", "a", "c")
		if _, found, _ := s.Get(ctx, "old"); found {
			t.Fatal("the imported list was kept")
		}
		// A second import (another instance, a retry) changes nothing.
		if err := s.ZImportJSON(ctx, "old", "new"); err != nil {
			t.Fatal(err)
		}
		members(t, s, "new", "b", "a", "c")
		_ = s.ZPushTop(ctx, "new", "c", time.Minute)
		members(t, s, "new", "c", "b", "a")
	})
	t.Run("import into an absent set, an empty list", func(t *testing.T) {
		s := newStore(t)
		_ = s.Set(ctx, "old", `["a","b"]`, 0)
		if err := s.ZImportJSON(ctx, "old", "new"); err != nil {
			t.Fatal(err)
		}
		members(t, s, "new", "a", "b")
		_ = s.Set(ctx, "old2", `[]`, 0)
		if err := s.ZImportJSON(ctx, "old2", "new2"); err != nil {
			t.Fatal(err)
		}
		members(t, s, "new2")
		if _, found, _ := s.Get(ctx, "old2"); found {
			t.Fatal("the empty list was kept")
		}
	})
	t.Run("import of what is not a list of strings: an error, nothing changes", func(t *testing.T) {
		for _, raw := range []string{`{not json`, `["a",1]`, `{"a":"b"}`, `{}`, `null`, `"a"`} {
			s := newStore(t)
			_ = s.ZPushTop(ctx, "new", "z", time.Minute)
			_ = s.Set(ctx, "old", raw, time.Minute)
			if err := s.ZImportJSON(ctx, "old", "new"); err == nil {
				t.Fatalf("%s imported", raw)
			}
			members(t, s, "new", "z")
			if v, _, _ := s.Get(ctx, "old"); v != raw {
				t.Fatalf("%s became %q", raw, v)
			}
		}
	})
}
