package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/fault/httpfault"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/world"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

var testSecret = []byte("admin-test-secret-0123456789abcdef")

// recordingCRM passes reads to Salesforce and remembers what was asked.
type recordingCRM struct {
	next  CRM
	mu    sync.Mutex
	calls []crmCall
}

type crmCall struct {
	object, id string
	fields     []string
}

var _ CRM = (*recordingCRM)(nil)

func (r *recordingCRM) Get(ctx context.Context, object, id string, fields []string) (salesforce.Record, error) {
	r.mu.Lock()
	r.calls = append(r.calls, crmCall{object, id, append([]string(nil), fields...)})
	r.mu.Unlock()
	return r.next.Get(ctx, object, id, fields)
}

// testEnv is the admin API on an httptest server over real Redis and sfsim.
type testEnv struct {
	t        *testing.T
	rdb      *goredis.Client
	store    *redis.MappingStore
	sf       *sfsim.Server
	crm      *recordingCRM
	srv      *httptest.Server
	logs     *logBuffer
	admin    string // token of admin "alice"
	agent    string
	contact  string // a Contact in sfsim
	noNumber string // a Contact without a phone
}

func MustEnv(t *testing.T) *testEnv {
	t.Helper()
	_, rdb := world.MustPrivateRedis(t)
	e := &testEnv{t: t, rdb: rdb, logs: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	e.store = world.MustMappingStore(t, rdb, func(c *redis.MappingStoreConfig) { c.Logger = log })

	e.sf = sfsim.New(sfsim.Options{})
	t.Cleanup(e.sf.Close)
	sfc, err := salesforce.NewClient(salesforce.Config{LoginURL: e.sf.URL, ClientID: e.sf.ClientID, Username: e.sf.Username, PrivateKey: e.sf.PrivateKey()})
	if err != nil {
		t.Fatal(err)
	}
	e.crm = &recordingCRM{next: sfc}
	e.contact = e.sf.AddRecord("Contact", map[string]any{
		"FirstName": "Ana", "LastName": "Lopez", "MobilePhone": "(617) 555-0199",
		"Outreach_Status__c": "Needs Outreach", "Priority__c": 2, "Preferred_Language__c": "Spanish",
		"Case_Number__c": "C-1042", "Monitoring_Status__c": "Active", "Monitoring_Start__c": "2026-03-02",
		"Index_Case_Name__c": "Secret Index Person",
	})
	e.noNumber = e.sf.AddRecord("Contact", map[string]any{"FirstName": "Bo", "LastName": "Chen", "Outreach_Status__c": "Needs Outreach"})

	api, err := NewAPI(APIConfig{
		Store: e.store, DeadLetters: redis.NewDeadLetters(rdb), CRM: e.crm, CallerID: "+16175550100",
		Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{HMACSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	eng := gin.New()
	api.Register(eng, authn.Require(auth.RoleAdmin))
	e.srv = httptest.NewServer(eng)
	t.Cleanup(e.srv.Close)
	e.admin = mint(t, "alice", auth.RoleAdmin)
	e.agent = mint(t, "ana", auth.RoleAgent)
	return e
}

func mint(tb testing.TB, sub string, role auth.Role) string {
	tb.Helper()
	tok, err := auth.Mint(testSecret, auth.MintClaims{Subject: sub, Role: role, WorkerSID: "WK0123456789abcdef0123456789abcdef", TTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		tb.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request as the admin unless headers set Authorization.
func (e *testEnv) do(method, path string, body []byte, headers ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *testEnv) put(doc []byte, headers ...string) resp {
	e.t.Helper()
	return e.do("PUT", "/admin/api/mappings", doc, append([]string{"Content-Type", "application/yaml"}, headers...)...)
}

func (e *testEnv) preview(body string) resp {
	e.t.Helper()
	return e.do("POST", "/admin/api/mappings/preview", []byte(body), "Content-Type", "application/json")
}

func (e *testEnv) mustSave(doc []byte) int64 {
	e.t.Helper()
	r := e.put(doc)
	if r.status != 200 {
		e.t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	return int64(r.json(e.t)["version"].(float64))
}

func TestAuthRequired(t *testing.T) {
	e := MustEnv(t)
	routes := []struct{ method, path string }{
		{"GET", "/admin/api/mappings"}, {"PUT", "/admin/api/mappings"}, {"POST", "/admin/api/mappings/validate"},
		{"GET", "/admin/api/mappings/history"}, {"POST", "/admin/api/mappings/rollback?version=1"},
		{"POST", "/admin/api/mappings/preview"}, {"GET", "/admin/api/deadletters"},
		{"POST", "/admin/api/deadletters/writeback:1-0/replay"},
	}
	for _, rt := range routes {
		if r := e.do(rt.method, rt.path, nil, "Authorization", ""); r.status != 401 {
			t.Errorf("%s %s without token = %d, want 401", rt.method, rt.path, r.status)
		}
		if r := e.do(rt.method, rt.path, nil, "Authorization", "Bearer "+e.agent); r.status != 403 {
			t.Errorf("%s %s with agent token = %d, want 403", rt.method, rt.path, r.status)
		}
	}
	if n, _ := e.rdb.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("refused requests wrote %d keys", n)
	}
}

func TestPage(t *testing.T) {
	e := MustEnv(t)
	r := e.do("GET", "/admin/", nil, "Authorization", "")
	if r.status != 200 || !strings.Contains(string(r.body), "Mapping editor") {
		t.Fatalf("GET /admin/ = %d", r.status)
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP = %q", csp)
	}
	if strings.Contains(string(r.body), "http://") || strings.Contains(string(r.body), "https://") {
		t.Fatal("the page must not load anything from another origin")
	}
	for _, p := range []string{"/admin/app.js", "/admin/app.css"} {
		if r := e.do("GET", p, nil, "Authorization", ""); r.status != 200 || len(r.body) == 0 {
			t.Fatalf("GET %s = %d", p, r.status)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(e.srv.URL + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/admin/" {
		t.Fatalf("GET /admin = %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestPutValidationErrors(t *testing.T) {
	e := MustEnv(t)
	doc := world.StoreMapping(t)
	tests := []struct {
		name      string
		doc       []byte
		wantPaths []string
	}{
		{"unknown key", world.EditDoc(t, doc, "  object: Contact\n  when:", "  object: Contact\n  colour: red\n  when:"), []string{"record_to_task.colour"}},
		{"unknown transform", world.EditDoc(t, doc, "transform: e164, required: true}", "transform: nope, required: true}"), []string{"record_to_task.attributes.to.transform"}},
		{"protected field", world.EditDoc(t, doc, "case_number: {field: Case_Number__c}", "case_number: {field: Index_Case_Name__c}"), []string{"record_to_task.attributes.case_number.field"}},
		{"bad placeholder", world.EditDoc(t, doc, "Hi {{name}}", "Hi {{case_name}}"), []string{"reminders.templates.en"}},
		{"missing external_id", world.EditDoc(t, doc, "  external_id: Twilio_Task_Sid__c\n", ""), []string{"outcome_to_crm.external_id"}},
		{"all at once", world.EditDoc(t, world.EditDoc(t, doc, "transform: e164, required: true}", "transform: nope, required: true}"), "  external_id: Survey_Key__c\n", ""),
			[]string{"record_to_task.attributes.to.transform", "survey_to_crm.external_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/admin/api/mappings", "/admin/api/mappings/validate"} {
				method := "PUT"
				if strings.HasSuffix(path, "validate") {
					method = "POST"
				}
				r := e.do(method, path, tc.doc, "Content-Type", "application/yaml")
				if r.status != 400 {
					t.Fatalf("%s %s = %d %s, want 400", method, path, r.status, r.body)
				}
				var body struct {
					Errors []mapping.FieldError `json:"errors"`
				}
				if err := json.Unmarshal(r.body, &body); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, fe := range body.Errors {
					got = append(got, fe.Path)
					if fe.Message == "" {
						t.Errorf("error at %s has no message", fe.Path)
					}
				}
				for _, want := range tc.wantPaths {
					found := false
					for _, g := range got {
						found = found || g == want
					}
					if !found {
						t.Fatalf("%s: errors %v lack path %s", method, got, want)
					}
				}
			}
			if n, _ := e.rdb.DBSize(context.Background()).Result(); n != 0 {
				t.Fatalf("a refused save stored %d keys", n)
			}
		})
	}
}

func TestPutAndGet(t *testing.T) {
	e := MustEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other := world.MustMappingStore(t, e.rdb) // a second bridge instance
	go other.Watch(ctx)

	// Nothing stored yet: version 0, an empty document.
	r := e.do("GET", "/admin/api/mappings", nil)
	if r.status != 200 || r.header.Get("ETag") != `"0"` {
		t.Fatalf("GET before any save = %d, ETag %q", r.status, r.header.Get("ETag"))
	}

	doc := world.StoreMapping(t)
	r = e.put(doc, "If-Match", `"0"`) // "0": only if nothing is stored yet
	if r.status != 200 || r.json(t)["version"].(float64) != 1 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	world.Eventually(t, 2*time.Second, "saved version in force on a second instance", func() bool {
		return other.CurrentVersion() == 1 && other.Current().RecordToTask().Object() == "Contact"
	})

	r = e.do("GET", "/admin/api/mappings", nil, "Accept", "application/yaml")
	if r.status != 200 || !bytes.Equal(r.body, doc) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml") {
		t.Fatalf("GET yaml = %d %q", r.status, r.header.Get("Content-Type"))
	}
	if r.header.Get("ETag") != `"1"` || r.header.Get("X-Mapping-Version") != "1" {
		t.Fatalf("version headers = %q %q", r.header.Get("ETag"), r.header.Get("X-Mapping-Version"))
	}
	r = e.do("GET", "/admin/api/mappings", nil, "Accept", "text/yaml")
	if !bytes.Equal(r.body, doc) {
		t.Fatal("text/yaml must return the YAML source")
	}
	r = e.do("GET", "/admin/api/mappings", nil)
	js := r.json(t)
	rt := js["record_to_task"].(map[string]any)
	if rt["object"] != "Contact" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET json = %s", r.body)
	}

	// JSON in: stored as YAML with the same meaning.
	jsonDoc, _ := json.Marshal(js)
	jsonDoc = bytes.Replace(jsonDoc, []byte(`"days":14`), []byte(`"days":10`), 1)
	r = e.do("PUT", "/admin/api/mappings", jsonDoc, "Content-Type", "application/json; charset=utf-8", "If-Match", "1")
	if r.status != 200 || r.json(t)["version"].(float64) != 2 {
		t.Fatalf("PUT json = %d %s", r.status, r.body)
	}
	r = e.do("GET", "/admin/api/mappings", nil, "Accept", "application/yaml")
	if bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("{")) || !bytes.Contains(r.body, []byte("days: 10")) {
		t.Fatalf("a JSON save must read back as block YAML:\n%s", r.body)
	}
	m, err := mapping.Parse(r.body)
	if err != nil || m.Reminders().Days() != 10 || m.Reminders().Render("es", "Ana", "L") != "Hola Ana, responda el control de salud de hoy: L" {
		t.Fatalf("converted YAML = %v", err)
	}

	// Other media types and bad bodies.
	if r := e.do("PUT", "/admin/api/mappings", doc, "Content-Type", "text/plain"); r.status != 415 {
		t.Fatalf("text/plain = %d", r.status)
	}
	if r := e.do("PUT", "/admin/api/mappings", doc); r.status != 415 {
		t.Fatalf("no content type = %d", r.status)
	}
	if r := e.do("PUT", "/admin/api/mappings", []byte("{nope"), "Content-Type", "application/json"); r.status != 400 {
		t.Fatalf("bad JSON = %d", r.status)
	}
	big := append(bytes.Repeat([]byte("#"), mapping.MaxDocumentSize+10), '\n')
	if r := e.put(big); r.status != 413 {
		t.Fatalf("oversized = %d", r.status)
	}
	if r := e.put(doc, "If-Match", `"v1"`); r.status != 400 {
		t.Fatalf("bad If-Match = %d", r.status)
	}
	if h, _ := e.store.History(ctx, 0); len(h) != 2 {
		t.Fatalf("history = %d versions", len(h))
	}
}

func TestPutStaleIfMatchConflict(t *testing.T) {
	e := MustEnv(t)
	doc := world.StoreMapping(t)
	e.mustSave(doc)
	etag := e.do("GET", "/admin/api/mappings", nil).header.Get("ETag")

	// Someone else saves first.
	e.mustSave(world.EditDoc(t, doc, "days: 14", "days: 12"))
	r := e.put(world.EditDoc(t, doc, "days: 14", "days: 9"), "If-Match", etag)
	if r.status != 409 || r.json(t)["error"] == "" {
		t.Fatalf("stale If-Match = %d %s", r.status, r.body)
	}
	r = e.do("GET", "/admin/api/mappings", nil, "Accept", "application/yaml")
	if r.header.Get("X-Mapping-Version") != "2" || !bytes.Contains(r.body, []byte("days: 12")) {
		t.Fatalf("a conflicting save stored something: version %s", r.header.Get("X-Mapping-Version"))
	}
	if h, _ := e.store.History(context.Background(), 0); len(h) != 2 {
		t.Fatalf("history = %d versions, want 2", len(h))
	}
	// Without If-Match the last writer wins.
	if v := e.mustSave(world.EditDoc(t, doc, "days: 14", "days: 9")); v != 3 {
		t.Fatalf("unconditional save = version %d", v)
	}
}

func TestHistoryAndRollback(t *testing.T) {
	e := MustEnv(t)
	doc1 := world.StoreMapping(t)
	doc2 := world.EditDoc(t, doc1, "to: {field: MobilePhone, transform: e164, required: true}", "to: {field: Phone, transform: e164, required: true}")
	doc2 = world.EditDoc(t, doc2, "days: 14", "days: 7")
	e.mustSave(doc1)
	e.admin = mint(t, "bob", auth.RoleAdmin)
	e.mustSave(doc2)

	r := e.do("GET", "/admin/api/mappings/history", nil)
	var h struct {
		Versions []struct {
			Version int64     `json:"version"`
			Who     string    `json:"who"`
			When    time.Time `json:"when"`
			Summary string    `json:"summary"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(r.body, &h); err != nil || len(h.Versions) != 2 {
		t.Fatalf("history = %s", r.body)
	}
	if h.Versions[0].Version != 2 || h.Versions[0].Who != "bob" || h.Versions[1].Who != "alice" || h.Versions[0].When.IsZero() {
		t.Fatalf("history = %+v", h.Versions)
	}
	if h.Versions[0].Summary != "changed record_to_task.attributes.to, reminders.days" {
		t.Fatalf("summary = %q", h.Versions[0].Summary)
	}

	r = e.do("POST", "/admin/api/mappings/rollback?version=1", nil)
	if r.status != 200 || r.json(t)["version"].(float64) != 3 {
		t.Fatalf("rollback = %d %s", r.status, r.body)
	}
	r = e.do("GET", "/admin/api/mappings", nil, "Accept", "application/yaml")
	if !bytes.Equal(r.body, doc1) || r.header.Get("X-Mapping-Version") != "3" {
		t.Fatal("rollback did not make a new version equal to version 1")
	}
	if e.store.Current().Reminders().Days() != 14 {
		t.Fatal("rolled-back version not in force")
	}
	for q, want := range map[string]int{"version=99": 404, "version=abc": 400, "version=0": 400, "": 400} {
		if r := e.do("POST", "/admin/api/mappings/rollback?"+q, nil); r.status != want {
			t.Errorf("rollback ?%s = %d, want %d", q, r.status, want)
		}
	}

	// Audit lines: who, version and when; never document contents.
	saves := e.logs.lines(`"action":"mapping.save"`)
	rollbacks := e.logs.lines(`"action":"mapping.rollback"`)
	if len(saves) != 2 || len(rollbacks) != 1 {
		t.Fatalf("audit lines: %d saves, %d rollbacks\n%s", len(saves), len(rollbacks), e.logs.String())
	}
	if !strings.Contains(rollbacks[0], `"who":"bob"`) || !strings.Contains(rollbacks[0], `"version":3`) || !strings.Contains(rollbacks[0], `"at":"2026-03-01T12:00:00Z"`) {
		t.Fatalf("rollback audit = %s", rollbacks[0])
	}
	if strings.Contains(e.logs.String(), "MobilePhone") || strings.Contains(e.logs.String(), "health check") {
		t.Fatal("logs hold document contents")
	}
}

func TestPreviewSendsNothing(t *testing.T) {
	e := MustEnv(t)
	e.mustSave(world.StoreMapping(t))
	ctx := context.Background()
	keysBefore, _ := e.rdb.DBSize(ctx).Result()
	e.sf.ResetCounters()

	r := e.preview(`{"flow":"record_to_task","record_id":"` + e.contact + `"}`)
	if r.status != 200 {
		t.Fatalf("preview = %d %s", r.status, r.body)
	}
	got := r.json(t)
	attrs := got["attributes"].(map[string]any)
	crm := attrs["crm"].(map[string]any)
	if got["action"] != "create" || got["priority"].(float64) != 2 || attrs["to"] != "+16175550199" ||
		attrs["language"] != "es" || crm["record_id"] != e.contact || crm["object"] != "Contact" {
		t.Fatalf("preview = %s", r.body)
	}
	if strings.Contains(string(r.body), "Secret Index Person") {
		t.Fatal("a protected field reached the preview")
	}
	// Exactly the fields record_to_task needs, and only a read.
	if len(e.crm.calls) != 1 || strings.Join(e.crm.calls[0].fields, ",") != strings.Join(e.store.Current().RecordToTask().Fields(), ",") {
		t.Fatalf("CRM reads = %+v", e.crm.calls)
	}
	for k, n := range e.sf.CallCounts() {
		if !strings.HasPrefix(k, "GET ") && n > 0 {
			t.Fatalf("preview called Salesforce %s", k)
		}
	}
	if e.sf.Calls("GET", "/sobjects/Contact/"+e.contact) != 1 {
		t.Fatalf("calls = %v", e.sf.CallCounts())
	}

	// Inline record, click_to_call, reminders, outcome, survey: no I/O at all.
	e.sf.ResetCounters()
	r = e.preview(`{"flow":"click_to_call","record":{"Id":"003000000000001AAA","FirstName":"Ana","MobilePhone":"617.555.0199","Index_Case_Name__c":"Secret Index Person"}}`)
	attrs = r.json(t)["attributes"].(map[string]any)
	if r.status != 200 || attrs["from"] != "+16175550100" || attrs["direction"] != "outbound" || attrs["targetWorker"] != nil ||
		attrs["crm"].(map[string]any)["record_id"] != "003000000000001AAA" || strings.Contains(string(r.body), "Secret") {
		t.Fatalf("click_to_call preview = %d %s", r.status, r.body)
	}

	r = e.preview(`{"flow":"reminders","record":{"FirstName":"Ana","MobilePhone":"6175550199","Monitoring_Status__c":"Active","Monitoring_Start__c":"2026-03-02","Preferred_Language__c":"Spanish"}}`)
	rem := r.json(t)
	msgs := rem["messages"].([]any)
	first := msgs[0].(map[string]any)
	if r.status != 200 || rem["active"] != true || rem["start"] != "2026-03-02" || len(msgs) != 14 ||
		first["body"] != "Hola Ana, responda el control de salud de hoy: "+PreviewLink || first["send_at"] != "2026-03-02T10:00:00Z" ||
		msgs[13].(map[string]any)["date"] != "2026-03-15" {
		t.Fatalf("reminders preview = %d %s", r.status, r.body)
	}

	r = e.preview(`{"flow":"outcome_to_crm","event":{"TaskSid":"WT0123456789abcdef0123456789abcdef","EventType":"task.completed","TaskAge":"95",
		"TaskAttributes":"{\"crm\":{\"record_id\":\"003000000000001AAA\"},\"conversations\":{\"outcome\":\"Reached\",\"talk_time\":95},\"follow_up_date\":\"2026-03-10\"}"}}`)
	out := r.json(t)
	fields := out["fields"].(map[string]any)
	fu, _ := out["follow_up"].(map[string]any)
	if r.status != 200 || fields["WhoId"] != "003000000000001AAA" || fields["CallDurationInSeconds"].(float64) != 95 ||
		fields["Twilio_Task_Sid__c"] != "WT0123456789abcdef0123456789abcdef" || fields["CallDisposition"] != "Reached" ||
		fu["ActivityDate"] != "2026-03-10" || fu["Twilio_Task_Sid__c"] != "WT0123456789abcdef0123456789abcdef-follow-up" {
		t.Fatalf("outcome preview = %d %s", r.status, r.body)
	}
	r = e.preview(`{"flow":"outcome_to_crm","event":{"task":{"sid":"WTabc","age":5,"attributes":{"crm":{"record_id":"003000000000001AAA"}}}}}`)
	if r.status != 200 || r.json(t)["follow_up"] != nil {
		t.Fatalf("outcome tree preview = %d %s", r.status, r.body)
	}

	r = e.preview(`{"flow":"survey_to_crm","contact_id":"003000000000001AAA","date":"2026-03-02","answers":{"Fever__c":"yes","Cough__c":false,"Other_Symptoms__c":"tired"}}`)
	fields = r.json(t)["fields"].(map[string]any)
	if r.status != 200 || fields["Fever__c"] != true || fields["Cough__c"] != false || fields["Survey_Key__c"] != "003000000000001AAA-2026-03-02" {
		t.Fatalf("survey preview = %d %s", r.status, r.body)
	}

	if n := e.sf.APICalls(); n != 0 {
		t.Fatalf("inline previews called Salesforce %d times", n)
	}
	if keysAfter, _ := e.rdb.DBSize(ctx).Result(); keysAfter != keysBefore {
		t.Fatalf("previews wrote to Redis: %d keys before, %d after", keysBefore, keysAfter)
	}
}

func TestPreviewErrors(t *testing.T) {
	e := MustEnv(t)
	e.mustSave(world.StoreMapping(t))
	unknown := "003000000000099AAA"
	tests := []struct {
		name   string
		body   string
		status int
		want   string // in the error
	}{
		{"unknown record", `{"flow":"record_to_task","record_id":"` + unknown + `"}`, 404, "record not found"},
		{"malformed id", `{"flow":"record_to_task","record_id":"003'; DROP"}`, 400, "record_id"},
		{"required rule fails", `{"flow":"record_to_task","record_id":"` + e.noNumber + `"}`, 422, "record_to_task.attributes.to: "},
		{"not callable", `{"flow":"click_to_call","record":{"FirstName":"Bo"}}`, 422, "click_to_call.attributes.to: "},
		{"outcome without sid", `{"flow":"outcome_to_crm","event":{"TaskAttributes":"{}"}}`, 422, "outcome_to_crm.external_id: "},
		{"bad yesno", `{"flow":"survey_to_crm","contact_id":"003000000000001AAA","date":"2026-03-02","answers":{"Fever__c":"maybe"}}`, 422, "survey_to_crm.questions[0]: "},
		{"unknown flow", `{"flow":"nope","record":{}}`, 400, "flow must be one of"},
		{"no record", `{"flow":"record_to_task"}`, 400, "record_id"},
		{"both", `{"flow":"record_to_task","record_id":"` + unknown + `","record":{}}`, 400, "not both"},
		{"unknown key", `{"flow":"record_to_task","recrod":{}}`, 400, "unknown key"},
		{"not json", `flow=record_to_task`, 400, "JSON"},
		{"missing section", `{"flow":"reminders","record":{},"mapping":"record_to_task: {object: Contact, when: {field: S__c, create: [x]}}"}`, 422, "no reminders section"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.preview(tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tc.status)
			}
			if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, tc.want) {
				t.Fatalf("error = %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(string(r.body), "Bo") && tc.name != "not callable" {
				t.Fatal("error echoes record data")
			}
		})
	}
	// Salesforce down: 503, no detail.
	e.sf.SetOutage(true)
	r := e.preview(`{"flow":"record_to_task","record_id":"` + e.contact + `"}`)
	e.sf.SetOutage(false)
	if r.status != 503 && r.status != 502 {
		t.Fatalf("outage = %d %s", r.status, r.body)
	}
}

func TestPreviewUnsavedMapping(t *testing.T) {
	e := MustEnv(t)
	e.mustSave(world.StoreMapping(t))
	draft := string(world.EditDoc(t, world.StoreMapping(t), "name: {field: FirstName}\n    to:", "first: {field: FirstName, transform: upper}\n    to:"))
	body, _ := json.Marshal(map[string]any{"flow": "record_to_task", "record": map[string]any{"FirstName": "Ana", "MobilePhone": "6175550199"}, "mapping": draft})
	r := e.preview(string(body))
	attrs := r.json(t)["attributes"].(map[string]any)
	if r.status != 200 || attrs["first"] != "ANA" || attrs["name"] != nil || r.json(t)["action"] != "none" {
		t.Fatalf("draft preview = %d %s", r.status, r.body)
	}
	if e.store.CurrentVersion() != 1 {
		t.Fatal("a draft preview changed the stored mapping")
	}
	bad := string(world.EditDoc(t, world.StoreMapping(t), "transform: e164, required: true}", "transform: nope, required: true}"))
	body, _ = json.Marshal(map[string]any{"flow": "record_to_task", "record": map[string]any{}, "mapping": bad})
	r = e.preview(string(body))
	if r.status != 400 || !strings.Contains(string(r.body), `"path":"record_to_task.attributes.to.transform"`) {
		t.Fatalf("invalid draft = %d %s", r.status, r.body)
	}
}

func TestDeadLetters(t *testing.T) {
	e := MustEnv(t)
	q := mustDeadLetter(t, e.rdb, "EV0001", `{"task":{"attributes":{"name":"Personal Name"}}}`)
	dl := redis.NewDeadLetters(e.rdb)

	r := e.do("GET", "/admin/api/deadletters", nil)
	var body struct {
		DeadLetters []map[string]any `json:"deadletters"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || r.status != 200 || len(body.DeadLetters) != 1 {
		t.Fatalf("list = %d %s", r.status, r.body)
	}
	d := body.DeadLetters[0]
	id, _ := d["id"].(string)
	if d["queue"] != "writeback" || d["key"] != "EV0001" || !strings.Contains(d["error"].(string), "INVALID_FIELD") ||
		d["attempts"].(float64) < 1 || d["failed_at"] == "" || !strings.HasPrefix(id, "writeback:") {
		t.Fatalf("dead letter = %v", d)
	}
	if d["replays"] != 0.0 || len(d["history"].([]any)) != 0 || d["replay_of"] != nil {
		t.Fatalf("a first failure = %v", d)
	}
	if strings.Contains(string(r.body), "Personal Name") || len(d) != 8 {
		t.Fatalf("the list must not carry payloads: %s", r.body)
	}

	r = e.do("POST", "/admin/api/deadletters/"+id+"/replay", nil)
	if r.status != 200 || r.json(t)["replayed"] != id {
		t.Fatalf("replay = %d %s", r.status, r.body)
	}
	if l, _ := dl.List(context.Background(), 10); len(l) != 0 {
		t.Fatal("replayed letter still listed")
	}
	st, _ := q.Stats(context.Background())
	if st.Length != 1 {
		t.Fatalf("queue length after replay = %d, want 1", st.Length)
	}
	if r := e.do("POST", "/admin/api/deadletters/"+id+"/replay", nil); r.status != 404 {
		t.Fatalf("second replay = %d", r.status)
	}
	if r := e.do("POST", "/admin/api/deadletters/nonsense/replay", nil); r.status != 404 {
		t.Fatalf("bad id = %d", r.status)
	}
	audits := e.logs.lines(`"action":"deadletter.replay"`)
	if len(audits) != 1 || !strings.Contains(audits[0], `"who":"alice"`) || !strings.Contains(audits[0], id) {
		t.Fatalf("replay audit = %v", audits)
	}
}

func TestNewAPIChecksConfig(t *testing.T) {
	if _, err := NewAPI(APIConfig{}); err == nil {
		t.Fatal("NewAPI without a store must fail")
	}
}

func TestErrorResponsesHideInternals(t *testing.T) {
	status, body := errorResponse(errors.New("dial tcp 10.0.0.5:6379: secret detail"))
	if status != 500 || body.(gin.H)["error"] != "internal error" {
		t.Fatalf("internal error = %d %v", status, body)
	}
	status, body = errorResponse(&salesforce.APIError{Status: 400, Code: "MALFORMED_QUERY", Message: "value 'Ana Lopez' is bad"})
	if status != 502 || strings.Contains(body.(gin.H)["error"].(string), "Ana") {
		t.Fatalf("salesforce error = %d %v", status, body)
	}
}

// errorResponse is the status and body the admin routes answer err with.
func errorResponse(err error) (int, any) { return httpfault.Answer(previewError(err)) }

// A replay that fails again is listed as such, linked to the earlier failure.
func TestDeadLetterReplayFailingAgainSaysSo(t *testing.T) {
	e := MustEnv(t)
	mustDeadLetter(t, e.rdb, "EV0002", `{}`)
	list := func() []map[string]any {
		var body struct {
			DeadLetters []map[string]any `json:"deadletters"`
		}
		r := e.do("GET", "/admin/api/deadletters", nil)
		if err := json.Unmarshal(r.body, &body); err != nil || r.status != 200 {
			t.Fatalf("list = %d %s", r.status, r.body)
		}
		return body.DeadLetters
	}
	first := list()[0]
	firstID := first["id"].(string)
	if r := e.do("POST", "/admin/api/deadletters/"+firstID+"/replay", nil); r.status != 200 {
		t.Fatalf("replay = %d %s", r.status, r.body)
	}
	mustDeadLetterAgain(t, e.rdb)
	l := list()
	if len(l) != 1 {
		t.Fatalf("want the one failure again, got %v", l)
	}
	again := l[0]
	hist, _ := again["history"].([]any)
	if again["id"] == firstID || again["replay_of"] != firstID || again["replays"] != 1.0 || len(hist) != 1 {
		t.Fatalf("failed-again letter = %v, want it linked to %s", again, firstID)
	}
	h := hist[0].(map[string]any)
	if h["id"] != firstID || h["error"] != first["error"] || h["failed_at"] != first["failed_at"] {
		t.Fatalf("history = %v, first failure = %v", h, first)
	}
}
