package democonsole_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/cityhealth/bridge/test/democonsole"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

const orgID = "00DRM000000AbCD2AY"

// fakeBridge records what reaches the bridge's entry points.
type fakeBridge struct {
	mu       sync.Mutex
	requests []captured
	status   int
}

type captured struct {
	path, query, signature string
	body                   []byte
}

func (f *fakeBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, captured{r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Twilio-Signature"), b})
	status := f.status
	f.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if strings.HasSuffix(r.URL.Path, "/outbound") && status == http.StatusOK {
		io.WriteString(w, "<Ack>true</Ack>")
	}
}

func (f *fakeBridge) last(t *testing.T, path string) captured {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].path == path {
			return f.requests[i]
		}
	}
	t.Fatalf("nothing reached %s", path)
	return captured{}
}

func (f *fakeBridge) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.requests) }

type world struct {
	sf      *sfsim.Server
	tw      *twiliosim.Server
	bridge  *fakeBridge
	console *httptest.Server
	alex    string
	// bridgeURL is where the fake bridge listens (its BRIDGE_PUBLIC_URL).
	bridgeURL string
}

func setup(t *testing.T) *world {
	t.Helper()
	w := &world{sf: sfsim.New(sfsim.Options{OrgID: orgID}), tw: twiliosim.New(twiliosim.Options{}), bridge: &fakeBridge{}}
	t.Cleanup(w.sf.Close)
	t.Cleanup(w.tw.Close)
	b := httptest.NewServer(w.bridge)
	t.Cleanup(b.Close)
	w.bridgeURL = b.URL
	w.tw.SetEventCallbackURL(b.URL + "/webhooks/twilio/taskrouter")
	c, err := democonsole.New(democonsole.Config{
		Salesforce: w.sf, Twilio: w.tw, BridgeURL: b.URL, OrgID: orgID, OutboundToken: "tok-0123456789abcdef0123456789abcdef",
		ServiceNumber: "+12125550100", Protected: []string{"Index_Case_Name__c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.console = httptest.NewServer(c)
	t.Cleanup(w.console.Close)
	w.alex = w.sf.AddRecord("Contact", map[string]any{
		"FirstName": "Alex", "LastName": "Rivera", "MobilePhone": "(212) 555-0123", "Priority__c": 5.0,
		"Index_Case_Name__c": "Planted Protected Name", "Outreach_Status__c": "Needs Outreach",
	})
	return w
}

func (w *world) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(w.console.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (w *world) state(t *testing.T) (democonsole.State, string) {
	t.Helper()
	resp, err := http.Get(w.console.URL + "/demo/api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var st democonsole.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st, string(raw)
}

func TestSaveContactSendsTheOutboundMessage(t *testing.T) {
	w := setup(t)
	code, out := w.post(t, "/demo/api/contacts/"+w.alex, `{"fields":{"Outreach_Status__c":"Closed","Priority__c":"7","MobilePhone":""}}`)
	if code != http.StatusOK || out["failed"] != false || out["status"] != float64(200) {
		t.Fatalf("save: %d %v", code, out)
	}
	rec := w.sf.Record("Contact", w.alex)
	if rec["Outreach_Status__c"] != "Closed" || rec["Priority__c"] != 7.0 || rec["MobilePhone"] != nil {
		t.Fatalf("Salesforce row after the save: %v", rec)
	}
	got := w.bridge.last(t, "/webhooks/salesforce/outbound")
	soap := string(got.body)
	if got.query != "token=tok-0123456789abcdef0123456789abcdef" {
		t.Errorf("the Outbound Message URL lacks the token: %q", got.query)
	}
	for _, want := range []string{"<OrganizationId>" + orgID + "</OrganizationId>", "<sf:Outreach_Status__c>Closed</sf:Outreach_Status__c>",
		"<sf:Priority__c>7.0</sf:Priority__c>", "<sf:Id>" + w.alex + "</sf:Id>", "<Id>04l"} {
		if !strings.Contains(soap, want) {
			t.Errorf("Outbound Message lacks %s:\n%s", want, soap)
		}
	}
	if strings.Contains(soap, "MobilePhone") {
		t.Errorf("a null field was sent; Salesforce leaves nulls out:\n%s", soap)
	}
	// A second save is a new notification (a new Id), as a new change is.
	w.post(t, "/demo/api/contacts/"+w.alex, `{"fields":{"Outreach_Status__c":"Needs Outreach"}}`)
	if second := w.bridge.last(t, "/webhooks/salesforce/outbound"); notificationID(string(second.body)) == notificationID(soap) {
		t.Errorf("two saves share notification id %s", notificationID(soap))
	}
}

func notificationID(soap string) string {
	_, after, _ := strings.Cut(soap, "<Notification>")
	_, after, _ = strings.Cut(after, "<Id>")
	id, _, _ := strings.Cut(after, "</Id>")
	return id
}

func TestBadInputChangesNothing(t *testing.T) {
	w := setup(t)
	before := w.sf.Record("Contact", w.alex)
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/demo/api/contacts/" + w.alex, `{"fields":{"Index_Case_Name__c":"x"}}`, http.StatusBadRequest}, // not editable here
		{"/demo/api/contacts/" + w.alex, `{"fields":{"Priority__c":"high"}}`, http.StatusBadRequest},
		{"/demo/api/contacts/" + w.alex, `{"fields":{"Monitoring_Start__c":"next week"}}`, http.StatusBadRequest},
		{"/demo/api/contacts/" + w.alex, `{"fields":{"LastName":""}}`, http.StatusBadRequest}, // REQUIRED_FIELD_MISSING from sfsim
		{"/demo/api/contacts/003000000000000AAA", `{"fields":{}}`, http.StatusNotFound},
		{"/demo/api/contacts/" + w.alex, `{"nope":1}`, http.StatusBadRequest},
		{"/demo/api/tasks/WT00000000000000000000000000000000/complete", `{"outcome":"Reached"}`, http.StatusNotFound},
		{"/demo/api/sms", `{"from":"not a number","body":"hi"}`, http.StatusBadRequest},
	} {
		if code, out := w.post(t, c.path, c.body); code != c.want {
			t.Errorf("%s %s: got %d %v, want %d", c.path, c.body, code, out, c.want)
		}
	}
	if after := w.sf.Record("Contact", w.alex); after["LastModifiedDate"] != before["LastModifiedDate"] || after["LastName"] != "Rivera" {
		t.Errorf("a refused edit changed the row: %v", after)
	}
	if n := w.bridge.count(); n != 0 {
		t.Errorf("refused actions reached the bridge %d times", n)
	}
	// A page on another origin cannot act: JSON only, and same origin.
	resp, _ := http.Post(w.console.URL+"/demo/api/sms", "text/plain", strings.NewReader(`{"from":"+12125550123","body":"STOP"}`))
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, w.console.URL+"/demo/api/sms", strings.NewReader(`{"from":"+12125550123","body":"STOP"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	resp2, _ := http.DefaultClient.Do(req)
	resp2.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || resp2.StatusCode != http.StatusForbidden || w.bridge.count() != 0 {
		t.Errorf("cross-origin: text/plain %d, foreign Origin %d, bridge calls %d", resp.StatusCode, resp2.StatusCode, w.bridge.count())
	}
}

func TestCompleteTaskSendsASignedEvent(t *testing.T) {
	w := setup(t)
	sid := createTask(t, w.tw, w.alex)
	code, out := w.post(t, "/demo/api/tasks/"+sid+"/complete", `{"outcome":"Reached","follow_up_date":"2026-12-02"}`)
	if code != http.StatusOK || out["failed"] != false {
		t.Fatalf("complete: %d %v", code, out)
	}
	got := w.bridge.last(t, "/webhooks/twilio/taskrouter")
	form, _ := url.ParseQuery(string(got.body))
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	rv := twclient.NewRequestValidator(w.tw.AuthToken)
	if !rv.Validate(w.bridgeURL+"/webhooks/twilio/taskrouter", params, got.signature) {
		t.Fatal("the event's signature does not validate")
	}
	var attrs map[string]any
	_ = json.Unmarshal([]byte(form.Get("TaskAttributes")), &attrs)
	conv, _ := attrs["conversations"].(map[string]any)
	if form.Get("EventType") != "task.completed" || conv["outcome"] != "Reached" || attrs["follow_up_date"] != "2026-12-02" ||
		!strings.HasPrefix(attrs["call_sid"].(string), "CA") {
		t.Fatalf("event form: %v", form)
	}
	if code, _ := w.post(t, "/demo/api/tasks/"+sid+"/complete", `{"outcome":"Reached"}`); code != http.StatusConflict {
		t.Fatalf("completing a completed task: %d", code)
	}
	// The bridge refusing it is shown as a failure, not as done.
	sid2 := createTask(t, w.tw, w.alex)
	w.bridge.mu.Lock()
	w.bridge.status = http.StatusForbidden
	w.bridge.mu.Unlock()
	if code, out := w.post(t, "/demo/api/tasks/"+sid2+"/complete", `{"outcome":"Reached"}`); code != http.StatusBadGateway || out["failed"] != true {
		t.Fatalf("refused event: %d %v", code, out)
	}
	if st, _ := w.state(t); !st.Actions[len(st.Actions)-1].Failed {
		t.Fatal("the action log does not show the refusal")
	}
}

func createTask(t *testing.T, tw *twiliosim.Server, recordID string) string {
	t.Helper()
	attrs, _ := json.Marshal(map[string]any{"crm": map[string]any{"record_id": recordID, "object": "Contact"}, "name": "Alex"})
	form := url.Values{"Attributes": {string(attrs)}, "WorkflowSid": {tw.WorkflowSID}}
	req, _ := http.NewRequest(http.MethodPost, tw.URL+"/v1/Workspaces/"+tw.WorkspaceSID+"/Tasks", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(tw.AccountSID, tw.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Sid string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create task: %d %v", resp.StatusCode, err)
	}
	return out.Sid
}

func TestSMSIsSignedAndSTOPOptsOutAtTwilio(t *testing.T) {
	w := setup(t)
	code, out := w.post(t, "/demo/api/sms", `{"from":"(212) 555-0123","body":"stop"}`)
	if code != http.StatusOK || out["failed"] != false {
		t.Fatalf("sms: %d %v", code, out)
	}
	got := w.bridge.last(t, "/webhooks/twilio/sms")
	form, _ := url.ParseQuery(string(got.body))
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	rv := twclient.NewRequestValidator(w.tw.AuthToken)
	if !rv.Validate(w.bridgeURL+"/webhooks/twilio/sms", params, got.signature) {
		t.Fatal("the SMS webhook's signature does not validate")
	}
	if form.Get("From") != "+12125550123" || form.Get("OptOutType") != "STOP" || form.Get("AccountSid") != w.tw.AccountSID ||
		!strings.HasPrefix(form.Get("MessageSid"), "SM") {
		t.Fatalf("form: %v", form)
	}
	if code, _ := w.post(t, "/demo/api/sms", `{"from":"+12125550123","body":"I feel sick"}`); code != http.StatusOK {
		t.Fatal("reply refused")
	}
	if form, _ := url.ParseQuery(string(w.bridge.last(t, "/webhooks/twilio/sms").body)); form.Has("OptOutType") {
		t.Fatalf("a plain reply carried OptOutType: %v", form)
	}
}

func TestStateLinksBothSidesAndMasksProtectedFields(t *testing.T) {
	w := setup(t)
	sid := createTask(t, w.tw, w.alex)
	st, raw := w.state(t)
	if strings.Contains(raw, "Planted Protected Name") {
		t.Fatal("a protected value reached the console")
	}
	if len(st.Twilio.Tasks) != 1 || st.Twilio.Tasks[0].RecordID != w.alex || len(st.Salesforce.Contacts) != 1 ||
		len(st.Salesforce.Contacts[0].Tasks) != 1 || st.Salesforce.Contacts[0].Tasks[0] != sid {
		t.Fatalf("links: %+v", st)
	}
	for _, empty := range []string{`"activities":[]`, `"follow_ups":[]`, `"surveys":[]`, `"messages":[]`} {
		if !strings.Contains(raw, empty) {
			t.Errorf("want %s in %s", empty, raw)
		}
	}
}

func TestPageIsSelfContainedUnderCSP(t *testing.T) {
	w := setup(t)
	for _, path := range []string{"/demo/", "/demo/console.js", "/demo/console.css"} {
		resp, err := http.Get(w.console.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: %d, CSP %q", path, resp.StatusCode, csp)
		}
		if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
			t.Errorf("%s loads something from another origin", path)
		}
		if path == "/demo/" && (bytes.Contains(body, []byte("<script>")) || bytes.Contains(body, []byte(" style="))) {
			t.Errorf("inline script or style in the page, which the CSP blocks")
		}
		if path == "/demo/" && !bytes.Contains(body, []byte(`href="/demo/agent"`)) {
			t.Errorf("the console does not link the agent desktop")
		}
	}
}

func TestCallsShowWhatWasSaidAndPressed(t *testing.T) {
	w := setup(t)
	ivr := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/xml")
		if r.URL.Path == "/answer" {
			io.WriteString(rw, `<Response><Say>Thank you.</Say><Hangup/></Response>`)
			return
		}
		io.WriteString(rw, `<Response><Gather input="dtmf" numDigits="1" action="/answer"><Say>Press 1 for yes.</Say></Gather></Response>`)
	}))
	defer ivr.Close()
	w.tw.ScriptCall("+12125550123", twiliosim.CallScript{Keys: []string{"1"}})
	form := url.Values{"To": {"+12125550123"}, "From": {"+12125550100"}, "Url": {ivr.URL + "/call"}}
	req, _ := http.NewRequest(http.MethodPost, w.tw.URL+"/2010-04-01/Accounts/"+w.tw.AccountSID+"/Calls.json", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(w.tw.AccountSID, w.tw.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create call: %v %v", resp, err)
	}
	resp.Body.Close()
	w.tw.WaitCalls()
	st, _ := w.state(t)
	if len(st.Twilio.Calls) != 1 {
		t.Fatalf("calls %+v", st.Twilio.Calls)
	}
	c := st.Twilio.Calls[0]
	if c.RecordID != w.alex || c.Status != "completed" || strings.Join(c.Said, "|") != "Press 1 for yes.|Thank you." || strings.Join(c.Pressed, ",") != "1" {
		t.Fatalf("call %+v", c)
	}
}
