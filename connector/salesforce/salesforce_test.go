package salesforce_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/test/sfsim"
)

// One key for the whole package keeps tests fast; sfsim would otherwise generate one per server.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var fastRetry = salesforce.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

type env struct {
	sim    *sfsim.Server
	client *salesforce.Client
	cfg    salesforce.Config
}

// MustEnv starts sfsim and a client logged into it; mut may adjust the client config.
func MustEnv(tb testing.TB, opts sfsim.Options, mut ...func(*salesforce.Config)) *env {
	tb.Helper()
	if opts.PrivateKey == nil {
		opts.PrivateKey = testKey()
	}
	sim := sfsim.New(opts)
	tb.Cleanup(sim.Close)
	key, err := salesforce.ParsePrivateKey(sim.PrivateKeyPEM())
	if err != nil {
		tb.Fatal(err)
	}
	cfg := salesforce.Config{
		LoginURL:   sim.URL,
		ClientID:   sim.ClientID,
		Username:   sim.Username,
		PrivateKey: key,
		HTTPClient: salesforce.NewHTTPClient(fastRetry, nil),
		LockRetry:  fastRetry,
	}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := salesforce.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{sim: sim, client: c, cfg: cfg}
}

func TestLogin(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mut      func(*salesforce.Config, *sfsim.Server)
		script   func(*sfsim.Server)
		wantCode string // "" = success
		wantDesc string
		sandbox  bool
	}{
		{name: "ok"},
		{name: "unknown client id", mut: func(c *salesforce.Config, _ *sfsim.Server) { c.ClientID = "3MVGwrong" },
			wantCode: "invalid_client_id", wantDesc: "client identifier invalid"},
		{name: "unknown user", mut: func(c *salesforce.Config, _ *sfsim.Server) { c.Username = "nobody@example.org" },
			wantCode: "invalid_grant"},
		{name: "wrong key", mut: func(c *salesforce.Config, _ *sfsim.Server) { c.PrivateKey = otherKey },
			wantCode: "invalid_grant", wantDesc: "invalid assertion"},
		// aud is login.salesforce.com whatever host the request goes to.
		{name: "another login host, same audience", mut: func(c *salesforce.Config, s *sfsim.Server) {
			c.LoginURL = strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
		}},
		{name: "sandbox audience on production", mut: func(c *salesforce.Config, s *sfsim.Server) {
			c.Audience = salesforce.AudienceTest
		}, wantCode: "invalid_grant", wantDesc: "audience is invalid"},
		{name: "sandbox", sandbox: true, mut: func(c *salesforce.Config, s *sfsim.Server) {
			c.Audience = salesforce.AudienceTest
		}},
		{name: "production audience on a sandbox", sandbox: true,
			wantCode: "invalid_grant", wantDesc: "audience is invalid"},
		{name: "scripted refusal", script: func(s *sfsim.Server) { s.FailToken(1, "invalid_grant", "user hasn't approved this consumer") },
			wantCode: "invalid_grant", wantDesc: "user hasn't approved this consumer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := sfsim.New(sfsim.Options{PrivateKey: testKey(), Sandbox: tt.sandbox})
			defer sim.Close()
			cfg := salesforce.Config{LoginURL: sim.URL, ClientID: sim.ClientID, Username: sim.Username,
				PrivateKey: sim.PrivateKey(), HTTPClient: salesforce.NewHTTPClient(fastRetry, nil)}
			if tt.mut != nil {
				tt.mut(&cfg, sim)
			}
			if tt.script != nil {
				tt.script(sim)
			}
			c, err := salesforce.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Token(context.Background())
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if err := c.Token(context.Background()); err != nil || sim.TokenCalls() != 1 {
					t.Fatalf("second Token: err %v, token calls %d; want the cached session", err, sim.TokenCalls())
				}
				return
			}
			var ae *salesforce.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Token error %v (%T), want *AuthError", err, err)
			}
			if ae.Code != tt.wantCode || (tt.wantDesc != "" && ae.Description != tt.wantDesc) {
				t.Fatalf("AuthError = %+v, want code %q desc %q", ae, tt.wantCode, tt.wantDesc)
			}
		})
	}
}

