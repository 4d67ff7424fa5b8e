package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/server"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
	"github.com/cityhealth/bridge/test/world"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// bridge is one in-process bridge on a private redis-server (no AOF: the
// figures are the bridge's, not the disk's) and fresh stand-ins.
type bridge struct {
	URL    string
	Server *server.Server
	Config *config.Config
	SF     *sfsim.Server
	Twilio *twiliosim.Server
	Redis  *redistest.Server
	RDB    *goredis.Client
	HTTP   *http.Client
}

// startBridge builds a bridge as `bridge serve` would, with production
// timings. Without consumers only the HTTP handler runs, so intake is
// measured alone; with them, the flows run too.
func startBridge(b *testing.B, consumers bool) *bridge {
	b.Helper()
	br := &bridge{Redis: redistest.Start(b)}
	br.SF = sfsim.New(sfsim.Options{OrgID: world.OrgID})
	b.Cleanup(br.SF.Close)
	br.Twilio = twiliosim.New(twiliosim.Options{AccountSID: world.AccountSID})
	b.Cleanup(br.Twilio.Close)
	env, err := world.Env(b.TempDir(), br.SF, br.Twilio, br.Redis.URL())
	if err != nil {
		b.Fatal(err)
	}
	if br.Config, err = config.Load(config.MapSource(env), config.ModeServe); err != nil {
		b.Fatal(err)
	}
	// Info level as in production; encoding is paid, the write is not.
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	br.Server, err = server.New(context.Background(), br.Config, server.Options{Logger: logger, Consumer: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if consumers {
		if err := br.Server.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		br.URL = br.Server.URL()
	} else {
		ts := httptest.NewServer(br.Server.Handler())
		b.Cleanup(ts.Close)
		br.URL = ts.URL
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = br.Server.Close(ctx)
	})
	br.RDB = br.Redis.Client(b)
	br.HTTP = newClient()
	return br
}

func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 512, DisableCompression: true,
	}}
}

// post sends one request and drains the answer so the connection is reused.
func post(c *http.Client, url, contentType, body string, header map[string]string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func postForm(c *http.Client, url, body, sig string) (int, error) {
	return post(c, url, "application/x-www-form-urlencoded", body, map[string]string{"X-Twilio-Signature": sig})
}

// parallel runs job(0..n-1) on clients goroutines and returns the wall time.
// The first failure stops the run.
func parallel(n, clients int, job func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := job(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}

// waitFor polls cond until it holds or limit passes; a benchmark that
// cannot finish fails instead of hanging.
func waitFor(b *testing.B, limit time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled reports whether every queue is empty.
func (br *bridge) settled() bool {
	n, err := world.Backlog(context.Background(), br.RDB)
	return err == nil && n == 0
}

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / float64(time.Millisecond)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// taskRows counts Task rows per external id.
func taskRows(sf *sfsim.Server) map[string]int {
	out := map[string]int{}
	for _, r := range sf.Records("Task") {
		if v, _ := r["Twilio_Task_Sid__c"].(string); v != "" {
			out[v]++
		}
	}
	return out
}
