package redis

import (
	"context"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/kvcontract"
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

func TestKVContract(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kvcontract.Run(t, func(t *testing.T) kvcontract.Store {
		kv, err := NewKV(c, uniqueName(t))
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

func TestKVRecencyContract(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kvcontract.RunRecency(t, func(t *testing.T) kvcontract.Recency {
		kv, err := NewKV(c, uniqueName(t))
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

func TestScheduleContract(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kvcontract.RunSchedule(t, func(t *testing.T) kvcontract.Schedule {
		s, err := NewSchedule(c, uniqueName(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestKVHashAndSet(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kv, err := NewKV(c, uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, ok, err := kv.HGet(ctx, "h", "f"); v != "" || ok || err != nil {
		t.Fatalf("missing hash: %q %v %v", v, ok, err)
	}
	if m, err := kv.HGetAll(ctx, "h"); len(m) != 0 || err != nil {
		t.Fatalf("missing hash: %v %v", m, err)
	}
	if err := kv.HSet(ctx, "h", "f", "1", 0); err != nil {
		t.Fatal(err)
	}
	if ttl := c.TTL(ctx, kv.Key("h")).Val(); ttl != -1 {
		t.Fatalf("ttl 0 set an expiry: %s", ttl)
	}
	if err := kv.HSet(ctx, "h", "g", "2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := c.TTL(ctx, kv.Key("h")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %s", ttl)
	}
	// ttl 0 leaves the expiry as it was.
	if err := kv.HSet(ctx, "h", "f", "3", 0); err != nil {
		t.Fatal(err)
	}
	if ttl := c.TTL(ctx, kv.Key("h")).Val(); ttl <= 0 {
		t.Fatalf("ttl 0 dropped the expiry: %s", ttl)
	}
	if v, ok, _ := kv.HGet(ctx, "h", "f"); v != "3" || !ok {
		t.Fatalf("hget %q %v", v, ok)
	}
	if m, _ := kv.HGetAll(ctx, "h"); len(m) != 2 || m["f"] != "3" || m["g"] != "2" {
		t.Fatalf("hgetall %v", m)
	}
	if err := kv.HDel(ctx, "h", "f", "missing"); err != nil {
		t.Fatal(err)
	}
	if err := kv.HDel(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := kv.HGet(ctx, "h", "f"); ok {
		t.Fatal("HDel left the field")
	}

	if m, err := kv.SMembers(ctx, "s"); len(m) != 0 || err != nil {
		t.Fatalf("missing set: %v %v", m, err)
	}
	for _, m := range []string{"a", "b", "a"} {
		if err := kv.SAdd(ctx, "s", m, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if ttl := c.TTL(ctx, kv.Key("s")).Val(); ttl <= 0 {
		t.Fatalf("set ttl %s", ttl)
	}
	if m, _ := kv.SMembers(ctx, "s"); len(m) != 2 {
		t.Fatalf("smembers %v", m)
	}

	// A value of the wrong type is a clear error, not an empty answer.
	if err := kv.Set(ctx, "str", "x", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.HGet(ctx, "str", "f"); err == nil {
		t.Fatal("HGet of a string: no error")
	}
	if err := kv.HSet(ctx, "str", "f", "v", time.Hour); err == nil {
		t.Fatal("HSet to a string: no error")
	}
	if err := kv.SAdd(ctx, "str", "m", time.Hour); err == nil {
		t.Fatal("SAdd to a string: no error")
	}
	if ttl := c.TTL(ctx, kv.Key("str")).Val(); ttl != -1 {
		t.Fatalf("a failed SAdd changed the key's expiry: %s", ttl)
	}
}
