package sfsim_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cityhealth/bridge/test/sfsim"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func MustServer(tb testing.TB, opts sfsim.Options) *sfsim.Server {
	tb.Helper()
	opts.PrivateKey = testKey()
	s := sfsim.New(opts)
	tb.Cleanup(s.Close)
	return s
}

// assertion is a JWT bearer assertion with aud as one string, as Salesforce wants.
func assertion(tb testing.TB, s *sfsim.Server, mut func(jwt.MapClaims)) string {
	tb.Helper()
	c := jwt.MapClaims{"iss": s.ClientID, "sub": s.Username, "aud": "https://login.salesforce.com",
		"exp": time.Now().Add(2 * time.Minute).Unix()}
	if mut != nil {
		mut(c)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(s.PrivateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func postToken(tb testing.TB, s *sfsim.Server, grant, assertion string) (int, map[string]string) {
	tb.Helper()
	resp, err := http.PostForm(s.URL+"/services/oauth2/token", url.Values{"grant_type": {grant}, "assertion": {assertion}})
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

const grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

func MustToken(tb testing.TB, s *sfsim.Server) string {
	tb.Helper()
	status, out := postToken(tb, s, grant, assertion(tb, s, nil))
	if status != 200 {
		tb.Fatalf("token: %d %v", status, out)
	}
	return out["access_token"]
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) errorCode() string {
	var list []struct{ ErrorCode string }
	_ = json.Unmarshal(a.body, &list)
	if len(list) == 0 {
		return ""
	}
	return list[0].ErrorCode
}

func call(tb testing.TB, s *sfsim.Server, token, method, path string, body any) answer {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+"/services/data/v62.0"+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func TestTo18(t *testing.T) {
	if got := sfsim.To18("001A0000006Vm9r"); got != "001A0000006Vm9rIAC" {
		t.Fatalf("To18 = %s", got)
	}
}

func TestAddRecordIDs(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	for obj, prefix := range map[string]string{"Contact": "003", "Task": "00T", "Symptom_Survey__c": "a0X", "Other__c": "a0Y"} {
		id := s.AddRecord(obj, map[string]any{"LastName": "x"})
		if len(id) != 18 || !strings.HasPrefix(id, prefix) || sfsim.To18(id[:15]) != id {
			t.Errorf("%s id = %s, want 18 chars with prefix %s", obj, id, prefix)
		}
		if s.Record(obj, id) == nil || s.Record(obj, id[:15]) == nil {
			t.Errorf("%s %s not found by 18 or 15 chars", obj, id)
		}
	}
	id := s.AddRecord("Contact", map[string]any{"Id": "0035g00000ABCDEFGH", "LastName": "Given", "n": 3})
	if id != "0035g00000ABCDEFGH" {
		t.Fatalf("given id not kept: %s", id)
	}
	if r := s.Record("Contact", id); r["n"] != float64(3) {
		t.Fatalf("values are normalized as JSON would decode them: %v", r)
	}
}

func TestTokenEndpoint(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	tests := []struct {
		name     string
		grant    string
		mut      func(jwt.MapClaims)
		wantCode string
	}{
		{name: "ok", grant: grant},
		{name: "wrong grant", grant: "password", wantCode: "unsupported_grant_type"},
		{name: "expired", grant: grant, mut: func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, wantCode: "invalid_grant"},
		{name: "exp too far", grant: grant, mut: func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Hour).Unix() }, wantCode: "invalid_grant"},
		{name: "no exp", grant: grant, mut: func(c jwt.MapClaims) { delete(c, "exp") }, wantCode: "invalid_grant"},
		{name: "aud is the sim's host", grant: grant, mut: func(c jwt.MapClaims) { c["aud"] = s.URL }, wantCode: "invalid_grant"},
		{name: "aud is a My Domain", grant: grant, mut: func(c jwt.MapClaims) { c["aud"] = "https://cityhealth.my.salesforce.com" }, wantCode: "invalid_grant"},
		{name: "aud is an array", grant: grant, mut: func(c jwt.MapClaims) { c["aud"] = []string{"https://login.salesforce.com"} }, wantCode: "invalid_grant"},
		{name: "aud test on production", grant: grant, mut: func(c jwt.MapClaims) { c["aud"] = "https://test.salesforce.com" }, wantCode: "invalid_grant"},
		{name: "wrong iss", grant: grant, mut: func(c jwt.MapClaims) { c["iss"] = "x" }, wantCode: "invalid_client_id"},
		{name: "wrong sub", grant: grant, mut: func(c jwt.MapClaims) { c["sub"] = "x" }, wantCode: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := postToken(t, s, tt.grant, assertion(t, s, tt.mut))
			if tt.wantCode != "" {
				if status != 400 || out["error"] != tt.wantCode || out["error_description"] == "" {
					t.Fatalf("answer %d %v, want 400 %s", status, out, tt.wantCode)
				}
				return
			}
			if status != 200 || out["access_token"] == "" || out["instance_url"] != s.URL || out["token_type"] != "Bearer" ||
				out["id"] == "" || out["issued_at"] == "" || out["signature"] == "" {
				t.Fatalf("answer %d %v", status, out)
			}
			if _, ok := out["expires_in"]; ok {
				t.Error("the JWT bearer flow answers no expires_in")
			}
			if _, ok := out["refresh_token"]; ok {
				t.Error("the JWT bearer flow answers no refresh_token")
			}
		})
	}
	if s.APICalls() != 0 || s.TokenCalls() != int64(len(tests)) {
		t.Errorf("counters: api %d token %d", s.APICalls(), s.TokenCalls())
	}
}

func TestSessionsAndFaults(t *testing.T) {
	s := MustServer(t, sfsim.Options{DailyLimit: 50})
	tok := MustToken(t, s)
	if a := call(t, s, "", "GET", "/limits", nil); a.status != 401 || a.errorCode() != "INVALID_SESSION_ID" {
		t.Fatalf("no token: %d %s", a.status, a.body)
	}
	a := call(t, s, tok, "GET", "/limits", nil)
	if a.status != 200 || a.header.Get("Sforce-Limit-Info") != "api-usage=2/50" {
		t.Fatalf("limits: %d %q", a.status, a.header.Get("Sforce-Limit-Info"))
	}
	s.ExpireSessions()
	if a := call(t, s, tok, "GET", "/limits", nil); a.status != 401 || a.errorCode() != "INVALID_SESSION_ID" {
		t.Fatalf("expired: %d %s", a.status, a.body)
	}
	tok = MustToken(t, s)
	s.Fail503(1)
	s.FailRequestLimit(1)
	for _, want := range []struct {
		status int
		code   string
	}{{503, "SERVER_UNAVAILABLE"}, {403, "REQUEST_LIMIT_EXCEEDED"}, {200, ""}} {
		a := call(t, s, tok, "GET", "/limits", nil)
		if a.status != want.status || a.errorCode() != want.code || a.header.Get("Sforce-Limit-Info") == "" {
			t.Fatalf("got %d %s, want %d %s", a.status, a.body, want.status, want.code)
		}
	}
	s.SetOutage(true)
	if status, _ := postToken(t, s, grant, assertion(t, s, nil)); status != 503 {
		t.Fatalf("token during outage: %d", status)
	}
	if a := call(t, s, tok, "GET", "/limits", nil); a.status != 503 {
		t.Fatalf("REST during outage: %d", a.status)
	}
	s.SetOutage(false)
	for s.APICalls() < 50 {
		call(t, s, tok, "GET", "/limits", nil)
	}
	if a := call(t, s, tok, "GET", "/limits", nil); a.status != 403 || a.errorCode() != "REQUEST_LIMIT_EXCEEDED" {
		t.Fatalf("past the daily limit: %d %s", a.status, a.body)
	}
	if s.Calls("GET", "/limits") != s.APICalls() {
		t.Errorf("per-path count %d, total %d", s.Calls("GET", "/limits"), s.APICalls())
	}
}

func TestSOQL(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	tok := MustToken(t, s)
	rows := []map[string]any{
		{"LastName": "Alpha", "Outreach_Status__c": "Needs Outreach", "Priority__c": 3},
		{"LastName": "Beta", "Outreach_Status__c": "Closed", "Priority__c": 1},
		{"LastName": "Gamma", "Outreach_Status__c": "Needs Outreach"},
		{"LastName": "O'Hara", "Outreach_Status__c": nil, "Priority__c": 2},
		{"LastName": "50%_off"},
	}
	for _, r := range rows {
		s.AddRecord("Contact", r)
	}
	tests := []struct {
		q        string
		want     int // rows, when no error
		wantCode string
		first    string // LastName of the first row, if set
	}{
		{q: "SELECT Id FROM Contact", want: 5},
		{q: "select id, lastname from contact where outreach_status__c = 'needs outreach'", want: 2},
		{q: "SELECT Id FROM Contact WHERE Outreach_Status__c != 'Closed'", want: 4},
		{q: "SELECT Id FROM Contact WHERE Outreach_Status__c = null", want: 2},
		{q: "SELECT Id FROM Contact WHERE Outreach_Status__c != null", want: 3},
		{q: "SELECT Id FROM Contact WHERE Outreach_Status__c IN ('Closed', 'Needs Outreach')", want: 3},
		{q: "SELECT Id FROM Contact WHERE Outreach_Status__c NOT IN ('Closed')", want: 4},
		{q: "SELECT Id FROM Contact WHERE LastName = 'O\\'Hara'", want: 1},
		{q: "SELECT Id FROM Contact WHERE LastName = 'O\\'Hara' OR LastName = 'Beta' OR LastName = 'x'", want: 2},
		{q: "SELECT Id FROM Contact WHERE Outreach_Status__c = 'Needs Outreach' AND Priority__c > 2", want: 1},
		{q: "SELECT Id FROM Contact WHERE (LastName = 'Beta' OR LastName = 'Gamma') AND Priority__c = 1", want: 1},
		{q: "SELECT Id FROM Contact WHERE NOT LastName = 'Beta'", want: 4},
		{q: "SELECT Id FROM Contact WHERE LastName LIKE 'g%'", want: 1},
		{q: "SELECT Id FROM Contact WHERE LastName LIKE '50\\%\\_%'", want: 1},
		{q: "SELECT Id FROM Contact WHERE LastName LIKE '5_\\_%'", want: 0},
		{q: "SELECT Id, LastName FROM Contact ORDER BY LastName DESC LIMIT 2", want: 2, first: "O'Hara"},
		{q: "SELECT Id, LastName FROM Contact ORDER BY Priority__c NULLS LAST LIMIT 1", want: 1, first: "Beta"},
		{q: "SELECT Id, LastName FROM Contact ORDER BY LastName LIMIT 2 OFFSET 1", want: 2, first: "Alpha"},
		{q: "SELECT COUNT() FROM Contact WHERE Outreach_Status__c = 'Closed'", want: 1},
		{q: "SELECT Id FROM Contact WHERE LastName = 'a' AND LastName = 'b' OR LastName = 'c'", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Id FROM Contact WHERE LastName = 'unterminated", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Id FROM Contact WHERE LastName = 'bad \\q escape'", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Id FROM Contact WHERE LastName = 'no \\u0041 escape'", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Id FROM Contact WHERE LastName = '' OR LastName != '' '", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Id FROM Contact LIMIT x", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT FROM Contact", wantCode: "MALFORMED_QUERY"},
		{q: "DELETE FROM Contact", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Id FROM Contact; SELECT Id FROM Task", wantCode: "MALFORMED_QUERY"},
		{q: "SELECT Nope__c FROM Contact", wantCode: "INVALID_FIELD"},
		{q: "SELECT Id FROM Nope__c", wantCode: "INVALID_TYPE"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			a := call(t, s, tok, "GET", "/query?q="+url.QueryEscape(tt.q), nil)
			if tt.wantCode != "" {
				if a.status != 400 || a.errorCode() != tt.wantCode {
					t.Fatalf("got %d %s, want 400 %s", a.status, a.body, tt.wantCode)
				}
				return
			}
			var out struct {
				TotalSize int
				Done      bool
				Records   []map[string]any
			}
			if err := json.Unmarshal(a.body, &out); err != nil || a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if out.TotalSize != tt.want || !out.Done {
				t.Fatalf("totalSize %d done %v, want %d", out.TotalSize, out.Done, tt.want)
			}
			if tt.first != "" && out.Records[0]["LastName"] != tt.first {
				t.Fatalf("first = %v, want %s", out.Records[0]["LastName"], tt.first)
			}
		})
	}
}

func TestSOQLIds(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	tok := MustToken(t, s)
	id := s.AddRecord("Contact", map[string]any{"LastName": "Id"})
	for q, want := range map[string]int{
		"SELECT Id FROM Contact WHERE Id = '" + id + "'":                                    1,
		"SELECT Id FROM Contact WHERE Id = '" + id[:15] + "'":                               1,
		"SELECT Id FROM Contact WHERE Id IN ('" + strings.Replace(id, "5g", "5G", 1) + "')": 0,
		"SELECT Id FROM Contact WHERE Id > '" + id[:14] + "' ORDER BY Id LIMIT 5":           1,
	} {
		a := call(t, s, tok, "GET", "/query?q="+url.QueryEscape(q), nil)
		var out struct{ TotalSize int }
		if err := json.Unmarshal(a.body, &out); err != nil || out.TotalSize != want {
			t.Errorf("%s: %d %s, want %d rows", q, a.status, a.body, want)
		}
	}
}

func TestQueryPaging(t *testing.T) {
	s := MustServer(t, sfsim.Options{PageSize: 4})
	tok := MustToken(t, s)
	for i := range 10 {
		s.AddRecord("Contact", map[string]any{"LastName": fmt.Sprint(i)})
	}
	path := "/query?q=" + url.QueryEscape("SELECT Id, LastName FROM Contact")
	var seen []string
	for pages := 0; ; pages++ {
		a := call(t, s, tok, "GET", path, nil)
		var out struct {
			TotalSize      int
			Done           bool
			NextRecordsURL string
			Records        []map[string]any
		}
		if err := json.Unmarshal(a.body, &out); err != nil || a.status != 200 || out.TotalSize != 10 {
			t.Fatalf("page %d: %d %s", pages, a.status, a.body)
		}
		for _, r := range out.Records {
			seen = append(seen, r["LastName"].(string))
		}
		if out.Done {
			break
		}
		path = strings.TrimPrefix(out.NextRecordsURL, "/services/data/v62.0")
	}
	if strings.Join(seen, "") != "0123456789" {
		t.Fatalf("rows across pages = %v", seen)
	}
	if a := call(t, s, tok, "GET", "/query/01gbogus-4", nil); a.status != 400 || a.errorCode() != "INVALID_QUERY_LOCATOR" {
		t.Fatalf("bogus locator: %d %s", a.status, a.body)
	}
}

func TestCollections(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	tok := MustToken(t, s)
	rec := func(sid string) map[string]any {
		return map[string]any{"attributes": map[string]any{"type": "Task"}, "Twilio_Task_Sid__c": sid, "Subject": "s"}
	}
	many := make([]map[string]any, 201)
	for i := range many {
		many[i] = rec(fmt.Sprint("WT", i))
	}
	a := call(t, s, tok, "PATCH", "/composite/sobjects/Task/Twilio_Task_Sid__c", map[string]any{"allOrNone": false, "records": many})
	if a.status != 400 || a.errorCode() != "EXCEEDED_ID_LIMIT" || len(s.Records("Task")) != 0 {
		t.Fatalf("201 rows: %d %s", a.status, a.body)
	}

	// An unknown field or a value of the wrong type anywhere: one 400 for the
	// whole request, nothing written.
	unknown := rec("WT-bad")
	unknown["Nope__c"] = 1
	wrongType := rec("WT-bad2")
	wrongType["CallDurationInSeconds"] = "twelve"
	for code, bad := range map[string]map[string]any{"INVALID_FIELD": unknown, "JSON_PARSER_ERROR": wrongType} {
		a = call(t, s, tok, "PATCH", "/composite/sobjects/Task/Twilio_Task_Sid__c", map[string]any{"records": []any{rec("WT-a"), bad}})
		if a.status != 400 || a.errorCode() != code || len(s.Records("Task")) != 0 {
			t.Fatalf("%s: %d %s", code, a.status, a.body)
		}
	}

	bad := rec("WT-bad")
	delete(bad, "Twilio_Task_Sid__c") // a row error: MISSING_ARGUMENT
	a = call(t, s, tok, "PATCH", "/composite/sobjects/Task/Twilio_Task_Sid__c", map[string]any{"allOrNone": true, "records": []any{rec("WT-a"), bad}})
	var rows []struct {
		ID      string
		Success bool
		Errors  []struct{ StatusCode string }
	}
	if err := json.Unmarshal(a.body, &rows); err != nil || a.status != 200 || len(rows) != 2 {
		t.Fatalf("allOrNone: %d %s", a.status, a.body)
	}
	if rows[0].Success || rows[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || rows[1].Errors[0].StatusCode != "MISSING_ARGUMENT" {
		t.Fatalf("allOrNone rows = %+v", rows)
	}
	if len(s.Records("Task")) != 0 {
		t.Fatal("allOrNone wrote rows")
	}

	a = call(t, s, tok, "PATCH", "/composite/sobjects/Task/Twilio_Task_Sid__c", map[string]any{"records": []any{rec("WT-d"), rec("wt-D"), rec("WT-e")}})
	_ = json.Unmarshal(a.body, &rows)
	if rows[0].Success || rows[0].Errors[0].StatusCode != "DUPLICATE_EXTERNAL_ID" || !rows[2].Success {
		t.Fatalf("duplicate external ids in one call: %s", a.body)
	}

	s.LockFraction(1)
	a = call(t, s, tok, "POST", "/composite/sobjects", map[string]any{"records": []any{rec("WT-f")}})
	_ = json.Unmarshal(a.body, &rows)
	if a.status != 200 || !rows[0].Success {
		t.Fatalf("create collection (locks only hit writes of existing keys and upserts): %s", a.body)
	}
	id := rows[0].ID
	a = call(t, s, tok, "PATCH", "/composite/sobjects", map[string]any{"records": []any{map[string]any{"attributes": map[string]any{"type": "Task"}, "Id": id, "Subject": "t"}}})
	_ = json.Unmarshal(a.body, &rows)
	if rows[0].Success || rows[0].Errors[0].StatusCode != "UNABLE_TO_LOCK_ROW" {
		t.Fatalf("LockFraction(1): %s", a.body)
	}
	s.LockFraction(0)
}

func TestSingleRecordRoutes(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	tok := MustToken(t, s)
	a := call(t, s, tok, "POST", "/sobjects/Contact", map[string]any{"FirstName": "No"})
	if a.status != 400 || a.errorCode() != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("create without LastName: %d %s", a.status, a.body)
	}
	a = call(t, s, tok, "POST", "/sobjects/Contact", map[string]any{"FirstName": "Ana", "LastName": "Diaz"})
	var created struct{ ID string }
	if err := json.Unmarshal(a.body, &created); err != nil || a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	a = call(t, s, tok, "GET", "/sobjects/Contact/"+created.ID+"?fields=Name", nil)
	if a.status != 200 || !strings.Contains(string(a.body), `"Name":"Ana Diaz"`) || !strings.Contains(string(a.body), `"attributes"`) {
		t.Fatalf("get: %d %s", a.status, a.body)
	}
	if a := call(t, s, tok, "PATCH", "/sobjects/Contact/"+created.ID, map[string]any{"Name": "x"}); a.status != 400 || a.errorCode() != "INVALID_FIELD_FOR_INSERT_UPDATE" {
		t.Fatalf("write read-only Name: %d %s", a.status, a.body)
	}
	if a := call(t, s, tok, "PATCH", "/sobjects/Nope__c/"+created.ID, map[string]any{}); a.status != 404 || a.errorCode() != "NOT_FOUND" {
		t.Fatalf("unknown object: %d %s", a.status, a.body)
	}
	s.LockRows("WT1", 1)
	if a := call(t, s, tok, "PATCH", "/sobjects/Task/Twilio_Task_Sid__c/WT1", map[string]any{}); a.status != 400 || a.errorCode() != "UNABLE_TO_LOCK_ROW" {
		t.Fatalf("locked upsert: %d %s", a.status, a.body)
	}
	if a := call(t, s, tok, "PATCH", "/sobjects/Task/Twilio_Task_Sid__c/WT1", map[string]any{}); a.status != 201 {
		t.Fatalf("upsert after lock: %d %s", a.status, a.body)
	}
	if a := call(t, s, tok, "PATCH", "/sobjects/Task/Twilio_Task_Sid__c/WT1", map[string]any{"Subject": "y"}); a.status != 200 || !strings.Contains(string(a.body), `"created":false`) {
		t.Fatalf("upsert update: %d %s", a.status, a.body)
	}
	if a := call(t, s, tok, "DELETE", "/sobjects/Contact/"+created.ID, nil); a.status != 204 || s.Record("Contact", created.ID) != nil {
		t.Fatalf("delete: %d", a.status)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := MustServer(t, sfsim.Options{})
	tok := MustToken(t, s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				call(t, s, tok, "PATCH", fmt.Sprintf("/sobjects/Task/Twilio_Task_Sid__c/WT%d-%d", i, j), map[string]any{"Subject": "x"})
				s.Records("Task")
			}
		}()
	}
	wg.Wait()
	if n := len(s.Records("Task")); n != 80 {
		t.Fatalf("rows = %d, want 80", n)
	}
}

func TestUpdateRecordValidatesAsPatch(t *testing.T) {
	s := sfsim.New(sfsim.Options{})
	defer s.Close()
	id := s.AddRecord("Contact", map[string]any{"LastName": "Rivera", "MobilePhone": "(212) 555-0123"})
	if err := s.UpdateRecord("Contact", id, map[string]any{"MobilePhone": nil, "Priority__c": 3}); err != nil {
		t.Fatal(err)
	}
	if r := s.Record("Contact", id); r["MobilePhone"] != nil || r["Priority__c"] != float64(3) {
		t.Fatalf("row after update: %v", r)
	}
	if err := s.UpdateRecord("Contact", id, map[string]any{"No_Such__c": "x", "LastName": "Other"}); err == nil || !strings.Contains(err.Error(), "INVALID_FIELD") {
		t.Fatalf("unknown field: %v", err)
	}
	if err := s.UpdateRecord("Contact", id, map[string]any{"LastName": ""}); err == nil || !strings.Contains(err.Error(), "REQUIRED_FIELD_MISSING") {
		t.Fatalf("required field emptied: %v", err)
	}
	if r := s.Record("Contact", id); r["LastName"] != "Rivera" {
		t.Fatalf("a refused update changed the row: %v", r)
	}
	if err := s.UpdateRecord("Contact", "003000000000000AAA", map[string]any{"LastName": "x"}); err == nil {
		t.Fatal("unknown record updated")
	}
}
