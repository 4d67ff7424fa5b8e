package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/redistest"
)

func TestOpenSingle(t *testing.T) {
	s := redistest.Start(t)
	c := mustOpen(t, s.URL())
	if err := c.Set(context.Background(), "bridge:x", "1", time.Second).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	s := redistest.Start(t, redistest.Args("--requirepass", "right-secret"))
	ctx := context.Background()
	c := mustOpen(t, "redis://:right-secret@"+s.Addr()+"/0")
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url, want string }{
		{"wrong password", "redis://:wrong-secret@" + s.Addr() + "/0", "ping redis://xxxxx@" + s.Addr()},
		{"unreachable", "redis://:wrong-secret@127.0.0.1:1/0", "ping"},
		{"bad port", "redis://:wrong-secret@host:port/0", "parse"},
		{"bad scheme", "http://:wrong-secret@host:1", "unknown scheme"},
		{"no scheme", "wrong-secret@host:1", "missing scheme"},
		{"sentinel without master", "redis+sentinel://:wrong-secret@h1:26379,h2:26379", "master name"},
		{"sentinel query secret", "redis+sentinel://h1:26379/m?sentinel_password=wrong-secret&bogus=1", "unexpected option"},
		{"cluster host without port", "redis+cluster://:wrong-secret@h1,h2:1", "no port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := Open(ctx, tc.url)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "wrong-secret") {
				t.Fatalf("error echoes the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseSentinelURL(t *testing.T) {
	o, err := parseSentinelURL("redis+sentinel://app:pw@h1:26379,h2:26380/mymaster/2?sentinel_password=spw&dial_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterName != "mymaster" || o.DB != 2 || o.Username != "app" || o.Password != "pw" ||
		o.SentinelPassword != "spw" || o.DialTimeout != time.Second ||
		strings.Join(o.SentinelAddrs, ",") != "h1:26379,h2:26380" {
		t.Fatalf("options %+v", o)
	}
	if o.ReadTimeout != defaultReadTimeout {
		t.Fatalf("read timeout %s, want default", o.ReadTimeout)
	}
}

func TestParseClusterURL(t *testing.T) {
	o, err := parseClusterURL("rediss+cluster://:pw@h1:7000,h2:7001,h3:7002?pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Addrs, ",") != "h1:7000,h2:7001,h3:7002" || o.Password != "pw" || o.PoolSize != 7 || o.TLSConfig == nil {
		t.Fatalf("options %+v", o)
	}
	if _, err := parseClusterURL("redis+cluster://h1:7000/1"); err == nil {
		t.Fatal("cluster URL with a db accepted")
	}
}

func TestOpenSentinel(t *testing.T) {
	m := redistest.Start(t, redistest.Args("--requirepass", "master-pw"))
	s := redistest.StartSentinel(t, m, "mymaster")
	// The sentinel itself has no password; the userinfo is the master's.
	url := "redis+sentinel://:master-pw@" + s.Addr() + ",127.0.0.1:1/mymaster"
	c := mustOpen(t, url)
	q := mustQueue(t, c, fastConfig(t, uniqueName(t), "a"))
	if got := mustEnqueue(t, q, Item{Key: "k", Payload: []byte("x")}); !got[0] {
		t.Fatal("enqueue through sentinel reported duplicate")
	}
	direct := mustOpen(t, "redis://:master-pw@"+m.Addr())
	if n, err := direct.XLen(context.Background(), q.keys.stream).Result(); n != 1 || err != nil {
		t.Fatalf("master stream length %d, %v; want 1", n, err)
	}
}
