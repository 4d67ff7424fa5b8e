package admin

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/test/world"
)

// answerCase is one refused request and its exact answer.
type answerCase struct {
	name               string
	method, path, body string
	headers            []string
	status             int
	want               string
	retryAfter, logged bool
}

// check sends each case and compares the answer byte for byte: the admin
// page and scripts read these bodies, so they do not change.
func checkAnswers(t *testing.T, e *testEnv, cases []answerCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, []byte(tc.body), tc.headers...)
			if r.status != tc.status || string(r.body) != tc.want {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, tc.status, tc.want)
			}
			if got := r.header.Get("Retry-After"); (got == "5") != tc.retryAfter {
				t.Errorf("Retry-After = %q", got)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
			}
		})
	}
}

func TestAdminAnswersByteForByte(t *testing.T) {
	e := MustEnv(t)
	e.mustSave(world.StoreMapping(t))
	yaml := []string{"Content-Type", "application/yaml"}
	js := []string{"Content-Type", "application/json"}
	checkAnswers(t, e, []answerCase{
		{name: "media type", method: "PUT", path: PathMappings, body: "a: 1", headers: []string{"Content-Type", "text/plain"},
			status: 415, want: `{"error":"send the mapping as application/yaml, text/yaml or application/json"}`},
		{name: "bad If-Match", method: "PUT", path: PathMappings, body: "a: 1", headers: append([]string{"If-Match", "x"}, yaml...),
			status: 400, want: `{"error":"If-Match must be a mapping version, e.g. \"12\""}`},
		{name: "stale If-Match", method: "PUT", path: PathMappings, body: string(world.StoreMapping(t)), headers: append([]string{"If-Match", `"7"`}, yaml...),
			status: 409, want: `{"error":"the mapping changed since the version you loaded; load it again and reapply your edits"}`},
		{name: "not JSON", method: "PUT", path: PathMappings, body: "{", headers: js,
			status: 400, want: `{"error":"the body is not valid JSON"}`},
		{name: "too large", method: "POST", path: PathValidate, body: strings.Repeat("#", 3<<20), headers: yaml,
			status: 413, want: `{"error":"the body is too large"}`},
		{name: "invalid document", method: "POST", path: PathValidate, body: "record_to_task: {colour: red}\n", headers: yaml,
			status: 400, want: `{"errors":[{"path":"record_to_task.colour","message":"unknown key (allowed: object, when, priority, attributes)","line":1},{"path":"record_to_task.object","message":"is required","line":1},{"path":"record_to_task.when","message":"is required","line":1}]}`},
		{name: "history limit", method: "GET", path: PathHistory + "?limit=0",
			status: 400, want: `{"error":"limit must be between 1 and 1000"}`},
		{name: "rollback version", method: "POST", path: PathRollback + "?version=x",
			status: 400, want: `{"error":"version must be a positive whole number, e.g. ?version=3"}`},
		{name: "rollback unknown", method: "POST", path: PathRollback + "?version=42",
			status: 404, want: `{"error":"no such mapping version"}`},
		{name: "replay unknown", method: "POST", path: "/admin/api/deadletters/nonsense/replay",
			status: 404, want: `{"error":"dead letter not found"}`},
		{name: "monitoring not configured", method: "GET", path: PathMonitoring,
			status: 404, want: `{"error":"monitoring view is not configured"}`},
		{name: "preview unknown record", method: "POST", path: PathPreview, body: `{"flow":"record_to_task","record_id":"003000000000099AAA"}`, headers: js,
			status: 404, want: `{"error":"record not found"}`},
		{name: "preview no section", method: "POST", path: PathPreview, headers: js,
			body:   `{"flow":"reminders","record":{},"mapping":"record_to_task: {object: Contact, when: {field: S__c, create: [x]}}"}`,
			status: 422, want: `{"error":"the mapping has no reminders section"}`},
		{name: "preview not callable", method: "POST", path: PathPreview, body: `{"flow":"click_to_call","record":{"FirstName":"Bo"}}`, headers: js,
			status: 422, want: `{"error":"click_to_call.attributes.to: the record has no callable number (field MobilePhone)"}`},
		{name: "preview rule", method: "POST", path: PathPreview, body: `{"flow":"record_to_task","record_id":"` + e.noNumber + `"}`, headers: js,
			status: 422, want: `{"error":"record_to_task.attributes.to: required value is missing or invalid (field MobilePhone)"}`},
		{name: "preview unknown flow", method: "POST", path: PathPreview, body: `{"flow":"nope","record":{}}`, headers: js,
			status: 400, want: `{"error":"flow must be one of record_to_task, click_to_call, reminders, outcome_to_crm, survey_to_crm"}`},
	})
}

