package twiliosim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"
)

// call makes an authenticated request to the sim, as Twilio's clients do.
func call(tb testing.TB, s *Server, method, path string, form url.Values) (int, map[string]any) {
	tb.Helper()
	var body io.Reader
	u := s.URL + path
	if method == http.MethodGet {
		if form != nil {
			u += "?" + form.Encode()
		}
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAuth(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	if !strings.HasPrefix(s.AccountSID, "AC") || len(s.AccountSID) != 34 || len(s.AuthToken) != 32 {
		t.Fatalf("sids %s %s", s.AccountSID, s.AuthToken)
	}
	tests := []struct {
		name       string
		user, pass string
		want       int
	}{
		{"none", "", "", 401},
		{"wrong token", s.AccountSID, strings.Repeat("0", 32), 401},
		{"wrong account", "AC" + strings.Repeat("0", 32), s.AuthToken, 401},
		{"good", s.AccountSID, s.AuthToken, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+"/v1/Workspaces/"+s.WorkspaceSID+"/Tasks", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e twilioError
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tt.want == 401 && (e.Code != 20003 || e.Status != 401 || e.MoreInfo == "") {
				t.Fatalf("error body %+v", e)
			}
		})
	}
	if s.TotalCalls() != 1 {
		t.Errorf("unauthenticated calls counted: %d", s.TotalCalls())
	}
}

func TestStrictHost(t *testing.T) {
	s := New(Options{StrictHost: true})
	defer s.Close()
	status, _ := call(t, s, "GET", "/v1/Workspaces/"+s.WorkspaceSID+"/Tasks", nil)
	if status != 404 {
		t.Fatalf("loopback Host accepted: %d", status)
	}
	req, _ := http.NewRequest("GET", s.URL+"/v1/Workspaces/"+s.WorkspaceSID+"/Tasks", nil)
	req.Host = "taskrouter.twilio.com"
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("Twilio Host refused: %d", resp.StatusCode)
	}
}

func TestExpressions(t *testing.T) {
	attrs := map[string]any{
		"crm":      map[string]any{"record_id": "003A", "object": "Contact"},
		"language": "es",
		"priority": float64(3),
		"vip":      true,
	}
	tests := []struct {
		expr    string
		want    bool
		wantErr bool
	}{
		{`crm.record_id == "003A"`, true, false},
		{`crm.record_id == '003A'`, true, false},
		{`crm.record_id = "003A"`, true, false},
		{`crm.record_id == "003B"`, false, false},
		{`crm.record_id == "003A" AND language == "es"`, true, false},
		{`crm.record_id == "003A" and language == "es"`, false, true}, // operators are capitals
		{`crm.record_id == "003A" AND language == "en"`, false, false},
		{`language == "en" OR crm.object == "Contact"`, true, false},
		{`(language == "en" OR language == "es") AND vip == true`, true, false},
		{`language == "en" or crm.object == "Contact"`, false, true},
		{`priority == 3`, true, false},
		{`language IN ["en", "es"]`, true, false},
		{`language != "en"`, true, false},
		{`missing != "x"`, false, false},
		{`missing == "x"`, false, false},
		{`crm.record_id.deeper == "x"`, false, false},
		{`crm.record_id ==`, false, true},
		{`== "x"`, false, true},
		{`a == "x`, false, true},
		{`a == "x" b == "y"`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := parseExpr(tt.expr)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want a parse error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.eval(attrs); got != tt.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestTaskListPaging(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	for i := range 5 {
		attrs, _ := json.Marshal(map[string]any{"i": i, "k": "v"})
		status, _ := call(t, s, "POST", "/v1/Workspaces/"+s.WorkspaceSID+"/Tasks",
			url.Values{"WorkflowSid": {s.WorkflowSID}, "Attributes": {string(attrs)}})
		if status != 201 {
			t.Fatalf("create: %d", status)
		}
	}
	seen := 0
	q := url.Values{"PageSize": {"2"}, "EvaluateTaskAttributes": {`k == "v"`}, "AssignmentStatus": {"pending", "reserved"}}
	next := s.URL + "/v1/Workspaces/" + s.WorkspaceSID + "/Tasks?" + q.Encode()
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		u, _ := url.Parse(next)
		status, body := call(t, s, "GET", u.Path, u.Query())
		if status != 200 {
			t.Fatalf("list: %d %v", status, body)
		}
		seen += len(body["tasks"].([]any))
		meta := body["meta"].(map[string]any)
		if meta["key"] != "tasks" || meta["page_size"].(float64) != 2 {
			t.Fatalf("meta %v", meta)
		}
		next, _ = meta["next_page_url"].(string)
	}
	if seen != 5 {
		t.Fatalf("saw %d tasks over the pages", seen)
	}
}

func TestTaskValidation(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	path := "/v1/Workspaces/" + s.WorkspaceSID + "/Tasks"
	tests := []struct {
		name string
		form url.Values
		want int
	}{
		{"bad JSON", url.Values{"Attributes": {"{nope"}}, 400},
		{"array attributes", url.Values{"Attributes": {"[1]"}}, 400},
		{"other workflow", url.Values{"WorkflowSid": {"WW" + strings.Repeat("0", 32)}}, 400},
		{"timeout too long", url.Values{"Timeout": {"1209601"}}, 400},
		{"max timeout", url.Values{"Timeout": {"1209600"}}, 201},
		{"no workflow (single)", url.Values{"Attributes": {"{}"}}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, s, "POST", path, tt.form)
			if status != tt.want {
				t.Fatalf("status %d %v", status, body)
			}
		})
	}
	status, _ := call(t, s, "POST", "/v1/Workspaces/WS"+strings.Repeat("0", 32)+"/Tasks", url.Values{})
	if status != 404 {
		t.Errorf("other workspace: %d", status)
	}
}

