// Package e2e runs the whole bridge, as `bridge serve` builds it, on :0
// against the Salesforce and Twilio stand-ins and a private redis-server, and
// drives it over HTTP. Every bridge it starts has its log captured; a test in
// which a planted personal value (a name, a phone number in any spelling)
// reaches the log fails.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/server"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
	"github.com/cityhealth/bridge/test/world"
)

// PublicURL is what the bridge believes its external address is: webhooks
// are signed against it while the test posts to the real listener, as
// Twilio would through a load balancer.
const PublicURL = world.PublicURL

// AllDaysAtTwilio is the Env of tests that count a contact's 14 days at
// Twilio's scheduler at once: a horizon of Twilio's whole 35-day window
// (the default 48 h hands over 2 or 3; see channels_test.go).
var AllDaysAtTwilio = map[string]string{"BRIDGE_REMINDER_HORIZON": "840h"}

// Options change one bridge.
type Options struct {
	Env     map[string]string // extra or overriding BRIDGE_* variables
	Mapping string            // mapping file contents; default testdata/mapping.yaml
	// Redis, SF and Twilio let several bridges share one world.
	Redis  *redistest.Server
	SF     *sfsim.Server
	Twilio *twiliosim.Server
	Tuning *server.Tuning
	Now    func() time.Time
	// Consumer names the instance; a restarted instance keeps its name.
	Consumer string
}

// Bridge is one running bridge and the world around it.
type Bridge struct {
	tb     testing.TB
	URL    string
	Server *server.Server
	Config *config.Config
	SF     *sfsim.Server
	Twilio *twiliosim.Server
	Redis  *redistest.Server
	Log    *LogBuffer
	HTTP   *http.Client

	AdminToken, AgentToken string
	WorkerSID              string

	opts    Options
	stopped bool
	rdb     *goredis.Client
}

// DefaultTuning shortens every wait so failure tests finish in seconds.
func DefaultTuning() server.Tuning {
	return server.Tuning{
		Retry:           redis.RetryPolicy{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond, GiveUpAfter: 4 * time.Second},
		ClaimIdle:       1500 * time.Millisecond,
		WritebackLinger: 500 * time.Millisecond,
		SalesforceRetry: &salesforce.RetryPolicy{MaxAttempts: 3, BaseDelay: 5 * time.Millisecond, MaxDelay: 40 * time.Millisecond},
		MappingPoll:     100 * time.Millisecond,
		TwilioTimeout:   2 * time.Second,
		// Off in practice: tests that count Twilio calls see none of the
		// reconciler's. The reconcile tests set their own.
		ReconcileInterval: time.Hour,

		EscalationInterval: 100 * time.Millisecond,
		RetentionInterval:  100 * time.Millisecond,
	}
}

// MustStart starts a bridge; everything stops when the test ends.
func MustStart(tb testing.TB, opts Options) *Bridge {
	tb.Helper()
	if opts.Redis == nil {
		opts.Redis = redistest.Start(tb, redistest.AppendOnly())
	}
	if opts.SF == nil {
		opts.SF = sfsim.New(sfsim.Options{OrgID: SampleOrgID})
		tb.Cleanup(opts.SF.Close)
	}
	if opts.Twilio == nil {
		opts.Twilio = twiliosim.New(twiliosim.Options{Now: opts.Now, AccountSID: world.AccountSID})
		tb.Cleanup(opts.Twilio.Close)
	}
	if opts.Tuning == nil {
		t := DefaultTuning()
		opts.Tuning = &t
	}
	if opts.Consumer == "" {
		opts.Consumer = fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	}
	b := &Bridge{tb: tb, SF: opts.SF, Twilio: opts.Twilio, Redis: opts.Redis, opts: opts,
		Log: &LogBuffer{}, HTTP: &http.Client{Timeout: 30 * time.Second}}
	b.start()
	tb.Cleanup(func() {
		b.Stop()
		b.Log.MustNotLeak(tb)
	})
	return b
}