func TestOneReloginForBurstOf401(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	id := e.sim.AddRecord("Contact", map[string]any{"LastName": "Rivera"})
	ctx := context.Background()
	if err := e.client.Token(ctx); err != nil {
		t.Fatal(err)
	}
	e.sim.ExpireSessions()
	e.sim.ResetCounters()
	// Latency keeps all 20 requests in flight on the stale token at once.
	e.sim.SetLatency(30 * time.Millisecond)

	const n = 20
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec, err := e.client.Get(ctx, "Contact", id, []string{"LastName"})
			if err == nil && rec["LastName"] != "Rivera" {
				err = fmt.Errorf("got %v", rec)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Get after expiry: %v", err)
		}
	}
	if got := e.sim.TokenCalls(); got != 1 {
		t.Fatalf("token calls = %d, want exactly 1 re-login for the burst", got)
	}
	if got := e.sim.APICalls(); got != 2*n {
		t.Fatalf("api calls = %d, want %d (each caller: one 401, one retry)", got, 2*n)
	}
}

func TestSecond401IsReturned(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	id := e.sim.AddRecord("Contact", map[string]any{"LastName": "Kim"})
	e.sim.Fail(5, http.StatusUnauthorized, "INVALID_SESSION_ID")
	_, err := e.client.Get(context.Background(), "Contact", id, nil)
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.Code != "INVALID_SESSION_ID" {
		t.Fatalf("err = %v, want INVALID_SESSION_ID after one retry", err)
	}
	if e.sim.APICalls() != 2 {
		t.Fatalf("api calls = %d, want 2 (no loop on 401)", e.sim.APICalls())
	}
}

// flakyTransport fails the first n round trips with a network error.
type flakyTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body) // the body is spent, as a real failure would leave it
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	}
	return f.next.RoundTrip(r)
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name       string
		script     func(*sfsim.Server)
		flaky      int32
		wantStatus int    // 0 = success
		wantCode   string // APIError code on failure
		wantCalls  int64  // REST calls seen by sfsim
	}{
		{name: "503 twice then success", script: func(s *sfsim.Server) { s.Fail503(2) }, wantCalls: 3},
		{name: "request limit twice then success", script: func(s *sfsim.Server) { s.FailRequestLimit(2) }, wantCalls: 3},
		{name: "network errors then success", flaky: 2, wantCalls: 1},
		{name: "503 beyond the bound", script: func(s *sfsim.Server) { s.Fail503(10) },
			wantStatus: 503, wantCode: "SERVER_UNAVAILABLE", wantCalls: 4},
		{name: "request limit beyond the bound", script: func(s *sfsim.Server) { s.FailRequestLimit(10) },
			wantStatus: 403, wantCode: "REQUEST_LIMIT_EXCEEDED", wantCalls: 4},
		{name: "other 403 not retried", script: func(s *sfsim.Server) { s.Fail(3, 403, "INSUFFICIENT_ACCESS") },
			wantStatus: 403, wantCode: "INSUFFICIENT_ACCESS", wantCalls: 1},
		{name: "400 not retried", script: func(s *sfsim.Server) { s.Fail(3, 400, "INVALID_FIELD") },
			wantStatus: 400, wantCode: "INVALID_FIELD", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flaky := &flakyTransport{next: http.DefaultTransport}
			e := MustEnv(t, sfsim.Options{}, func(c *salesforce.Config) {
				c.HTTPClient = salesforce.NewHTTPClient(fastRetry, flaky)
			})
			ctx := context.Background()
			if err := e.client.Token(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.script != nil {
				tt.script(e.sim)
			}
			flaky.n.Store(tt.flaky)
			// An upsert has a body, so success proves the transport rewound it.
			res, err := e.client.Upsert(ctx, "Task", "Twilio_Task_Sid__c", "WT-retry", salesforce.Record{"Subject": "Call"})
			if got := e.sim.APICalls(); got != tt.wantCalls {
				t.Errorf("api calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantStatus == 0 {
				if err != nil || !res.Created {
					t.Fatalf("Upsert = %+v, %v; want created", res, err)
				}
				if rows := e.sim.FindRecords("Task", "Twilio_Task_Sid__c", "WT-retry"); len(rows) != 1 || rows[0]["Subject"] != "Call" {
					t.Fatalf("stored rows = %v", rows)
				}
				return
			}
			var ae *salesforce.APIError
			if !errors.As(err, &ae) || ae.Status != tt.wantStatus || ae.Code != tt.wantCode {
				t.Fatalf("err = %v, want APIError %d %s", err, tt.wantStatus, tt.wantCode)
			}
			if want := tt.wantStatus >= 500 || tt.wantCode == "REQUEST_LIMIT_EXCEEDED"; retried(err) != want {
				t.Errorf("retried = %v, want %v", !want, want)
			}
		})
	}
}