// receiver records webhook posts and checks them with twilio-go's validator.
type receiver struct {
	mu    sync.Mutex
	forms []url.Values
	hdrs  []http.Header
	valid []bool
	srv   *httptest.Server
	token string
	path  string
}

func newReceiver(token, pathAndQuery string) *receiver {
	r := &receiver{token: token, path: pathAndQuery}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(body))
		rv := twclient.NewRequestValidator(r.token)
		ok := rv.ValidateBody(r.url(), body, req.Header.Get("X-Twilio-Signature"))
		r.mu.Lock()
		r.forms, r.hdrs, r.valid = append(r.forms, form), append(r.hdrs, req.Header), append(r.valid, ok)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return r
}

func (r *receiver) url() string { return r.srv.URL + r.path }

func TestCompleteTaskPostsSignedEvent(t *testing.T) {
	var s *Server
	rec := newReceiver("", "/webhooks/twilio/taskrouter?tenant=nyc")
	defer rec.srv.Close()
	s = New(Options{EventCallbackURL: rec.url()})
	defer s.Close()
	rec.token = s.AuthToken

	attrs, _ := json.Marshal(map[string]any{"crm": map[string]any{"record_id": "003A", "object": "Contact"}, "targetWorker": "WK" + strings.Repeat("1", 32)})
	_, body := call(t, s, "POST", "/v1/Workspaces/"+s.WorkspaceSID+"/Tasks", url.Values{"Attributes": {string(attrs)}, "Priority": {"2"}})
	sid := body["sid"].(string)
	if err := s.CompleteTask(sid, map[string]any{"conversations": map[string]any{"outcome": "Reached"}, "follow_up_date": "2026-03-05"}); err != nil {
		t.Fatal(err)
	}
	if len(rec.forms) != 1 || !rec.valid[0] {
		t.Fatalf("deliveries %d, valid %v", len(rec.forms), rec.valid)
	}
	f := rec.forms[0]
	// every field of the sample payload is present
	for _, k := range []string{"AccountSid", "WorkspaceSid", "WorkspaceName", "EventType", "EventDescription", "ResourceType",
		"ResourceSid", "Sid", "Timestamp", "TimestampMs", "TaskSid", "TaskAge", "TaskPriority", "TaskAssignmentStatus",
		"TaskCompletedReason", "TaskChannelUniqueName", "TaskQueueSid", "TaskQueueName", "WorkflowSid", "WorkflowName",
		"WorkerSid", "WorkerName", "TaskAttributes"} {
		if f.Get(k) == "" {
			t.Errorf("event lacks %s", k)
		}
	}
	if f.Get("EventType") != "task.completed" || f.Get("TaskSid") != sid || f.Get("TaskAssignmentStatus") != "completed" ||
		f.Get("TaskPriority") != "2" || f.Get("WorkerSid") != "WK"+strings.Repeat("1", 32) {
		t.Errorf("event %v", f)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(f.Get("TaskAttributes")), &got); err != nil {
		t.Fatal(err)
	}
	if got["crm"].(map[string]any)["record_id"] != "003A" || got["conversations"].(map[string]any)["outcome"] != "Reached" || got["follow_up_date"] != "2026-03-05" {
		t.Errorf("attributes %v", got)
	}
	if rec.hdrs[0].Get("I-Twilio-Idempotency-Token") == "" || !strings.HasPrefix(rec.hdrs[0].Get("Content-Type"), "application/x-www-form-urlencoded") {
		t.Errorf("headers %v", rec.hdrs[0])
	}
	if task, _ := s.Task(sid); task.AssignmentStatus != "completed" {
		t.Errorf("task %+v", task)
	}
	if err := s.CompleteTask("WT"+strings.Repeat("0", 32), nil); err == nil {
		t.Error("unknown task completed")
	}
}

