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
