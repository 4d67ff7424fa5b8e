package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
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

// The recency set's expiry: a push (re)starts it; an import keeps the
// longer of the list's and the set's, and never gives an expiring set none.
func TestKVRecencyExpiry(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kv, err := NewKV(c, uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ttl := func(key string) time.Duration { return c.PTTL(ctx, kv.Key(key)).Val() }
	if err := kv.ZPushTop(ctx, "r", "a", 0); err != nil {
		t.Fatal(err)
	}
	if got := ttl("r"); got != -1 {
		t.Fatalf("ttl 0 set an expiry: %s", got)
	}
	if err := kv.ZPushTop(ctx, "r", "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := ttl("r"); got <= 59*time.Minute || got > time.Hour {
		t.Fatalf("push: ttl %s", got)
	}
	// Into an absent set: the list's expiry moves with it.
	_ = kv.Set(ctx, "old1", `["a"]`, 2*time.Hour)
	if err := kv.ZImportJSON(ctx, "old1", "new1"); err != nil {
		t.Fatal(err)
	}
	if got := ttl("new1"); got <= 119*time.Minute || got > 2*time.Hour {
		t.Fatalf("import into an absent set: ttl %s", got)
	}
	// A longer-lived list lengthens the set's; a shorter one does not shorten it.
	_ = kv.Set(ctx, "old2", `["x"]`, 3*time.Hour)
	if err := kv.ZImportJSON(ctx, "old2", "r"); err != nil {
		t.Fatal(err)
	}
	if got := ttl("r"); got <= 179*time.Minute {
		t.Fatalf("import of a longer-lived list: ttl %s", got)
	}
	_ = kv.Set(ctx, "old3", `["y"]`, time.Minute)
	_ = kv.Set(ctx, "old4", `["z"]`, 0)
	for _, old := range []string{"old3", "old4"} {
		if err := kv.ZImportJSON(ctx, old, "r"); err != nil {
			t.Fatal(err)
		}
	}
	if got := ttl("r"); got <= 179*time.Minute {
		t.Fatalf("import of a shorter-lived or persistent list: ttl %s", got)
	}
	if m, _ := kv.ZRevMembers(ctx, "r"); !slices.Equal(m, []string{"b", "a", "x", "y", "z"}) {
		t.Fatalf("members %v", m)
	}
}

// Instances importing one list at once: each member once, in the list's
// order (the script is atomic, so the first wins and the rest find nothing).
func TestKVImportRace(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	kv, err := NewKV(c, uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := make([]string, 50)
	for i := range want {
		want[i] = fmt.Sprintf("003%03d", i)
	}
	raw, _ := json.Marshal(want)
	_ = kv.Set(ctx, "old", string(raw), time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- kv.ZImportJSON(ctx, "old", "new") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := kv.ZRevMembers(ctx, "new"); !slices.Equal(m, want) {
		t.Fatalf("members %v", m)
	}
}
