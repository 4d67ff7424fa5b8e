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
