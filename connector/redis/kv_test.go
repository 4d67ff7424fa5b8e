package redis

import (
	"context"
	"testing"
	"time"
)

func TestKV(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	ns := uniqueName(t)
	kv, err := NewKV(c, ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, ok, err := kv.Get(ctx, "a"); ok || err != nil {
		t.Fatalf("missing key: found=%v err=%v", ok, err)
	}
	if err := kv.Set(ctx, "a", "1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := kv.Get(ctx, "a"); v != "1" || !ok || err != nil {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if got := c.Exists(ctx, "bridge:"+ns+":a").Val(); got != 1 || kv.Key("a") != "bridge:"+ns+":a" {
		t.Fatalf("key not under bridge:%s:", ns)
	}
	if ttl := c.TTL(ctx, kv.Key("a")).Val(); ttl <= 0 {
		t.Fatalf("ttl %s", ttl)
	}
	if ok, _ := kv.SetNX(ctx, "a", "2", 0); ok {
		t.Fatal("SetNX overwrote")
	}
	if ok, _ := kv.SetNX(ctx, "b", "2", 0); !ok {
		t.Fatal("SetNX refused a new key")
	}
	if err := kv.Del(ctx, "a", "missing"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := kv.Get(ctx, "a"); ok {
		t.Fatal("Del left the key")
	}
	root, _ := NewKV(c, "")
	if root.Key("x") != "bridge:x" {
		t.Fatalf("root key %s", root.Key("x"))
	}
}

// A holder whose lock expired cannot free the next holder's lock.
func TestKVLockReleasesOnlyItsOwn(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kv, err := NewKV(c, uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	slow, ok, err := kv.Lock(ctx, "lock:c1", time.Minute)
	if !ok || err != nil {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, _ := kv.Lock(ctx, "lock:c1", time.Minute); ok {
		t.Fatal("a held lock was taken twice")
	}
	c.Del(ctx, kv.Key("lock:c1")) // slow outlives its ttl: the key expires
	next, ok, err := kv.Lock(ctx, "lock:c1", time.Minute)
	if !ok || err != nil {
		t.Fatalf("lock after expiry: %v %v", ok, err)
	}
	slow()
	if _, ok, _ := kv.Lock(ctx, "lock:c1", time.Minute); ok {
		t.Fatal("the stale holder freed the newer holder's lock")
	}
	next()
	if again, ok, _ := kv.Lock(ctx, "lock:c1", time.Minute); !ok {
		t.Fatal("release did not free the lock")
	} else {
		again()
	}
}