func TestRetryHonoursContext(t *testing.T) {
	slow := salesforce.RetryPolicy{MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: time.Second}
	e := MustEnv(t, sfsim.Options{}, func(c *salesforce.Config) { c.HTTPClient = salesforce.NewHTTPClient(slow, nil) })
	if err := e.client.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.sim.SetOutage(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.client.Query(ctx, "SELECT Id FROM Contact")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if e.sim.APICalls() >= 100 {
		t.Fatalf("api calls = %d; the retry loop ignored the context", e.sim.APICalls())
	}
}

func taskRecs(n int, prefix string) []salesforce.Record {
	recs := make([]salesforce.Record, n)
	for i := range recs {
		recs[i] = salesforce.Record{"Twilio_Task_Sid__c": fmt.Sprintf("%s%d", prefix, i), "Subject": "Contact tracing call", "Status": "Completed"}
	}
	return recs
}

const taskUpsertPath = "/composite/sobjects/Task/Twilio_Task_Sid__c"

func TestUpsertCollectionPartialFailure(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	e.sim.RejectField("Task", "CallDisposition")
	e.sim.SetRequired("Task", "Subject")
	existing := e.sim.AddRecord("Task", map[string]any{"Twilio_Task_Sid__c": "WT-old", "Subject": "Old"})

	// An unknown (or hidden) field anywhere fails the whole request, not a row.
	for name, bad := range map[string]salesforce.Record{
		"rejected field": {"Twilio_Task_Sid__c": "WT-bad", "Subject": "x", "CallDisposition": "Reached"},
		"unknown field":  {"Twilio_Task_Sid__c": "WT-nofield", "Subject": "x", "No_Such__c": 1},
	} {
		_, err := e.client.UpsertCollection(context.Background(), "Task", "Twilio_Task_Sid__c",
			[]salesforce.Record{{"Twilio_Task_Sid__c": "WT-fine", "Subject": "ok"}, bad})
		var ae *salesforce.APIError
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "INVALID_FIELD" || len(ae.Fields) != 1 || retried(err) {
			t.Fatalf("%s: err = %v, want a whole-request 400 INVALID_FIELD naming the field", name, err)
		}
		if strings.Contains(err.Error(), "Reached") {
			t.Fatalf("error carries a value: %v", err)
		}
	}
	_, err := e.client.UpsertCollection(context.Background(), "Task", "Twilio_Task_Sid__c",
		[]salesforce.Record{{"Twilio_Task_Sid__c": "WT-type", "Subject": "x", "CallDurationInSeconds": "long"}})
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "JSON_PARSER_ERROR" || strings.Contains(err.Error(), "long") {
		t.Fatalf("wrong type: err = %v, want a whole-request 400 JSON_PARSER_ERROR without the value", err)
	}
	if n := len(e.sim.Records("Task")); n != 1 {
		t.Fatalf("refused requests wrote %d rows", n-1)
	}

	recs := []salesforce.Record{
		{"Twilio_Task_Sid__c": "WT-new", "Subject": "New"},
		{"Twilio_Task_Sid__c": "WT-old", "Subject": "Updated"},
		{"Twilio_Task_Sid__c": "WT-nosubject"},
	}
	res, err := e.client.UpsertCollection(context.Background(), "Task", "Twilio_Task_Sid__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		success, created bool
		code             string
	}{
		{true, true, ""},
		{true, false, ""},
		{false, false, "REQUIRED_FIELD_MISSING"},
	}
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d", len(res), len(want))
	}
	for i, w := range want {
		r := res[i]
		if r.Success != w.success || r.Created != w.created {
			t.Errorf("row %d = %+v, want success %v created %v", i, r, w.success, w.created)
		}
		if w.code != "" {
			var ae *salesforce.APIError
			if len(r.Errors) == 0 || r.Errors[0].StatusCode != w.code || !errors.As(r.Err(), &ae) || ae.Code != w.code {
				t.Errorf("row %d errors = %+v, want %s", i, r.Errors, w.code)
			}
			if r.Errors[0].Transient() {
				t.Errorf("row %d: %s must be permanent", i, w.code)
			}
		}
	}
	if res[1].ID != existing {
		t.Errorf("updated row id = %q, want %q", res[2].ID, existing)
	}
	if got := e.sim.Record("Task", existing)["Subject"]; got != "Updated" {
		t.Errorf("existing Subject = %v", got)
	}
	if got := len(e.sim.Records("Task")); got != 2 {
		t.Errorf("Task rows = %d, want 2 (failed rows not written)", got)
	}
}