func TestSignedPost(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	rec := newReceiver(s.AuthToken, "/webhooks/twilio/sms")
	defer rec.srv.Close()
	resp, err := s.SignedPost(context.Background(), nil, rec.url(), s.InboundSMSForm("+12125550123", "+12125550100", "STOP", "STOP"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(rec.valid) != 1 || !rec.valid[0] || rec.forms[0].Get("OptOutType") != "STOP" || rec.forms[0].Get("Body") != "STOP" {
		t.Fatalf("valid %v form %v", rec.valid, rec.forms)
	}
}

func TestFaults(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	path := "/v1/Workspaces/" + s.WorkspaceSID + "/Tasks"
	s.FailNext(OpCreateTask, 2, 500)
	s.FailNext(OpAny, 1, 429)
	for i, want := range []int{500, 500, 429, 201} {
		if status, _ := call(t, s, "POST", path, url.Values{}); status != want {
			t.Fatalf("call %d: %d, want %d", i, status, want)
		}
	}
	if len(s.Tasks()) != 1 || s.Calls(OpCreateTask) != 4 {
		t.Fatalf("tasks %d calls %d", len(s.Tasks()), s.Calls(OpCreateTask))
	}
	s.SetOutage(true)
	if status, body := call(t, s, "GET", path, nil); status != 503 || body["code"].(float64) != 20503 {
		t.Fatalf("outage: %d %v", status, body)
	}
	s.SetOutage(false)

	// latency comes after the effect: a client giving up still leaves the task
	s.SetLatency(OpCreateTask, 2*time.Second)
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(""))
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := (&http.Client{Timeout: 100 * time.Millisecond}).Do(req); err == nil {
		t.Fatal("want a client timeout")
	}
	if len(s.Tasks()) != 2 {
		t.Fatalf("tasks %d, want the one created before the timeout", len(s.Tasks()))
	}
}

func TestMessagesAndTokensRaw(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	defer s.Close()
	path := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json"
	tests := []struct {
		name     string
		form     url.Values
		want     int
		wantCode float64
	}{
		{"scheduled", url.Values{"To": {"+1"}, "Body": {"b"}, "MessagingServiceSid": {s.MessagingServiceSID}, "ScheduleType": {"fixed"}, "SendAt": {now.Add(time.Hour).Format(time.RFC3339)}}, 201, 0},
		{"no SendAt", url.Values{"To": {"+1"}, "Body": {"b"}, "MessagingServiceSid": {s.MessagingServiceSID}, "ScheduleType": {"fixed"}}, 400, 35111},
		{"no service", url.Values{"To": {"+1"}, "Body": {"b"}, "From": {"+2"}, "ScheduleType": {"fixed"}, "SendAt": {now.Add(time.Hour).Format(time.RFC3339)}}, 400, 35118},
		{"too soon", url.Values{"To": {"+1"}, "Body": {"b"}, "MessagingServiceSid": {s.MessagingServiceSID}, "ScheduleType": {"fixed"}, "SendAt": {now.Add(4 * time.Minute).Format(time.RFC3339)}}, 400, 35114},
		// Twilio answers 35114, 35115 and 35117 alike; the sim takes them in turn.
		{"too far", url.Values{"To": {"+1"}, "Body": {"b"}, "MessagingServiceSid": {s.MessagingServiceSID}, "ScheduleType": {"fixed"}, "SendAt": {now.Add(36 * 24 * time.Hour).Format(time.RFC3339)}}, 400, 35115},
		{"too soon again", url.Values{"To": {"+1"}, "Body": {"b"}, "MessagingServiceSid": {s.MessagingServiceSID}, "ScheduleType": {"fixed"}, "SendAt": {now.Add(time.Minute).Format(time.RFC3339)}}, 400, 35117},
		{"no To", url.Values{"Body": {"b"}, "From": {"+2"}}, 400, 21604},
		{"no sender", url.Values{"To": {"+1"}, "Body": {"b"}}, 400, 21603},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, s, "POST", path, tt.form)
			if status != tt.want || (tt.wantCode != 0 && body["code"] != tt.wantCode) {
				t.Fatalf("%d %v", status, body)
			}
			if status == 201 && (body["status"] != "scheduled" || !strings.HasPrefix(body["sid"].(string), "SM")) {
				t.Fatalf("%v", body)
			}
		})
	}

	tok := s.IssueFlexToken("ana", "WK1", time.Hour)
	if strings.Count(tok, ".") != 4 {
		t.Errorf("token %q does not look like a JWE", tok)
	}
	req, _ := http.NewRequest("POST", s.URL+"/v1/Accounts/"+s.AccountSID+"/Tokens/validate", strings.NewReader(`{"token":"`+tok+`"}`))
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	if ans["valid"] != true || ans["identity"] != "ana" || ans["worker_sid"] != "WK1" || ans["expiration"] != "2026-03-02T16:00:00.000Z" || ans["code"] != float64(0) {
		t.Fatalf("answer %v", ans)
	}
	if s.Calls(OpValidateToken) != 1 {
		t.Error("validate not counted")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				req, _ := http.NewRequest("POST", s.URL+"/v1/Workspaces/"+s.WorkspaceSID+"/Tasks", strings.NewReader(`Attributes=%7B%7D`))
				req.SetBasicAuth(s.AccountSID, s.AuthToken)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				_ = s.OpenTasks()
				s.FailNext(OpFetchTask, 1, 500)
			}
		})
	}
	wg.Wait()
	if len(s.Tasks()) != 80 || s.Calls(OpCreateTask) != 80 {
		t.Fatalf("tasks %d calls %d", len(s.Tasks()), s.Calls(OpCreateTask))
	}
}