// failingCRM answers every read with err.
type failingCRM struct{ err error }

func (f failingCRM) Get(context.Context, string, string, []string) (salesforce.Record, error) {
	return nil, f.err
}

// envWith is the admin API over a given store client and CRM.
func envWith(t *testing.T, rdb goredis.UniversalClient, crm CRM) *testEnv {
	t.Helper()
	api, err := NewAPI(APIConfig{Store: world.MustMappingStore(t, rdb), DeadLetters: redis.NewDeadLetters(rdb), CRM: crm,
		Monitoring: MonitoringFunc(func(context.Context) (any, error) { return nil, errors.New("dial tcp 10.0.0.5:6379: refused") })})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{HMACSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	eng := gin.New()
	api.Register(eng, authn.Require(auth.RoleAdmin))
	srv := httptest.NewServer(eng)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, srv: srv, admin: mint(t, "alice", auth.RoleAdmin)}
}

func TestAdminAnswersSalesforceByteForByte(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	js := []string{"Content-Type", "application/json"}
	read := `{"flow":"record_to_task","record_id":"003000000000001AAA","mapping":"record_to_task: {object: Contact, when: {field: S__c, create: [x]}}"}`
	for _, tc := range []struct {
		name string
		err  error
		answerCase
	}{
		{"refused with a code", &salesforce.APIError{Status: 400, Code: "MALFORMED_QUERY", Message: "value 'Ana Lopez' is bad"},
			answerCase{status: 502, want: `{"error":"Salesforce refused the read (MALFORMED_QUERY)"}`}},
		{"refused without a code", &salesforce.APIError{Status: 400, Message: "value 'Ana Lopez' is bad"},
			answerCase{status: 502, want: `{"error":"Salesforce refused the read"}`}},
		{"not found", salesforce.ErrNotFound, answerCase{status: 404, want: `{"error":"record not found"}`}},
		{"down", errors.New("dial tcp 10.0.0.9:443: connection refused"),
			answerCase{status: 503, want: `{"error":"Salesforce is unavailable; try again"}`, retryAfter: true}},
		{"canceled", context.Canceled, answerCase{status: 503, want: `{"error":"the request timed out; try again"}`, retryAfter: true}},
	} {
		tc.answerCase.name, tc.method, tc.path, tc.body, tc.headers = tc.name, "POST", PathPreview, read, js
		checkAnswers(t, envWith(t, rdb, failingCRM{tc.err}), []answerCase{tc.answerCase})
	}
}

func TestAdminAnswersRedisDownByteForByte(t *testing.T) {
	down := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	storage := `{"error":"storage is unavailable; try again"}`
	checkAnswers(t, envWith(t, down, noCRM{}), []answerCase{
		{name: "read", method: "GET", path: PathMappings, status: 503, want: storage, retryAfter: true},
		{name: "save", method: "PUT", path: PathMappings, body: string(world.StoreMapping(t)), headers: []string{"Content-Type", "application/yaml"}, status: 503, want: storage, retryAfter: true},
		{name: "history", method: "GET", path: PathHistory, status: 503, want: storage, retryAfter: true},
		{name: "rollback", method: "POST", path: PathRollback + "?version=1", status: 503, want: storage, retryAfter: true},
		{name: "dead letters", method: "GET", path: PathDeadLetters, status: 503, want: storage, retryAfter: true},
		{name: "monitoring", method: "GET", path: PathMonitoring, status: 503, want: `{"error":"monitoring view unavailable"}`, retryAfter: true},
	})
}
