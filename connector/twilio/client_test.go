package twilio_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/test/testclock"
	"github.com/cityhealth/bridge/test/twiliosim"
)

type env struct {
	sim   *twiliosim.Server
	c     *twilio.Client
	clock *testclock.Clock
	reg   *prometheus.Registry
}

// mustEnv starts a sim that insists on Twilio's Host headers and a client
// pointed at it through APIURL.
func mustEnv(tb testing.TB, mod func(*twilio.Config)) *env {
	tb.Helper()
	clk := testclock.At(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	sim := twiliosim.New(twiliosim.Options{Now: clk.Now, StrictHost: true})
	tb.Cleanup(sim.Close)
	reg := prometheus.NewRegistry()
	cfg := twilio.Config{
		AccountSID: sim.AccountSID, AuthToken: sim.AuthToken,
		WorkspaceSID: sim.WorkspaceSID, WorkflowSID: sim.WorkflowSID,
		MessagingServiceSID: sim.MessagingServiceSID,
		APIURL:              sim.URL,
		Registerer:          reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := twilio.NewClient(cfg)
	if err != nil {
		tb.Fatalf("NewClient: %v", err)
	}
	return &env{sim: sim, c: c, clock: clk, reg: reg}
}

func TestOriginTransportKeepsHostPathAndQuery(t *testing.T) {
	type seen struct{ host, path, rawQuery, auth string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization")}
	}))
	defer srv.Close()
	hc := &http.Client{Transport: twilio.NewOriginTransport(srv.URL, nil)}

	tests := []struct{ name, url, host, path, query string }{
		{"taskrouter", "https://taskrouter.twilio.com/v1/Workspaces/WS1/Tasks?AssignmentStatus=pending&AssignmentStatus=reserved&EvaluateTaskAttributes=crm.record_id%20%3D%3D%20%22003%22",
			"taskrouter.twilio.com", "/v1/Workspaces/WS1/Tasks", "AssignmentStatus=pending&AssignmentStatus=reserved&EvaluateTaskAttributes=crm.record_id%20%3D%3D%20%22003%22"},
		{"api", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/SM1.json", "api.twilio.com", "/2010-04-01/Accounts/AC1/Messages/SM1.json", ""},
		{"iam", "https://iam.twilio.com/v1/Accounts/AC1/Tokens/validate", "iam.twilio.com", "/v1/Accounts/AC1/Tokens/validate", ""},
		{"escaped path", "https://api.twilio.com/a%2Fb/c", "api.twilio.com", "/a%2Fb/c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			req.SetBasicAuth("AC1", "tok")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := <-got
			if s.host != tt.host || s.path != tt.path || s.rawQuery != tt.query {
				t.Errorf("got host %q path %q query %q; want %q %q %q", s.host, s.path, s.rawQuery, tt.host, tt.path, tt.query)
			}
			if s.auth == "" {
				t.Error("Authorization header lost")
			}
			if req.URL.Host != tt.host {
				t.Errorf("caller's request was modified: %s", req.URL)
			}
		})
	}

	t.Run("bad origin", func(t *testing.T) {
		hc := &http.Client{Transport: twilio.NewOriginTransport("ftp://x/y", nil)}
		if _, err := hc.Get("https://api.twilio.com/"); err == nil {
			t.Fatal("want an error for a bad origin")
		}
	})
}

// Outside us1, Flex tokens are validated at iam.{region}.twilio.com.
func TestFlexTokenValidatedInTheAccountsRegion(t *testing.T) {
	sim := twiliosim.New(twiliosim.Options{StrictHost: true, Region: "ie1"})
	t.Cleanup(sim.Close)
	for region, wantOK := range map[string]bool{"ie1": true, "": false, "us1": false} {
		c, err := twilio.NewClient(twilio.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken,
			WorkspaceSID: sim.WorkspaceSID, WorkflowSID: sim.WorkflowSID, APIURL: sim.URL, Region: region})
		if err != nil {
			t.Fatal(err)
		}
		tok := sim.IssueFlexToken("ana", "WK"+strings.Repeat("0", 32), time.Hour)
		_, err = c.ValidateFlexToken(context.Background(), tok)
		if (err == nil) != wantOK {
			t.Errorf("region %q: err %v, want ok=%v", region, err, wantOK)
		}
	}
	reqs := sim.Requests()
	if len(reqs) == 0 || reqs[0].Host != "iam.ie1.twilio.com" {
		t.Fatalf("requests %+v", reqs)
	}
	if _, err := twilio.NewClient(twilio.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken,
		WorkspaceSID: sim.WorkspaceSID, WorkflowSID: sim.WorkflowSID, Region: "ie1.evil.com/"}); err == nil {
		t.Fatal("a malformed region must be refused")
	}
}

