package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/server"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// backfillWorld is a Salesforce and Twilio stand-in, a real redis-server,
// the environment `bridge backfill` reads and a serving bridge that does
// the work the command enqueues.
type backfillWorld struct {
	sf  *sfsim.Server
	tw  *twiliosim.Server
	rd  *redistest.Server
	srv *server.Server
	env map[string]string
}

func newBackfillWorld(t *testing.T) *backfillWorld {
	t.Helper()
	w := newUnservedBackfillWorld(t)
	w.serve(t)
	return w
}

// newUnservedBackfillWorld has Salesforce, Twilio and Redis, and no
// `bridge serve` yet.
func newUnservedBackfillWorld(t *testing.T) *backfillWorld {
	t.Helper()
	gin.SetMode(gin.ReleaseMode) // main sets it; quiet the route dump here
	sf := sfsim.New(sfsim.Options{PageSize: 20})
	t.Cleanup(sf.Close)
	tw := twiliosim.New(twiliosim.Options{})
	t.Cleanup(tw.Close)
	rd := redistest.Start(t)
	dir := t.TempDir()
	key, mappingFile := filepath.Join(dir, "sf.pem"), filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(key, sf.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mappingFile, []byte(config.ExampleMapping), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BRIDGE_PUBLIC_URL": "https://bridge.example.org", "BRIDGE_REDIS_URL": rd.URL(), "BRIDGE_MAPPING_FILE": mappingFile,
		"BRIDGE_SF_LOGIN_URL": sf.URL, "BRIDGE_SF_CLIENT_ID": sf.ClientID, "BRIDGE_SF_USERNAME": sf.Username,
		"BRIDGE_SF_PRIVATE_KEY_FILE": key, "BRIDGE_SF_ORG_ID": sf.OrgID,
		"BRIDGE_TWILIO_ACCOUNT_SID": tw.AccountSID, "BRIDGE_TWILIO_AUTH_TOKEN": tw.AuthToken,
		"BRIDGE_TWILIO_WORKSPACE_SID": tw.WorkspaceSID, "BRIDGE_TWILIO_WORKFLOW_SID": tw.WorkflowSID,
		"BRIDGE_TWILIO_MESSAGING_SERVICE_SID": tw.MessagingServiceSID, "BRIDGE_TWILIO_API_URL": tw.URL,
		"BRIDGE_JWT_SECRET": "a-jwt-secret-a-jwt-secret-a-jwt-secret", "BRIDGE_SURVEY_SECRET": "a-survey-secret-a-survey-secret-a-survey",
		"BRIDGE_SF_OUTBOUND_TOKEN": "an-outbound-token-an-outbound-token-0123", "BRIDGE_PROTECTED_FIELDS": "Index_Case_Name__c",
	}
	// 100 contacts: 75 need outreach, 25 are closed. Every name and number is
	// planted: none may be printed.
	for i := range 100 {
		status := "Needs Outreach"
		if i%4 == 3 {
			status = "Closed"
		}
		sf.AddRecord("Contact", map[string]any{
			"FirstName": fmt.Sprintf("Planted%03d", i), "LastName": "Resident", "MobilePhone": fmt.Sprintf("(212) 555-%04d", 1000+i),
			"Outreach_Status__c": status, "Preferred_Language__c": "English", "Index_Case_Name__c": "Index Person",
		})
	}
	return &backfillWorld{sf: sf, tw: tw, rd: rd, env: env}
}

// serve starts `bridge serve` on the world: it consumes what backfill enqueues.
func (w *backfillWorld) serve(t *testing.T) {
	t.Helper()
	senv := map[string]string{"BRIDGE_ADDR": "127.0.0.1:0"}
	for k, v := range w.env {
		senv[k] = v
	}
	cfg, err := config.Load(config.MapSource(senv), config.ModeServe)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	w.srv = srv
}