// bodyRecorder notes how many records each Collections request carried.
type bodyRecorder struct {
	mu    sync.Mutex
	sizes []int
	next  http.RoundTripper
}

func (b *bodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/composite/sobjects") && r.GetBody != nil {
		rc, _ := r.GetBody()
		var body struct{ Records []map[string]any }
		_ = json.NewDecoder(rc).Decode(&body)
		b.mu.Lock()
		b.sizes = append(b.sizes, len(body.Records))
		b.mu.Unlock()
	}
	return b.next.RoundTrip(r)
}

func TestLockedRowsResentAlone(t *testing.T) {
	tests := []struct {
		name      string
		locks     map[string]int
		wantSizes []int
		wantFail  []int // rows left with UNABLE_TO_LOCK_ROW
	}{
		{name: "cleared by re-sends", locks: map[string]int{"WT3": 2, "WT7": 1}, wantSizes: []int{10, 2, 1}},
		{name: "never clears", locks: map[string]int{"WT5": 100}, wantSizes: []int{10, 1, 1, 1}, wantFail: []int{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &bodyRecorder{next: http.DefaultTransport}
			e := MustEnv(t, sfsim.Options{}, func(c *salesforce.Config) {
				c.HTTPClient = salesforce.NewHTTPClient(fastRetry, rec)
			})
			for k, n := range tt.locks {
				e.sim.LockRows(k, n)
			}
			res, err := e.client.UpsertCollection(context.Background(), "Task", "Twilio_Task_Sid__c", taskRecs(10, "WT"))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rec.sizes) != fmt.Sprint(tt.wantSizes) {
				t.Errorf("records per call = %v, want %v", rec.sizes, tt.wantSizes)
			}
			failed := map[int]bool{}
			for _, i := range tt.wantFail {
				failed[i] = true
			}
			for i, r := range res {
				switch {
				case failed[i] && (r.Success || len(r.Errors) == 0 || r.Errors[0].StatusCode != "UNABLE_TO_LOCK_ROW" || !r.Errors[0].Transient()):
					t.Errorf("row %d = %+v, want UNABLE_TO_LOCK_ROW", i, r)
				case !failed[i] && (!r.Success || !r.Created || r.ID == ""):
					t.Errorf("row %d = %+v, want created", i, r)
				}
			}
		})
	}
}

func TestUpsertCollectionChunks(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	ctx := context.Background()
	recs := taskRecs(250, "WT")
	res, err := e.client.UpsertCollection(ctx, "Task", "Twilio_Task_Sid__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.sim.Calls("PATCH", taskUpsertPath); got != 2 {
		t.Fatalf("collection calls = %d, want 2 for 250 records", got)
	}
	for i, r := range res {
		if !r.Success || !r.Created {
			t.Fatalf("row %d = %+v", i, r)
		}
	}
	// Input order is kept across chunks.
	if got := e.sim.Record("Task", res[249].ID)["Twilio_Task_Sid__c"]; got != "WT249" {
		t.Fatalf("row 249 maps to %v", got)
	}
	// A replay updates and creates nothing.
	res, err = e.client.UpsertCollection(ctx, "Task", "Twilio_Task_Sid__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Success || r.Created {
			t.Fatalf("replayed row %d = %+v, want updated", i, r)
		}
	}
	if n := len(e.sim.Records("Task")); n != 250 {
		t.Fatalf("Task rows = %d, want 250", n)
	}
}