func (b *Bridge) start() {
	tb := b.tb
	tb.Helper()
	env := b.env()
	cfg, err := config.Load(config.MapSource(env), config.ModeServe)
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	b.Config = cfg
	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(b.Log, testWriter{tb}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(context.Background(), cfg, server.Options{
		Logger: logger, Consumer: b.opts.Consumer, Tuning: *b.opts.Tuning, Now: b.opts.Now,
	})
	if err != nil {
		tb.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		tb.Fatalf("server.Start: %v", err)
	}
	b.Server, b.URL, b.stopped = srv, srv.URL(), false

	b.WorkerSID = b.Twilio.WorkerSID
	b.AdminToken = b.MustToken(auth.RoleAdmin, "ada-admin", "")
	b.AgentToken = b.MustToken(auth.RoleAgent, "ana-tracer", b.WorkerSID)
}

// env is the bridge's whole configuration, as `bridge serve` would read it:
// the load program's, with the test's mapping, a debug log and overrides.
func (b *Bridge) env() map[string]string {
	tb := b.tb
	tb.Helper()
	dir := tb.TempDir()
	env, err := world.Env(dir, b.SF, b.Twilio, b.Redis.URL())
	if err != nil {
		tb.Fatal(err)
	}
	mappingDoc := b.opts.Mapping
	if mappingDoc == "" {
		mappingDoc = string(mustRead(tb, testdataPath("mapping.yaml")))
	}
	env["BRIDGE_MAPPING_FILE"] = filepath.Join(dir, "mapping.yaml")
	mustWrite(tb, env["BRIDGE_MAPPING_FILE"], []byte(mappingDoc))
	env["BRIDGE_LOG_LEVEL"] = "debug"
	for k, v := range b.opts.Env {
		env[k] = v
	}
	return env
}

// Stop drains and stops the bridge (the world keeps running).
func (b *Bridge) Stop() {
	if b.stopped {
		return
	}
	b.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := b.Server.Close(ctx); err != nil {
		b.tb.Logf("bridge close: %v", err)
	}
}

// Restart stops and starts the bridge again with the same name and world.
func (b *Bridge) Restart() {
	b.tb.Helper()
	b.Stop()
	b.start()
}

// MustToken mints a token with the bridge's secret.
func (b *Bridge) MustToken(role auth.Role, sub, workerSID string) string {
	b.tb.Helper()
	tok, err := auth.Mint(b.Config.JWT.Secret, auth.MintClaims{
		Subject: sub, Role: role, WorkerSID: workerSID, Issuer: b.Config.JWT.Issuer, Audience: b.Config.JWT.Audience, TTL: time.Hour,
	})
	if err != nil {
		b.tb.Fatal(err)
	}
	return tok
}

// Do sends a request to the bridge; body may be nil, a string or []byte.
func (b *Bridge) Do(method, path string, body any, header map[string]string) (*http.Response, []byte) {
	b.tb.Helper()
	var r io.Reader
	switch v := body.(type) {
	case string:
		r = strings.NewReader(v)
	case []byte:
		r = bytes.NewReader(v)
	}
	req, err := http.NewRequest(method, b.URL+path, r)
	if err != nil {
		b.tb.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		b.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// PostOutbound posts a SOAP Outbound Message as Salesforce does.
func (b *Bridge) PostOutbound(path, body string) (*http.Response, []byte) {
	b.tb.Helper()
	if path == "" {
		path = world.OutboundPath
	}
	return b.Do(http.MethodPost, path, body, map[string]string{"Content-Type": "text/xml; charset=utf-8", "SOAPAction": `""`})
}

// PostTwilio posts a form signed against PublicURL, as Twilio does. Twilio
// names the account in every webhook, so a form without AccountSid gets the
// bridge's.
func (b *Bridge) PostTwilio(path string, form url.Values) (*http.Response, []byte) {
	b.tb.Helper()
	if form.Get("AccountSid") == "" {
		form.Set("AccountSid", b.Config.Twilio.AccountSID)
	}
	return b.PostTwilioSigned(path, form, twilio.Sign(b.Config.Twilio.AuthToken, PublicURL+path, form))
}

// PostTwilioSigned posts form exactly as given with the signature given
// (an attacker's replay or regrouping of a captured request).
func (b *Bridge) PostTwilioSigned(path string, form url.Values, signature string) (*http.Response, []byte) {
	b.tb.Helper()
	return b.Do(http.MethodPost, path, form.Encode(), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
	})
}

// Eventually polls cond until it holds or the wait runs out (world.Eventually).
var Eventually = world.Eventually

// Settle waits until every queue is empty (nothing waiting, pending or
// retrying). It reads Redis itself, so it works for a bridge process too.
func (b *Bridge) Settle(wait time.Duration) {
	b.tb.Helper()
	Eventually(b.tb, wait, "queues to drain", func() bool {
		for _, st := range b.QueueStats() {
			if st.Length > 0 || st.Pending > 0 || st.Retrying > 0 {
				return false
			}
		}
		return true
	})
}

// QueueStats reads every queue's sizes straight from Redis.
func (b *Bridge) QueueStats() map[string]redis.QueueStats {
	b.tb.Helper()
	if b.rdb == nil {
		b.rdb = b.Redis.Client(b.tb)
	}
	out := map[string]redis.QueueStats{}
	for _, name := range []string{event.QueueRecords, event.QueueMonitoring, event.QueueWriteback, event.QueueSelfReport, event.QueueEscalation} {
		q, err := redis.NewQueue(b.rdb, redis.QueueConfig{Name: name})
		if err != nil {
			b.tb.Fatal(err)
		}
		st, err := q.Stats(context.Background())
		if err != nil {
			// Redis is down: report work outstanding so Settle keeps waiting.
			st.Length = 1
		}
		out[name] = st
	}
	return out
}

// LogBuffer keeps everything the bridge logged and the values that must
// never appear in it.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	planted []string
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is the log so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Plant marks values (names, phone numbers, protected fields) that must
// never be logged. A phone number is planted in each spelling a log could
// carry it in: as given, E.164, bare digits and the dashed form.
func (l *LogBuffer) Plant(values ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range values {
		l.planted = append(l.planted, v)
		l.planted = append(l.planted, phoneSpellings(v)...)
	}
}

// phoneSpellings gives the other spellings of a North American number, or
// nothing when v is not one.
func phoneSpellings(v string) []string {
	var d strings.Builder
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case strings.ContainsRune("+()-. ", r):
		default:
			return nil // letters: not a phone number
		}
	}
	digits := d.String()
	if len(digits) == 11 && digits[0] == '1' {
		digits = digits[1:]
	}
	if len(digits) != 10 {
		return nil
	}
	return []string{"+1" + digits, digits, digits[:3] + "-" + digits[3:6] + "-" + digits[6:],
		"(" + digits[:3] + ") " + digits[3:6] + "-" + digits[6:]}
}

// MustNotLeak fails tb when a planted value was logged. It looks for the
// planted values only: a pattern for "any phone number" also matches the
// digit runs of durations and timestamps (a 2.5 s call logs 2500000000 ns),
// which made tests fail at random.
func (l *LogBuffer) MustNotLeak(tb testing.TB) {
	tb.Helper()
	log := l.String()
	l.mu.Lock()
	planted := append([]string(nil), l.planted...)
	l.mu.Unlock()
	for _, v := range planted {
		if v != "" && strings.Contains(log, v) {
			tb.Errorf("privacy: the log contains the planted value %q", v)
		}
	}
}

// testWriter shows the bridge's log under -v.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testdataPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// Testdata reads a file from test/e2e/testdata.
func Testdata(tb testing.TB, name string) string {
	tb.Helper()
	return string(mustRead(tb, testdataPath(name)))
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustWrite(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}