func TestClientRoutesThroughOriginWithTwilioHosts(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	if _, err := e.c.CreateTask(ctx, map[string]any{"a": 1}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ScheduleMessage(ctx, "+12125550123", "hi", e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ValidateFlexToken(ctx, "nope"); !errors.Is(err, twilio.ErrFlexTokenInvalid) {
		t.Fatalf("want ErrFlexTokenInvalid, got %v", err)
	}
	want := map[string]string{
		twiliosim.OpCreateTask:      "taskrouter.twilio.com",
		twiliosim.OpScheduleMessage: "api.twilio.com",
		twiliosim.OpValidateToken:   "iam.twilio.com",
	}
	for _, r := range e.sim.Requests() {
		if want[r.Op] != r.Host {
			t.Errorf("%s went with Host %q, want %q", r.Op, r.Host, want[r.Op])
		}
	}
	if n := len(e.sim.Requests()); n != 3 {
		t.Errorf("sim saw %d requests, want 3", n)
	}
}

func TestConfigValidate(t *testing.T) {
	sid := func(p string) string { return p + strings.Repeat("a", 32) }
	good := twilio.Config{AccountSID: sid("AC"), AuthToken: "abc123", WorkspaceSID: sid("WS"), WorkflowSID: sid("WW")}
	tests := []struct {
		name    string
		mod     func(*twilio.Config)
		wantErr string
	}{
		{"good", func(*twilio.Config) {}, ""},
		{"account", func(c *twilio.Config) { c.AccountSID = "AC1" }, "AccountSID"},
		{"workspace prefix", func(c *twilio.Config) { c.WorkspaceSID = sid("WW") }, "WorkspaceSID"},
		{"token chars", func(c *twilio.Config) { c.AuthToken = "a-b" }, "AuthToken"},
		{"messaging", func(c *twilio.Config) { c.MessagingServiceSID = "MGx" }, "MessagingServiceSID"},
		{"api url path", func(c *twilio.Config) { c.APIURL = "http://localhost:1/x" }, "APIURL"},
		{"task timeout", func(c *twilio.Config) { c.TaskTimeout = twilio.MaxTaskTimeout + time.Second }, "TaskTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			_, err := twilio.NewClient(cfg)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v should name %s", err, tt.wantErr)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	tests := []struct {
		name                     string
		status                   int
		wantTransient, wantAmbig bool
	}{
		{"503", 503, true, false},
		{"500", 500, true, true},
		{"502", 502, true, true},
		{"429", 429, true, false},
		{"400", 400, false, false},
		{"404", 404, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, nil)
			e.sim.FailNext(twiliosim.OpCreateTask, 1, tt.status)
			_, err := e.c.CreateTask(context.Background(), map[string]any{"x": "y"}, 1)
			var ae *twilio.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want *APIError, got %T %v", err, err)
			}
			if ae.Status != tt.status || ae.Code != 20000+tt.status {
				t.Errorf("got status %d code %d", ae.Status, ae.Code)
			}
			if retried(err) != tt.wantTransient || twilio.IsAmbiguous(err) != tt.wantAmbig {
				t.Errorf("retried=%v IsAmbiguous=%v", retried(err), twilio.IsAmbiguous(err))
			}
			if len(e.sim.Tasks()) != 0 {
				t.Error("a failed call created a task")
			}
			// the next call goes through
			if _, err := e.c.CreateTask(context.Background(), map[string]any{"x": "y"}, 1); err != nil {
				t.Fatalf("second call: %v", err)
			}
		})
	}

	t.Run("wrong auth token", func(t *testing.T) {
		e := mustEnv(t, func(c *twilio.Config) { c.AuthToken = "0123456789abcdef0123456789abcdef" })
		_, err := e.c.CreateTask(context.Background(), nil, 0)
		var ae *twilio.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != 20003 {
			t.Fatalf("want 401/20003, got %v", err)
		}
		if retried(err) {
			t.Error("401 must not be transient")
		}
	})

	t.Run("outage", func(t *testing.T) {
		e := mustEnv(t, nil)
		e.sim.SetOutage(true)
		err := e.c.CancelMessage(context.Background(), "SM"+strings.Repeat("0", 32))
		if !retried(err) {
			t.Fatalf("outage should be transient: %v", err)
		}
		e.sim.SetOutage(false)
	})

	t.Run("non-JSON error body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}))
		defer srv.Close()
		c := mustClient(t, srv.URL, nil)
		_, err := c.CreateTask(context.Background(), nil, 0)
		var ae *twilio.APIError
		if !errors.As(err, &ae) || ae.Status != 502 {
			t.Fatalf("want APIError 502, got %T %v", err, err)
		}
	})

	t.Run("message redacts phone numbers", func(t *testing.T) {
		err := &twilio.APIError{Status: 400, Code: 21211, Message: "The 'To' number +12125550123 is not a valid phone number."}
		if strings.Contains(err.Error(), "5550123") {
			t.Errorf("phone number leaked: %s", err)
		}
	})
}