func TestUpdateCollection(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	a := e.sim.AddRecord("Contact", map[string]any{"LastName": "A"})
	b := e.sim.AddRecord("Contact", map[string]any{"LastName": "B"})
	missing := sfsim.To18("0035g0000zzzzzz")
	res, err := e.client.UpdateCollection(context.Background(), []salesforce.Record{
		{"attributes": map[string]any{"type": "Contact"}, "Id": a, "SMS_Opt_Out__c": true},
		{"attributes": map[string]string{"type": "Contact"}, "Id": missing, "SMS_Opt_Out__c": true},
		{"attributes": map[string]any{"type": "Contact"}, "Id": b, "LastName": nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Success || res[1].Success || res[2].Success {
		t.Fatalf("results = %+v", res)
	}
	if res[2].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" {
		t.Errorf("row 2 = %+v", res[2])
	}
	if e.sim.Record("Contact", a)["SMS_Opt_Out__c"] != true {
		t.Error("opt-out not written")
	}
	if _, err := e.client.UpdateCollection(context.Background(), []salesforce.Record{{"Id": a}}); err == nil {
		t.Error("a record without attributes.type must be refused")
	}
}

func TestQuoteSOQL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `'plain'`},
		{"O'Brien", `'O\'Brien'`},
		{`back\slash`, `'back\\slash'`},
		{`' OR Name != '`, `'\' OR Name != \''`},
		{`\' OR Name != \'`, `'\\\' OR Name != \\\''`},
		{"line\nbreak\r\t", `'line\nbreak\r\t'`},
		{"bell\a", `'bell'`},
		{"back\bspace\fform", `'back\bspace\fform'`},
		{`say "hi"`, `'say \"hi\"'`},
		{"100%_", `'100%_'`},
	}
	for _, tt := range tests {
		if got := salesforce.QuoteSOQL(tt.in); got != tt.want {
			t.Errorf("QuoteSOQL(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := salesforce.QuoteSOQLLike("100%_"); got != `'100\%\_'` {
		t.Errorf("QuoteSOQLLike = %s", got)
	}
}

func TestQuoteSOQLAgainstSim(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	for _, n := range []string{"Alice", "O'Brien", `back\slash`, "two\nlines", "100%"} {
		e.sim.AddRecord("Contact", map[string]any{"LastName": n})
	}
	ctx := context.Background()
	sel, err := salesforce.Select("Contact", []string{"Id", "LastName"})
	if err != nil {
		t.Fatal(err)
	}
	// Unquoted, this value widens the query to every row: the stand-in parses SOQL for real.
	raw, err := e.client.Query(ctx, sel+" WHERE LastName = '' OR LastName != ''")
	if err != nil || raw.TotalSize != 5 {
		t.Fatalf("raw injection sanity check: %d rows, %v", raw.TotalSize, err)
	}
	tests := []struct {
		value string
		want  int
	}{
		{`' OR LastName != '`, 0},
		{`\' OR LastName != \'`, 0},
		{"') OR (LastName != '", 0},
		{"O'Brien", 1},
		{`back\slash`, 1},
		{"two\nlines", 1},
		{"alice", 1}, // SOQL = is case-insensitive
		{"100%", 1},
		{"tab\there", 0},
		{"ctrl\x01\x08\x0c\x7f", 0}, // still a valid literal: SOQL has no \uXXXX
	}
	for _, tt := range tests {
		p, err := e.client.Query(ctx, sel+" WHERE LastName = "+salesforce.QuoteSOQL(tt.value))
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if p.TotalSize != tt.want {
			t.Errorf("LastName = %s matched %d rows, want %d", salesforce.QuoteSOQL(tt.value), p.TotalSize, tt.want)
		}
	}
	p, err := e.client.Query(ctx, sel+" WHERE LastName LIKE "+salesforce.QuoteSOQLLike("100%"))
	if err != nil || p.TotalSize != 1 {
		t.Errorf("LIKE literal %%: %d rows, %v", p.TotalSize, err)
	}
	_, err = e.client.Query(ctx, sel+" WHERE LastName = 'unterminated")
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "MALFORMED_QUERY" {
		t.Errorf("malformed query error = %v", err)
	}
}

func TestNamesAreChecked(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	ctx := context.Background()
	id := e.sim.AddRecord("Contact", map[string]any{"LastName": "X"})
	checks := []struct {
		name string
		err  error
	}{
		{"get object", func() error { _, err := e.client.Get(ctx, "Contact/../Task", id, nil); return err }()},
		{"get field", func() error { _, err := e.client.Get(ctx, "Contact", id, []string{"Name,Email"}); return err }()},
		{"upsert field", func() error {
			_, err := e.client.Upsert(ctx, "Task", "Id/x", "1", nil)
			return err
		}()},
		{"collection object", func() error {
			_, err := e.client.UpsertCollection(ctx, "Task?x=1", "Twilio_Task_Sid__c", nil)
			return err
		}()},
		{"select field", func() error { _, err := salesforce.Select("Contact", []string{"Id FROM User --"}); return err }()},
	}
	for _, c := range checks {
		if !errors.Is(c.err, salesforce.ErrInvalidName) {
			t.Errorf("%s: err = %v, want ErrInvalidName", c.name, c.err)
		}
	}
	if e.sim.APICalls() != 0 {
		t.Errorf("api calls = %d, want none for invalid names", e.sim.APICalls())
	}
	if _, err := e.client.QueryMore(ctx, "https://evil.example/services/data/v62.0/query/01g-2"); err == nil {
		t.Error("QueryMore must refuse a URL that is not a query locator")
	}
}

func TestQueryPaging(t *testing.T) {
	e := MustEnv(t, sfsim.Options{PageSize: 3})
	for i := range 10 {
		e.sim.AddRecord("Contact", map[string]any{"LastName": fmt.Sprintf("L%02d", i), "Outreach_Status__c": "Needs Outreach"})
	}
	e.sim.AddRecord("Contact", map[string]any{"LastName": "Done", "Outreach_Status__c": "Closed"})
	ctx := context.Background()
	q := "SELECT Id, LastName FROM Contact WHERE Outreach_Status__c = " + salesforce.QuoteSOQL("Needs Outreach") + " ORDER BY LastName"
	first, err := e.client.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if first.TotalSize != 10 || first.Done || len(first.Records) != 3 || first.NextRecordsURL == "" {
		t.Fatalf("first page = %+v", first)
	}
	if _, ok := first.Records[0]["attributes"]; ok {
		t.Error("records keep their attributes entry")
	}
	var names []string
	pages := 0
	err = e.client.QueryAll(ctx, q, func(recs []salesforce.Record) error {
		pages++
		for _, r := range recs {
			names = append(names, r["LastName"].(string))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 4 || len(names) != 10 || names[0] != "L00" || names[9] != "L09" {
		t.Fatalf("pages %d, names %v", pages, names)
	}
	stop := errors.New("stop")
	calls := e.sim.APICalls()
	if err := e.client.QueryAll(ctx, q, func([]salesforce.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("QueryAll err = %v, want the callback's", err)
	}
	if e.sim.APICalls() != calls+1 {
		t.Error("QueryAll kept paging after the callback failed")
	}
}

func TestGet(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	id := e.sim.AddRecord("Contact", map[string]any{"FirstName": "Ana", "LastName": "Diaz", "MobilePhone": "+15551230000"})
	ctx := context.Background()
	rec, err := e.client.Get(ctx, "Contact", id, []string{"FirstName", "MobilePhone"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 2 || rec["FirstName"] != "Ana" || rec["MobilePhone"] != "+15551230000" {
		t.Fatalf("record = %v, want just the chosen fields", rec)
	}
	// A 15-character id reads the same row.
	if rec, err := e.client.Get(ctx, "Contact", id[:15], []string{"LastName"}); err != nil || rec["LastName"] != "Diaz" {
		t.Fatalf("15-char id: %v %v", rec, err)
	}

	tests := []struct {
		name      string
		object    string
		id        string
		fields    []string
		notFound  bool
		status    int
		code      string
		noRequest bool
	}{
		{name: "unknown id", object: "Contact", id: sfsim.To18("0035g0000zzzzzz"), notFound: true, status: 404, code: "NOT_FOUND"},
		{name: "unknown object", object: "Nope__c", id: id, notFound: true, status: 404, code: "NOT_FOUND"},
		{name: "malformed id", object: "Contact", id: "003' OR 1=1", notFound: true, status: 404, code: "MALFORMED_ID", noRequest: true},
		{name: "unknown field", object: "Contact", id: id, fields: []string{"Nope__c"}, status: 400, code: "INVALID_FIELD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sim.APICalls()
			_, err := e.client.Get(ctx, tt.object, tt.id, tt.fields)
			if errors.Is(err, salesforce.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v (err %v)", !tt.notFound, tt.notFound, err)
			}
			var ae *salesforce.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code {
				t.Fatalf("err = %v, want APIError %d %s", err, tt.status, tt.code)
			}
			if tt.noRequest && e.sim.APICalls() != before {
				t.Error("a malformed id reached Salesforce")
			}
		})
	}
}

func TestUpsertAndUpdate(t *testing.T) {
	e := MustEnv(t, sfsim.Options{})
	ctx := context.Background()
	res, err := e.client.Upsert(ctx, "Symptom_Survey__c", "Survey_Key__c", "003/2024-05-01", salesforce.Record{"Fever__c": true})
	if err != nil || !res.Created || !strings.HasPrefix(res.ID, "a0X") || len(res.ID) != 18 {
		t.Fatalf("create = %+v, %v", res, err)
	}
	res2, err := e.client.Upsert(ctx, "Symptom_Survey__c", "Survey_Key__c", "003/2024-05-01", salesforce.Record{"Fever__c": false})
	if err != nil || res2.Created || res2.ID != res.ID {
		t.Fatalf("update = %+v, %v", res2, err)
	}
	if got := e.sim.Record("Symptom_Survey__c", res.ID); got["Fever__c"] != false || got["Survey_Key__c"] != "003/2024-05-01" {
		t.Fatalf("row = %v", got)
	}

	e.sim.AddRecord("Task", map[string]any{"Twilio_Task_Sid__c": "WTdup"})
	e.sim.AddRecord("Task", map[string]any{"Twilio_Task_Sid__c": "WTdup"})
	_, err = e.client.Upsert(ctx, "Task", "Twilio_Task_Sid__c", "WTdup", salesforce.Record{"Subject": "x"})
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.Status != 300 || ae.Code != salesforce.CodeMultipleChoices {
		t.Fatalf("multiple matches: err = %v", err)
	}

	id := e.sim.AddRecord("Contact", map[string]any{"LastName": "Opt"})
	if err := e.client.Update(ctx, "Contact", id, salesforce.Record{"SMS_Opt_Out__c": true}); err != nil {
		t.Fatal(err)
	}
	if e.sim.Record("Contact", id)["SMS_Opt_Out__c"] != true {
		t.Fatal("update not stored")
	}
	e.sim.RejectField("Contact", "SMS_Opt_Out__c")
	err = e.client.Update(ctx, "Contact", id, salesforce.Record{"SMS_Opt_Out__c": true})
	if !errors.As(err, &ae) || ae.Code != "INVALID_FIELD" || len(ae.Fields) != 1 || retried(err) {
		t.Fatalf("rejected field: err = %v", err)
	}
	if err := e.client.Update(ctx, "Contact", sfsim.To18("0035g0000zzzzzz"), salesforce.Record{"LastName": "x"}); !errors.Is(err, salesforce.ErrNotFound) {
		t.Fatalf("update unknown id: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	sim := sfsim.New(sfsim.Options{PrivateKey: testKey()})
	defer sim.Close()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	tests := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"pkcs1", sim.PrivateKeyPEM(), false},
		{"pkcs8", sim.PrivateKeyPKCS8PEM(), false},
		{"ec pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), true},
		{"not pem", []byte("hello"), true},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := salesforce.ParsePrivateKey(tt.pem)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			c, err := salesforce.NewClient(salesforce.Config{LoginURL: sim.URL, ClientID: sim.ClientID, Username: sim.Username, PrivateKey: key})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Token(context.Background()); err != nil {
				t.Fatalf("login with %s key: %v", tt.name, err)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := MustEnv(t, sfsim.Options{DailyLimit: 15000}, func(c *salesforce.Config) { c.Registerer = reg })
	ctx := context.Background()
	id := e.sim.AddRecord("Contact", map[string]any{"LastName": "M"})
	if _, err := e.client.Get(ctx, "Contact", id, nil); err != nil {
		t.Fatal(err)
	}
	_, _ = e.client.Get(ctx, "Contact", sfsim.To18("0035g0000zzzzzz"), nil)
	if _, err := e.client.Query(ctx, "SELECT Id FROM Contact"); err != nil {
		t.Fatal(err)
	}
	if used, limit := e.client.APIUsage(); used != 3 || limit != 15000 {
		t.Errorf("APIUsage = %d/%d, want 3/15000", used, limit)
	}
	if e.client.APICalls() != 3 {
		t.Errorf("APICalls = %d, want 3", e.client.APICalls())
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if m.Gauge != nil {
				got[key] = m.Gauge.GetValue()
			} else if m.Counter != nil {
				got[key] = m.Counter.GetValue()
			}
		}
	}
	want := map[string]float64{
		"salesforce_api_usage": 3,
		"salesforce_api_limit": 15000,
		"salesforce_api_requests_total,operation=get,status=200":   1,
		"salesforce_api_requests_total,operation=get,status=404":   1,
		"salesforce_api_requests_total,operation=query,status=200": 1,
		"salesforce_api_requests_total,operation=token,status=200": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if _, err := salesforce.NewClient(e.cfg); err == nil {
		t.Error("a second client on the same registry must fail to register")
	}
}

func TestNewClientChecksConfig(t *testing.T) {
	base := salesforce.Config{ClientID: "id", Username: "u", PrivateKey: testKey()}
	tests := []struct {
		name string
		mut  func(*salesforce.Config)
	}{
		{"no client id", func(c *salesforce.Config) { c.ClientID = "" }},
		{"no username", func(c *salesforce.Config) { c.Username = "" }},
		{"no key", func(c *salesforce.Config) { c.PrivateKey = nil }},
		{"relative login url", func(c *salesforce.Config) { c.LoginURL = "login.salesforce.com" }},
		{"bad version", func(c *salesforce.Config) { c.APIVersion = "62" }},
	}
	if _, err := salesforce.NewClient(base); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		cfg := base
		tt.mut(&cfg)
		if _, err := salesforce.NewClient(cfg); err == nil {
			t.Errorf("%s: NewClient accepted it", tt.name)
		}
	}
}

func BenchmarkUpsertCollection1000(b *testing.B) {
	e := MustEnv(b, sfsim.Options{})
	ctx := context.Background()
	if err := e.client.Token(ctx); err != nil {
		b.Fatal(err)
	}
	recs := taskRecs(1000, "WT")
	e.sim.ResetCounters()
	b.ResetTimer()
	for b.Loop() {
		res, err := e.client.UpsertCollection(ctx, "Task", "Twilio_Task_Sid__c", recs)
		if err != nil || len(res) != 1000 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(e.sim.APICalls())/float64(b.N), "calls/1000rec")
}

func TestDefaultAudience(t *testing.T) {
	for login, want := range map[string]string{
		"https://login.salesforce.com":                       salesforce.AudienceLogin,
		"https://test.salesforce.com":                        salesforce.AudienceTest,
		"https://cityhealth.my.salesforce.com":               salesforce.AudienceLogin,
		"https://cityhealth--uat.sandbox.my.salesforce.com":  salesforce.AudienceTest,
		"https://CityHealth--UAT.Sandbox.My.Salesforce.com/": salesforce.AudienceTest,
		"https://sandbox.my.salesforce.com.attacker.example": salesforce.AudienceLogin,
		"http://127.0.0.1:8443":                              salesforce.AudienceLogin,
	} {
		if got := salesforce.DefaultAudience(login); got != want {
			t.Errorf("DefaultAudience(%q) = %q, want %q", login, got, want)
		}
	}
}

// The assertion's aud is one string, not golang-jwt's default array, and the
// package-wide jwt.MarshalSingleStringAsArray is left alone.
func TestAssertionAudienceIsOneString(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		parts := strings.Split(r.PostForm.Get("assertion"), ".")
		if len(parts) == 3 {
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var claims map[string]json.RawMessage
			_ = json.Unmarshal(raw, &claims)
			got = string(claims["aud"])
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"audience is invalid"}`))
	}))
	defer srv.Close()
	c, err := salesforce.NewClient(salesforce.Config{LoginURL: srv.URL, ClientID: "3MVGx", Username: "u@example.org",
		PrivateKey: testKey(), HTTPClient: salesforce.NewHTTPClient(fastRetry, nil)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Token(context.Background())
	if got != `"https://login.salesforce.com"` {
		t.Fatalf("aud = %s, want the single string", got)
	}
	if !jwt.MarshalSingleStringAsArray {
		t.Fatal("jwt.MarshalSingleStringAsArray was changed: package-level state")
	}
}