// settle waits until the serving bridge has handled everything enqueued.
func (w *backfillWorld) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		busy := false
		for _, st := range w.srv.QueueStats(context.Background()) {
			busy = busy || st.Length > 0 || st.Pending > 0 || st.Retrying > 0
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues not drained: %+v", w.srv.QueueStats(context.Background()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seen counts record sync's dedupe keys: one per item ever enqueued.
func (w *backfillWorld) seen(t *testing.T) int {
	t.Helper()
	keys, err := w.rd.Client(t).Keys(context.Background(), "bridge:{records}:seen:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// cancelAfter is stdout that cancels the run once it has printed n page lines.
type cancelAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.n > 0 && strings.Count(w.buf.String(), "backfill: ") > w.n {
		w.cancel()
	}
	return len(p), nil
}

func (w *backfillWorld) run(t *testing.T, ctx context.Context, stdout *cancelAfter, args ...string) (int, string, string) {
	t.Helper()
	var errOut bytes.Buffer
	if stdout == nil {
		stdout = &cancelAfter{}
	}
	code := run(ctx, append([]string{"backfill"}, args...), config.MapSource(w.env), stdout, &errOut)
	out := stdout.buf.String()
	t.Logf("bridge backfill %q: exit %d\n%s%s", args, code, out, errOut.String())
	for _, s := range []string{"Planted", "555-", "Index Person"} {
		if strings.Contains(out, s) || strings.Contains(errOut.String(), s) {
			t.Fatalf("a record value (%q) was printed:\n%s\n%s", s, out, errOut.String())
		}
	}
	return code, out, errOut.String()
}

const needsOutreach = "--where=Outreach_Status__c = 'Needs Outreach'"

func TestBackfillCommand(t *testing.T) {
	t.Parallel()
	w := newBackfillWorld(t)
	ctx := context.Background()

	// Interrupted after the second page (Ctrl-C is a cancelled context).
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	code, out, stderr := w.run(t, cctx, &cancelAfter{n: 2, cancel: cancel}, needsOutreach, "--page-size", "20")
	if code != exitInterrupted || !strings.Contains(out, "Run the same command again to resume after") {
		t.Fatalf("interrupted run: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "backfill: 20/75 records, 20 enqueued") ||
		!strings.Contains(out, "backfill: 40/75 records, 40 enqueued") {
		t.Fatalf("page lines missing:\n%s", out)
	}
	w.settle(t)
	if n := len(w.tw.Tasks()); n != 40 {
		t.Fatalf("%d tasks after two pages, want 40", n)
	}

	// Resumed: the rest, and the counts of both runs add up.
	code, out, stderr = w.run(t, ctx, nil, needsOutreach, "--page-size", "20")
	if code != 0 || !strings.Contains(out, "resuming after") || !strings.Contains(out, "complete: 75 of 75 records") ||
		!strings.Contains(out, fmt.Sprintf("  enqueued          %7d", 75)) {
		t.Fatalf("resumed run: exit %d\n%s\n%s", code, out, stderr)
	}
	w.settle(t)
	if n := len(w.tw.Tasks()); n != 75 {
		t.Fatalf("%d tasks, want one per Needs Outreach record (75)", n)
	}

	seen := w.seen(t)
	code, out, _ = w.run(t, ctx, nil, needsOutreach)
	if code != 0 || !strings.Contains(out, "already complete: 75 records (75 enqueued") || !strings.Contains(out, "--restart") || w.seen(t) != seen {
		t.Fatalf("rerun: exit %d, %d items enqueued\n%s", code, w.seen(t)-seen, out)
	}

	// --restart enqueues every record again; each is already in step.
	w.tw.ResetCalls()
	code, out, stderr = w.run(t, ctx, nil, needsOutreach, "--restart")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("  enqueued          %7d", 75)) || strings.Contains(out, "resuming") {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, stderr)
	}
	w.settle(t)
	if n := w.tw.TotalCalls(); n != 0 || len(w.tw.Tasks()) != 75 {
		t.Fatalf("restart made %d Twilio calls (%d tasks), want 0", n, len(w.tw.Tasks()))
	}

	// A dry run over every contact sends and enqueues nothing.
	seen = w.seen(t)
	code, out, _ = w.run(t, ctx, nil, "--where", "LastName = 'Resident'", "--dry-run")
	if code != 0 || !strings.Contains(out, "to open or update      75") || !strings.Contains(out, "to cancel              25") || w.tw.TotalCalls() != 0 || w.seen(t) != seen {
		t.Fatalf("dry run: exit %d, %d Twilio calls, %d items enqueued\n%s", code, w.tw.TotalCalls(), w.seen(t)-seen, out)
	}
}

// With no instance serving, the backlog cannot drain: the run says so once,
// enqueues everything without waiting, and a bridge started later syncs it.
func TestBackfillWithNoInstanceServingDoesNotWait(t *testing.T) {
	t.Parallel()
	w := newUnservedBackfillWorld(t)
	code, out, stderr := w.run(t, context.Background(), nil, needsOutreach, "--page-size", "10")
	if code != 0 || !strings.Contains(out, "complete: 75 of 75 records") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Count(stderr, "no bridge instance is working") != 1 {
		t.Fatalf("want one warning that nothing serves:\n%s", stderr)
	}
	if n := len(w.tw.Tasks()); n != 0 {
		t.Fatalf("%d tasks before any instance served", n)
	}
	w.serve(t)
	w.settle(t)
	if n := len(w.tw.Tasks()); n != 75 {
		t.Fatalf("%d tasks once serving, want 75", n)
	}
}

func TestBackfillMalformedConditionIsRefusedBySalesforce(t *testing.T) {
	t.Parallel()
	w := newBackfillWorld(t)
	code, out, stderr := w.run(t, context.Background(), nil, "--where", "Outreach_Status__c = 'Needs Outreach' AND")
	if code != 2 || !strings.Contains(stderr, "MALFORMED_QUERY") || out != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, stderr)
	}
	code, _, stderr = w.run(t, context.Background(), nil, "--where", "No_Such_Field__c = 1")
	if code != 2 || !strings.Contains(stderr, "INVALID_FIELD") {
		t.Fatalf("unknown field: exit %d %s", code, stderr)
	}
	if n := w.tw.TotalCalls(); n != 0 || w.seen(t) != 0 {
		t.Fatalf("%d Twilio calls, %d items enqueued", n, w.seen(t))
	}
}

func TestBackfillUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--where", " "}, {"--where", "X = 1", "extra"}, {"--where", "X = 1", "--page-size", "0"}, {"--bogus"}} {
		code, _, stderr := runCmd(t, nil, append([]string{"backfill"}, args...)...)
		if code != 2 || stderr == "" {
			t.Errorf("%q: exit %d %q", args, code, stderr)
		}
	}
	// Settings are checked as serve checks them, before anything is read.
	code, _, stderr := runCmd(t, map[string]string{}, "backfill", "--where", "X = 1")
	if code != 2 || !strings.Contains(stderr, "BRIDGE_") {
		t.Fatalf("exit %d %q", code, stderr)
	}
}

// Redis down: a clear error before anything is read, and nothing enqueued.
func TestBackfillRedisDown(t *testing.T) {
	t.Parallel()
	w := newBackfillWorld(t)
	w.env["BRIDGE_REDIS_URL"] = "redis://127.0.0.1:1/0"
	calls := w.sf.APICalls()
	code, _, stderr := w.run(t, context.Background(), nil, needsOutreach)
	if code != 1 || !strings.Contains(stderr, "bridge backfill: load mapping:") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if w.sf.APICalls() != calls || w.seen(t) != 0 {
		t.Fatalf("%d Salesforce calls, %d items enqueued", w.sf.APICalls()-calls, w.seen(t))
	}
}