func mustClient(tb testing.TB, apiURL string, hc *http.Client) *twilio.Client {
	tb.Helper()
	sid := func(p string) string { return p + strings.Repeat("a", 32) }
	c, err := twilio.NewClient(twilio.Config{AccountSID: sid("AC"), AuthToken: "abc123", WorkspaceSID: sid("WS"),
		WorkflowSID: sid("WW"), APIURL: apiURL, HTTPClient: hc})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestAmbiguousTimeoutThenReconcile(t *testing.T) {
	e := mustEnv(t, func(c *twilio.Config) { c.Timeout = 300 * time.Millisecond })
	e.sim.SetLatency(twiliosim.OpCreateTask, 5*time.Second)
	ctx := context.Background()
	attrs := map[string]any{"crm": map[string]any{"record_id": "003RM00000Qx1a2YAB", "object": "Contact"}}

	_, err := e.c.CreateTask(ctx, attrs, 2)
	if err == nil {
		t.Fatal("want a timeout")
	}
	var te *twilio.TransportError
	if !errors.As(err, &te) || !te.Sent || !te.Timeout() {
		t.Fatalf("want a sent, timed-out TransportError, got %T %v", err, err)
	}
	if !twilio.IsAmbiguous(err) || !retried(err) {
		t.Fatalf("IsAmbiguous=%v retried=%v", twilio.IsAmbiguous(err), retried(err))
	}
	if n := len(e.sim.Tasks()); n != 1 {
		t.Fatalf("sim holds %d tasks, want the 1 created before the timeout", n)
	}

	e.sim.SetLatency(twiliosim.OpCreateTask, 0)
	open, err := e.c.FindOpenTasks(ctx, "crm.record_id == "+twilio.QuoteExpr("003RM00000Qx1a2YAB"))
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].SID != e.sim.Tasks()[0].SID || open[0].Priority != 2 {
		t.Fatalf("reconcile found %+v", open)
	}
	if got := callCount(t, e.reg, "create_task", "timeout"); got != 1 {
		t.Errorf("timeout metric = %v", got)
	}
}

// callCount reads bridge_twilio_calls_total{operation=op,status=status}.
func callCount(tb testing.TB, reg *prometheus.Registry, op, status string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "bridge_twilio_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operation"] == op && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestNotSentIsNotAmbiguous(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	c := mustClient(t, "http://"+addr, nil)
	_, err = c.CreateTask(context.Background(), nil, 0)
	var te *twilio.TransportError
	if !errors.As(err, &te) || te.Sent {
		t.Fatalf("want an unsent TransportError, got %T %v", err, err)
	}
	if twilio.IsAmbiguous(err) || !retried(err) {
		t.Fatalf("IsAmbiguous=%v retried=%v", twilio.IsAmbiguous(err), retried(err))
	}
}

func TestContext(t *testing.T) {
	t.Run("cancelled before the call", func(t *testing.T) {
		e := mustEnv(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.c.CreateTask(ctx, nil, 0)
		if !errors.Is(err, context.Canceled) || twilio.IsAmbiguous(err) {
			t.Fatalf("got %v", err)
		}
		if e.sim.TotalCalls() != 0 {
			t.Fatal("a cancelled context still reached Twilio")
		}
	})
	t.Run("deadline during the call", func(t *testing.T) {
		e := mustEnv(t, nil)
		e.sim.SetLatency(twiliosim.OpCreateTask, 5*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.c.CreateTask(ctx, nil, 0)
		if time.Since(start) > 4*time.Second {
			t.Fatal("the context deadline did not stop the call")
		}
		if !twilio.IsAmbiguous(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %T %v", err, err)
		}
	})
}

func TestMetrics(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	if _, err := e.c.CreateTask(ctx, nil, 0); err != nil {
		t.Fatal(err)
	}
	e.sim.FailNext(twiliosim.OpCreateTask, 1, 503)
	_, _ = e.c.CreateTask(ctx, nil, 0)
	if got := callCount(t, e.reg, "create_task", "201"); got != 1 {
		t.Errorf("201 count = %v", got)
	}
	if got := callCount(t, e.reg, "create_task", "503"); got != 1 {
		t.Errorf("503 count = %v", got)
	}
	mfs, _ := e.reg.Gather()
	var samples uint64
	for _, mf := range mfs {
		if mf.GetName() == "bridge_twilio_call_duration_seconds" {
			for _, m := range mf.GetMetric() {
				samples += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if samples != 2 {
		t.Errorf("latency histogram holds %d samples, want 2", samples)
	}
	// a second client on the same registry reuses the collectors
	if _, err := twilio.NewClient(twilio.Config{AccountSID: e.sim.AccountSID, AuthToken: e.sim.AuthToken,
		WorkspaceSID: e.sim.WorkspaceSID, WorkflowSID: e.sim.WorkflowSID, Registerer: e.reg}); err != nil {
		t.Fatalf("second client: %v", err)
	}
}
