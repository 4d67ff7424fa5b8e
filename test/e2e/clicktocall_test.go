package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/test/twiliosim"
)

func seedContact(b *Bridge, first, phone string) string {
	rec := map[string]any{"FirstName": first, "LastName": "Tester", "Preferred_Language__c": "Spanish",
		"Index_Case_Name__c": "Jordan Example", "Case_Number__c": "NYC-2026-000042"}
	if phone != "" {
		rec["MobilePhone"] = phone
	}
	return b.SF.AddRecord("Contact", rec)
}

func (b *Bridge) click(token, recordID string) (*http.Response, map[string]any) {
	b.tb.Helper()
	resp, body := b.Do(http.MethodPost, "/v1/click-to-call", fmt.Sprintf(`{"record_id":%q}`, recordID),
		map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"})
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return resp, out
}

func TestClickToCallCreatesTaskWithCRMContext(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "Quinn", "(646) 555-0175")
	id := seedContact(b, "Quinn", "(646) 555-0175")

	resp, out := b.click(b.AgentToken, id)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("click: %d %v", resp.StatusCode, out)
	}
	sid, _ := out["task_sid"].(string)
	attrs, _ := out["attributes"].(map[string]any)
	crm, _ := attrs["crm"].(map[string]any)
	switch {
	case !strings.HasPrefix(sid, "WT"):
		t.Fatalf("task_sid %q", sid)
	case attrs["direction"] != "outbound", attrs["to"] != "+16465550175", attrs["from"] != "+12125550100", attrs["targetWorker"] != b.WorkerSID:
		t.Fatalf("call attributes wrong: %v", attrs)
	case crm["record_id"] != id, crm["object"] != "Contact", crm["name"] != "Quinn", crm["language"] != "es":
		t.Fatalf("crm context wrong: %v", crm)
	}
	task, ok := b.Twilio.Task(sid)
	if !ok || task.Attributes["targetWorker"] != b.WorkerSID {
		t.Fatalf("task not in TaskRouter as returned: %v", task)
	}
	raw, _ := json.Marshal(task.Attributes)
	if strings.Contains(string(raw), "Jordan") || strings.Contains(string(raw), "Index_Case") {
		t.Fatalf("protected field reached the task: %s", raw)
	}

	// A double click within 10 s: 200, the same task, nothing new.
	resp, again := b.click(b.AgentToken, id)
	if resp.StatusCode != http.StatusOK || again["task_sid"] != sid {
		t.Fatalf("double click: %d %v", resp.StatusCode, again)
	}
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("%d tasks after a double click", n)
	}
}

func TestClickToCallConcurrentDoubleClick(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	id := seedContact(b, "Rowan", "(646) 555-0111")
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	sids := make([]any, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, out := b.click(b.AgentToken, id)
			statuses[i], sids[i] = resp.StatusCode, out["task_sid"]
		}()
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		if s == http.StatusCreated {
			created++
		}
		if sids[i] != sids[0] {
			t.Fatalf("clicks got different tasks: %v", sids)
		}
	}
	if created != 1 || len(b.Twilio.Tasks()) != 1 {
		t.Fatalf("statuses %v, %d tasks; want one 201 and one task", statuses, len(b.Twilio.Tasks()))
	}
}

func TestClickToCallRefusals(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	noPhone := seedContact(b, "Noor", "")
	cases := []struct {
		name, id string
		status   int
		inError  string
	}{
		{"unknown record", ContactID(999), http.StatusNotFound, "not found"},
		{"no callable number", noPhone, http.StatusUnprocessableEntity, "MobilePhone"},
		{"malformed id", "003-not-an-id", http.StatusBadRequest, "record_id"},
		{"injection-shaped id", "003' OR Id != '", http.StatusBadRequest, "record_id"},
		{"path traversal", "../../sobjects/User", http.StatusBadRequest, "record_id"},
		{"empty", "", http.StatusBadRequest, "record_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := b.SF.APICalls()
			resp, out := b.click(b.AgentToken, tc.id)
			msg, _ := out["error"].(string)
			if resp.StatusCode != tc.status || !strings.Contains(msg, tc.inError) {
				t.Fatalf("want %d mentioning %q, got %d %v", tc.status, tc.inError, resp.StatusCode, out)
			}
			if tc.status == http.StatusBadRequest && b.SF.APICalls() != before {
				t.Fatal("a malformed id reached Salesforce")
			}
		})
	}
	if n := len(b.Twilio.Tasks()); n != 0 {
		t.Fatalf("refused clicks created %d tasks", n)
	}
}

