package redistest_test

import (
	"context"
	"testing"

	"github.com/cityhealth/bridge/test/redistest"
)

func TestStartRestartKeepsAOF(t *testing.T) {
	s := redistest.Start(t, redistest.AppendOnly())
	ctx := context.Background()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping after Kill succeeded")
	}
	s.Restart()
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}

func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	ctx := context.Background()
	c := cl.Client(t)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(cl.Addrs()); n != 3 {
		t.Fatalf("addrs %d", n)
	}
}

func TestSentinel(t *testing.T) {
	m := redistest.Start(t)
	s := redistest.StartSentinel(t, m, "mymaster")
	addr, err := s.Client(t).Do(context.Background(), "SENTINEL", "get-master-addr-by-name", "mymaster").StringSlice()
	if err != nil || len(addr) != 2 || addr[0]+":"+addr[1] != m.Addr() {
		t.Fatalf("sentinel reports %v, %v; want %s", addr, err, m.Addr())
	}
}
