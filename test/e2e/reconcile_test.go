package e2e

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// shiftClock is real time plus an offset the test moves forward, shared by
// the bridge and the Twilio stand-in: "ten minutes" pass in a moment.
type shiftClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *shiftClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *shiftClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// lb routes what Twilio posts to BRIDGE_PUBLIC_URL to the bridge's current
// listener, as a load balancer would; the signature stays on the public URL.
type lb struct {
	mu     sync.Mutex
	target *url.URL
}

func (l *lb) set(raw string) {
	u, _ := url.Parse(raw)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.target = u
}

func (l *lb) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	t := l.target
	l.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = t.Scheme, t.Host
	return http.DefaultTransport.RoundTrip(out)
}

// reconcileWorld is a bridge whose Twilio delivers webhooks itself (event
// callback, inbound SMS, status callbacks) through lb, with a short
// reconcile interval and a shared clock.
func reconcileWorld(t *testing.T, interval time.Duration) (*Bridge, *lb, *shiftClock, *twilio.Client) {
	t.Helper()
	clock := &shiftClock{}
	route := &lb{}
	sim := twiliosim.New(twiliosim.Options{
		Now: clock.Now, HTTPClient: &http.Client{Transport: route, Timeout: 15 * time.Second},
		EventCallbackURL: PublicURL + "/webhooks/twilio/taskrouter", SMSWebhookURL: PublicURL + "/webhooks/twilio/sms",
	})
	t.Cleanup(sim.Close)
	sf := sfsim.New(sfsim.Options{OrgID: SampleOrgID})
	t.Cleanup(sf.Close)
	tuning := DefaultTuning()
	tuning.ReconcileInterval = interval
	b := MustStart(t, Options{Env: AllDaysAtTwilio, Twilio: sim, SF: sf, Now: clock.Now, Tuning: &tuning, Consumer: "reconcile-e2e"})
	route.set(b.URL)
	tw, err := twilio.NewClient(twilio.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken,
		WorkspaceSID: sim.WorkspaceSID, WorkflowSID: sim.WorkflowSID, APIURL: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	return b, route, clock, tw
}

// outcome opens a task on the contact and completes it in "Flex": TaskRouter
// posts task.completed to the bridge (which may be down).
func outcome(t *testing.T, b *Bridge, tw *twilio.Client, contactID string) string {
	t.Helper()
	task, err := tw.CreateTask(context.Background(), map[string]any{"crm": map[string]any{"record_id": contactID, "object": "Contact"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Twilio.CompleteTask(task.SID, map[string]any{"conversations": map[string]any{"outcome": "Reached"}, "call_sid": sid("CA", 7)})
	return task.SID
}

// metric reads one sample from the bridge's /metrics (0 when absent).
func metric(t *testing.T, b *Bridge, name, labels string) float64 {
	t.Helper()
	resp, body := b.Do(http.MethodGet, "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func runs(t *testing.T, b *Bridge) float64 {
	return metric(t, b, "bridge_reconcile_runs_total", `result="ok"`) + metric(t, b, "bridge_reconcile_runs_total", `result="error"`)
}

// Every instance is down for ten minutes while three calls end and the
// contact texts STOP; Twilio does not retry. Within two reconcile
// intervals of the restart every outcome is in Salesforce exactly once
// and the contact is opted out with its reminders canceled.
func TestReconcileRecoversWhatAnOutageLost(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	b, route, clock, tw := reconcileWorld(t, interval)
	b.Log.Plant("(917) 555-0193", "+19175550193")
	id, _ := monitoredContact(t, b, 1, "(917) 555-0193")
	Eventually(t, wait, "reminders", func() bool { return len(b.Twilio.Scheduled()) == 14 })

	// Up: an outcome arrives by webhook.
	before := outcome(t, b, tw, id)
	Eventually(t, wait, "the webhook's outcome", func() bool { return rowsByExternalID(b)[before] == 1 })

	b.Stop()
	attempts := b.Twilio.DeliveryAttempts()
	var lost []string
	for range 3 {
		clock.Add(3 * time.Minute)
		lost = append(lost, outcome(t, b, tw, id))
	}
	clock.Add(time.Minute)
	if _, err := b.Twilio.ReceiveSMS("+19175550193", "+12125550100", "STOP", "STOP"); err == nil {
		t.Fatal("the STOP reached a stopped bridge")
	}
	// 3 event callbacks (never retried) + 1 SMS webhook retried once.
	if n := b.Twilio.DeliveryAttempts() - attempts; n != 5 {
		t.Fatalf("%d delivery attempts while down, want 5", n)
	}

	b.Restart()
	route.set(b.URL)
	runsAtStart := runs(t, b)
	Eventually(t, 10*interval+wait, "the reconciler's recovery", func() bool {
		return metric(t, b, "bridge_reconcile_recovered_total", `kind="task.completed"`) == 3 &&
			metric(t, b, "bridge_reconcile_recovered_total", `kind="sms_stop"`) == 1
	})
	if n := runs(t, b) - runsAtStart; n > 2 {
		t.Fatalf("recovery took %v reconcile runs, want at most 2", n)
	}
	Eventually(t, wait, "the lost outcomes", func() bool {
		rows := rowsByExternalID(b)
		return rows[lost[0]] == 1 && rows[lost[1]] == 1 && rows[lost[2]] == 1
	})
	Eventually(t, wait, "reminders canceled", func() bool { return len(b.Twilio.Scheduled()) == 0 })
	Eventually(t, wait, "opt-out flag in Salesforce", func() bool { return b.SF.Record("Contact", id)["SMS_Opt_Out__c"] == true })

	// More runs re-read the overlap and change nothing.
	Eventually(t, 10*interval, "two more runs", func() bool { return runs(t, b)-runsAtStart >= 3 })
	b.Settle(wait)
	rows := rowsByExternalID(b)
	for _, s := range append(lost, before) {
		if rows[s] != 1 {
			t.Fatalf("outcome %s written %d times", s, rows[s])
		}
	}
	if n := len(b.SF.Records("Task")); n != 4 {
		t.Fatalf("%d Task rows, want 4 (the STOP is no activity)", n)
	}
}

// Redis down with the bridge up: the webhooks answer 503 and Twilio does
// not retry; once Redis is back the reconciler records what was refused.
func TestReconcileRecoversWhatRedisRefused(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	b, _, clock, tw := reconcileWorld(t, interval)
	id := b.SF.AddRecord("Contact", map[string]any{"FirstName": "Ana", "LastName": "Tester"})

	b.Redis.Stop()
	var refused []string
	for range 2 {
		clock.Add(2 * time.Minute)
		refused = append(refused, outcome(t, b, tw, id))
	}
	if _, err := b.Twilio.ReceiveSMS("+19175550194", "+12125550100", "who is this?", ""); err == nil {
		t.Fatal("a reply was recorded with Redis down")
	}
	b.Redis.Restart()
	Eventually(t, 10*interval+wait, "the refused outcomes", func() bool {
		rows := rowsByExternalID(b)
		return rows[refused[0]] == 1 && rows[refused[1]] == 1
	})
	Eventually(t, wait, "the refused reply", func() bool { return len(b.SF.Records("Task")) == 3 })
}

// Every message the bridge sends names the status callback; a failure with
// 21610 opts the contact out as STOP does, and 30003/30005/30006 write one
// activity per message on the contact's record.
func TestStatusCallbacksOptOutAndRecordUndelivered(t *testing.T) {
	t.Parallel()
	b, _, _, _ := reconcileWorld(t, time.Hour)
	b.Log.Plant("(917) 555-0195", "+19175550195", "(917) 555-0196", "+19175550196")
	optedOut, _ := monitoredContact(t, b, 5, "(917) 555-0195")
	landline, _ := monitoredContact(t, b, 6, "(917) 555-0196")
	Eventually(t, wait, "reminders", func() bool { return len(b.Twilio.Scheduled()) == 28 })
	var toOptOut, toLandline []string
	for _, m := range b.Twilio.Scheduled() {
		if m.StatusCallback != PublicURL+"/webhooks/twilio/status" {
			t.Fatalf("message %s has StatusCallback %q", m.SID, m.StatusCallback)
		}
		switch m.To {
		case "+19175550195":
			toOptOut = append(toOptOut, m.SID)
		case "+19175550196":
			toLandline = append(toLandline, m.SID)
		}
	}

	// The carrier reports the landline twice for one message, once for another.
	for _, sid := range []string{toLandline[0], toLandline[0], toLandline[1]} {
		if err := b.Twilio.FailMessage(sid, "undelivered", 30006); err != nil {
			t.Fatal(err)
		}
	}
	// The number had texted STOP to Twilio: the reminder fails with 21610.
	if err := b.Twilio.FailMessage(toOptOut[0], "failed", 21610); err != nil {
		t.Fatal(err)
	}
	Eventually(t, wait, "the opted-out contact's reminders canceled", func() bool {
		for _, m := range b.Twilio.Scheduled() {
			if m.To == "+19175550195" {
				return false
			}
		}
		return true
	})
	Eventually(t, wait, "opt-out flag in Salesforce", func() bool { return b.SF.Record("Contact", optedOut)["SMS_Opt_Out__c"] == true })
	Eventually(t, wait, "two delivery activities", func() bool { return len(b.SF.Records("Task")) == 2 })
	b.Settle(wait)
	rows := rowsByExternalID(b)
	if rows[toLandline[0]+"-delivery"] != 1 || rows[toLandline[1]+"-delivery"] != 1 || len(b.SF.Records("Task")) != 2 {
		t.Fatalf("delivery activities %v, want one per message", rows)
	}
	for _, r := range b.SF.Records("Task") {
		if r["WhoId"] != landline {
			t.Fatalf("activity on %v, want the landline contact %s", r["WhoId"], landline)
		}
	}
	if b.SF.Record("Contact", landline)["SMS_Opt_Out__c"] == true {
		t.Fatal("a landline failure opted the contact out")
	}
}