func TestAgentTokens(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	id := seedContact(b, "Sasha", "(646) 555-0122")
	secret := b.Config.JWT.Secret
	mint := func(mc auth.MintClaims, key []byte) string {
		if mc.Issuer == "" {
			mc.Issuer = "bridge"
		}
		if mc.Audience == "" {
			mc.Audience = "bridge"
		}
		if mc.TTL == 0 {
			mc.TTL = time.Hour
		}
		tok, err := auth.Mint(key, mc)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	agent := auth.MintClaims{Subject: "ana", Role: auth.RoleAgent, WorkerSID: b.WorkerSID}
	expired := agent
	expired.Now, expired.TTL = time.Now().Add(-3*time.Hour), time.Hour
	wrongAud := agent
	wrongAud.Audience = "someone-else"
	noWorker := agent
	noWorker.WorkerSID = ""
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"ana","role":"agent","worker_sid":%q,"iss":"bridge","aud":"bridge","exp":%d}`, b.WorkerSID, time.Now().Add(time.Hour).Unix())))
	algNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."

	cases := []struct {
		name, header, value string
		status              int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"expired", "Authorization", "Bearer " + mint(expired, secret), http.StatusUnauthorized},
		{"forged", "Authorization", "Bearer " + mint(agent, []byte("another-secret-another-secret-12345")), http.StatusUnauthorized},
		{"wrong audience", "Authorization", "Bearer " + mint(wrongAud, secret), http.StatusUnauthorized},
		{"alg none", "Authorization", "Bearer " + algNone, http.StatusUnauthorized},
		{"garbage", "Authorization", "Bearer not.a.jwt", http.StatusUnauthorized},
		{"agent without worker", "Authorization", "Bearer " + mint(noWorker, secret), http.StatusForbidden},
		{"invalid flex token", "X-Flex-Token", "eyJ.invalid.flex", http.StatusUnauthorized},
		{"flex token", "X-Flex-Token", b.Twilio.IssueFlexToken("tracer@cityhealth.example", b.WorkerSID, time.Hour), http.StatusCreated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			if tc.header != "" {
				h[tc.header] = tc.value
			}
			resp, body := b.Do(http.MethodPost, "/v1/click-to-call", fmt.Sprintf(`{"record_id":%q}`, id), h)
			if resp.StatusCode != tc.status {
				t.Fatalf("want %d, got %d %s", tc.status, resp.StatusCode, body)
			}
			if tc.status >= 400 && (!strings.Contains(string(body), `"error"`) || (tc.value != "" && strings.Contains(string(body), tc.value))) {
				t.Fatalf("error body %s", body)
			}
		})
	}
	// An agent token on an admin route: 403, the wrong role.
	if resp, _ := b.Do(http.MethodGet, "/admin/api/mappings", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent on admin route: %d", resp.StatusCode)
	}
}

func TestClickToCallVendorFailures(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	id := seedContact(b, "Tal", "(646) 555-0133")

	// Salesforce down: a clear 503 and nothing created.
	b.SF.SetOutage(true)
	resp, out := b.click(b.AgentToken, id)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(out["error"]), "try again") {
		t.Fatalf("Salesforce down: %d %v", resp.StatusCode, out)
	}
	b.SF.SetOutage(false)
	// Twilio down: the same, and the next click can still go through.
	b.Twilio.FailNext(twiliosim.OpCreateTask, 1, http.StatusServiceUnavailable)
	if resp, out := b.click(b.AgentToken, id); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Twilio down: %d %v", resp.StatusCode, out)
	}
	if n := len(b.Twilio.Tasks()); n != 0 {
		t.Fatalf("%d tasks half-created", n)
	}
	// The Salesforce session expires between clicks: one refresh, then success.
	b.SF.ExpireSessions()
	if resp, out := b.click(b.AgentToken, id); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after session expiry: %d %v", resp.StatusCode, out)
	}
}

func TestRecordContextForScreenPop(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	id := seedContact(b, "Uma", "(646) 555-0144")
	get := func() (int, map[string]any) {
		resp, body := b.Do(http.MethodGet, "/v1/records/"+id+"/context", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken})
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		return resp.StatusCode, out
	}
	status, attrs := get()
	crm, _ := attrs["crm"].(map[string]any)
	if status != http.StatusOK || crm["record_id"] != id || attrs["to"] != "+16465550144" || attrs["direction"] != "outbound" {
		t.Fatalf("context: %d %v", status, attrs)
	}
	raw, _ := json.Marshal(attrs)
	if strings.Contains(string(raw), "Jordan") {
		t.Fatalf("protected field in context: %s", raw)
	}
	calls := b.SF.APICalls()
	if status, _ := get(); status != http.StatusOK || b.SF.APICalls() != calls {
		t.Fatalf("a repeated screen pop made %d Salesforce calls, want 0 (cache)", b.SF.APICalls()-calls)
	}
	if n := len(b.Twilio.Tasks()); n != 0 {
		t.Fatalf("context created %d tasks", n)
	}
}

// A create that times out after TaskRouter made the task: the click finds
// that task instead of failing or making a second one.
func TestClickToCallAmbiguousCreateFindsTheTask(t *testing.T) {
	t.Parallel()
	tuning := DefaultTuning()
	tuning.TwilioTimeout = 300 * time.Millisecond
	b := MustStart(t, Options{Tuning: &tuning})
	id := seedContact(b, "Vera", "(646) 555-0155")
	b.Twilio.SetLatency(twiliosim.OpCreateTask, time.Second)
	resp, out := b.click(b.AgentToken, id)
	b.Twilio.SetLatency(twiliosim.OpCreateTask, 0)
	tasks := b.Twilio.Tasks()
	if resp.StatusCode != http.StatusCreated || len(tasks) != 1 || out["task_sid"] != tasks[0].SID {
		t.Fatalf("ambiguous create: %d %v, %d tasks", resp.StatusCode, out, len(tasks))
	}
	// A second click within the window returns the same task.
	if resp, again := b.click(b.AgentToken, id); resp.StatusCode != http.StatusOK || again["task_sid"] != tasks[0].SID {
		t.Fatalf("second click: %d %v", resp.StatusCode, again)
	}
}