func TestMessageListFiltersAndPages(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	defer s.Close()
	path := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json"
	var sids []string
	for i, to := range []string{"+1", "+2", "+1", "+1"} {
		status, body := call(t, s, "POST", path, url.Values{"To": {to}, "Body": {"b" + string(rune('0'+i))}, "From": {"+9"}})
		if status != 201 {
			t.Fatalf("create: %d %v", status, body)
		}
		if to == "+1" {
			sids = append(sids, body["sid"].(string))
		}
	}
	// newest first, two to a page, following next_page_uri as clients do
	var got []string
	next := path + "?" + url.Values{"To": {"+1"}, "PageSize": {"2"}}.Encode()
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		u, _ := url.Parse(next)
		status, body := call(t, s, "GET", u.Path, u.Query())
		if status != 200 || body["page_size"] != float64(2) || body["page"] != float64(pages) || body["first_page_uri"] == nil || body["uri"] == nil {
			t.Fatalf("page %d: %d %v", pages, status, body)
		}
		for _, m := range body["messages"].([]any) {
			m := m.(map[string]any)
			if m["to"] != "+1" || m["body"] == nil || m["date_created"] == nil || m["status"] == nil {
				t.Fatalf("message %v", m)
			}
			got = append(got, m["sid"].(string))
		}
		next, _ = body["next_page_uri"].(string)
	}
	if len(got) != 3 || got[0] != sids[2] || got[1] != sids[1] || got[2] != sids[0] {
		t.Fatalf("listed %v, want %v newest first", got, sids)
	}
	if status, body := call(t, s, "GET", path, url.Values{"From": {"+8"}}); status != 200 || len(body["messages"].([]any)) != 0 || body["next_page_uri"] != nil {
		t.Fatalf("From filter: %d %v", status, body)
	}
	if status, body := call(t, s, "GET", path, url.Values{"DateSent": {"2026-03-02"}}); status != 200 || len(body["messages"].([]any)) != 0 {
		t.Fatalf("DateSent filter: %d %v", status, body)
	}
	if n := s.Calls(OpListMessages); n != 4 {
		t.Errorf("list calls = %d, want 4", n)
	}
	if status, _ := call(t, s, "GET", "/2010-04-01/Accounts/ACnope/Messages.json", nil); status != 404 {
		t.Errorf("other account: %d", status)
	}
}
