package survey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/redistest"
)

const caseID = "003RM00000Cs1a2YAB"

// cases is a hand-written ReportCases.
type cases struct {
	mu    sync.Mutex
	names map[string]string // link id → first name
	done  []string
}

func (c *cases) ReportFirstName(_ context.Context, _, linkID string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.names[linkID]
	return n, ok, nil
}

func (c *cases) ReportDone(_ context.Context, _, linkID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = append(c.done, linkID)
	return nil
}

var _ survey.ReportCases = (*cases)(nil)

type reportEnv struct {
	h      http.Handler
	links  *survey.ReportLinks
	survey *survey.Links
	clock  *clock
	subs   *submissions
	cases  *cases
	kv     *redis.KV
}

func MustReports(tb testing.TB, mod func(*survey.ReportsConfig)) *reportEnv {
	tb.Helper()
	gin.SetMode(gin.TestMode)
	ny, _ := time.LoadLocation("America/New_York")
	// 16:00 UTC on 2 March is 11:00 in New York: "today" is 2026-03-02.
	clk := &clock{t: time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)}
	links, err := survey.NewReportLinks(survey.LinksConfig{Secret: []byte(secret), PublicURL: "https://bridge.example.org", Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := redis.NewKV(redistest.Start(tb).Client(tb), "")
	if err != nil {
		tb.Fatal(err)
	}
	subs, cs := &submissions{}, &cases{names: map[string]string{}}
	cfg := survey.ReportsConfig{Links: links, Mappings: mapping.NewHolder(mustMapping(tb), 1), Submissions: subs,
		Cases: cs, Store: kv, Location: ny, Now: clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	r, err := survey.NewReports(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e := gin.New()
	r.Register(e)
	return &reportEnv{h: e, links: links, survey: mustLinks(tb, clk), clock: clk, subs: subs, cases: cs, kv: kv}
}

// mint sends a link to the case "Marisol" in lang.
func (e *reportEnv) mint(tb testing.TB, lang string) string {
	tb.Helper()
	tok, id, err := e.links.Mint(caseID, lang)
	if err != nil {
		tb.Fatal(err)
	}
	e.cases.mu.Lock()
	e.cases.names[id] = "Marisol Index-Case"
	e.cases.mu.Unlock()
	return tok
}

func (e *reportEnv) do(tb testing.TB, method, tok string, form url.Values) answer {
	tb.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "/report/"+tok, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "/report/"+tok, nil)
	}
	req.RemoteAddr = "198.51.100.9:5555"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return answer{w.Code, w.Body.String(), w.Header()}
}

func (e *reportEnv) reports(tb testing.TB) []event.Report {
	tb.Helper()
	var out []event.Report
	for _, it := range e.subs.Items() {
		var wb event.Writeback
		if err := json.Unmarshal(it.Payload, &wb); err != nil || wb.Report == nil {
			tb.Fatalf("queued item %s is not a report: %v", it.Key, err)
		}
		out = append(out, *wb.Report)
	}
	return out
}

// rowsForm builds a form of rows: first_name, phone, email, last_contact, household.
func rowsForm(rows ...[5]string) url.Values {
	f := url.Values{}
	for i, r := range rows {
		n := "." + strconv.Itoa(i)
		f.Set("first_name"+n, r[0])
		f.Set("phone"+n, r[1])
		f.Set("email"+n, r[2])
		f.Set("last_contact"+n, r[3])
		if r[4] != "" {
			f.Set("household"+n, r[4])
		}
	}
	return f
}

func TestReportPage(t *testing.T) {
	e := MustReports(t, nil)
	for _, tt := range []struct {
		lang string
		want []string
	}{
		{"es", []string{`<html lang="es">`, "Hola, Marisol:", "Nunca se le dirá quién nos dio su nombre.", "Enviar la lista", "Persona 1"}},
		{"en", []string{`<html lang="en">`, "Hi Marisol,", "They will never be told who gave us their name.", "Send the list", "Person 1"}},
		{"fr", []string{`<html lang="fr">`, `<body lang="en">`, "Hi Marisol,"}},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			a := e.do(t, "GET", e.mint(t, tt.lang), nil)
			if a.code != 200 {
				t.Fatalf("status %d", a.code)
			}
			mustContain(t, a.body, tt.want...)
			mustContain(t, a.body, `<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`name="first_name.0"`, `name="phone.0"`, `name="email.0"`, `name="last_contact.0"`, `name="household.0" value="yes"`,
				`name="add"`, `name="remove" value="0"`, `min="2026-02-09" max="2026-03-02"`)
			// first name only; nothing from elsewhere
			for _, bad := range []string{"Index-Case", "src=", "http://", "https://", caseID} {
				if strings.Contains(a.body, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			csp := a.hdr.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if _, script, _ := strings.Cut(csp, "script-src"); strings.Contains(strings.SplitN(script, ";", 2)[0], "unsafe") {
				t.Errorf("CSP allows any script: %q", csp)
			}
			if a.hdr.Get("Cache-Control") != "no-store" || a.hdr.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers %v", a.hdr)
			}
		})
	}
}

func TestReportSubmitOnce(t *testing.T) {
	e := MustReports(t, nil)
	tok := e.mint(t, "en")
	form := rowsForm(
		[5]string{"Ana", "(212) 555-0101", "", "2026-02-28", "yes"},
		[5]string{"Ben", "", "Ben@Example.org", "", ""},
		[5]string{"Ana", "212-555-0101", "", "2026-03-01", ""}, // Ana again: one record
		[5]string{"", "", "", "", ""},                          // a spare empty row
	)
	a := e.do(t, "POST", tok, form)
	if a.code != 200 {
		t.Fatalf("status %d: %s", a.code, a.body)
	}
	mustContain(t, a.body, "A contact tracer will reach out")
	for _, bad := range []string{"Ana", "Ben", "555", "example.org"} {
		if strings.Contains(a.body, bad) {
			t.Errorf("thank-you page shows back %q", bad)
		}
	}
	reps := e.reports(t)
	if len(reps) != 1 {
		t.Fatalf("%d reports queued", len(reps))
	}
	r := reps[0]
	want := []event.ReportedContact{
		{FirstName: "Ana", Phone: "+12125550101", LastContact: "2026-03-01", Household: true},
		{FirstName: "Ben", Email: "ben@example.org"},
	}
	if r.CaseID != caseID || r.Language != "en" || len(r.Contacts) != 2 || r.Contacts[0] != want[0] || r.Contacts[1] != want[1] {
		t.Errorf("report %+v", r)
	}
	if len(e.cases.done) != 1 || e.cases.done[0] != r.LinkID {
		t.Errorf("link not forgotten: %v", e.cases.done)
	}
	// used: 409 for GET, POST and edits; nothing more queued
	for _, f := range []url.Values{nil, form, {"add": {"1"}}} {
		method := "POST"
		if f == nil {
			method = "GET"
		}
		if a := e.do(t, method, tok, f); a.code != http.StatusConflict || !strings.Contains(a.body, "already received") {
			t.Errorf("%s after use: %d", method, a.code)
		}
	}
	if n := len(e.subs.Items()); n != 1 {
		t.Errorf("%d items queued", n)
	}
}

func TestReportBadRowsWriteNothing(t *testing.T) {
	e := MustReports(t, nil)
	tok := e.mint(t, "en")
	good := [5]string{"Ana", "2125550101", "", "2026-03-01", ""}
	tests := []struct {
		name string
		row  [5]string
		msg  string
	}{
		{"no name", [5]string{"", "2125550102", "", "", ""}, "Please enter a first name."},
		{"no phone nor email", [5]string{"Cy", "", "", "2026-03-01", ""}, "Please enter a mobile phone number or an email."},
		{"bad phone", [5]string{"Cy", "12", "", "", ""}, "This phone number does not look right."},
		{"bad email", [5]string{"Cy", "", "cy@", "", ""}, "This email does not look right."},
		{"future date", [5]string{"Cy", "2125550102", "", "2026-03-03", ""}, "This date is in the future."},
		{"22 days ago", [5]string{"Cy", "2125550102", "", "2026-02-08", ""}, "Only list people you saw in the last 21 days."},
		{"not a date", [5]string{"Cy", "2125550102", "", "03/01/2026", ""}, "Please enter the date as YYYY-MM-DD."},
		{"name too long", [5]string{strings.Repeat("x", 41), "2125550102", "", "", ""}, "Please use at most 40 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(t, "POST", tok, rowsForm(good, tt.row))
			if a.code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", a.code)
			}
			// the message sits in the bad row (row 1), the good row is untouched
			i := strings.Index(a.body, `<legend>Person 2</legend>`)
			if i < 0 || !strings.Contains(a.body[i:], tt.msg) || strings.Contains(a.body[:i], tt.msg) {
				t.Errorf("message %q not beside row 2", tt.msg)
			}
			mustContain(t, a.body, `role="alert"`, `aria-invalid="true"`, `value="Ana"`)
		})
	}
	if a := e.do(t, "POST", tok, rowsForm([5]string{})); a.code != http.StatusUnprocessableEntity || !strings.Contains(a.body, "at least one person") {
		t.Errorf("empty list: %d", a.code)
	}
	if a := e.do(t, "POST", tok, url.Values{"first_name.30": {"Zed"}, "phone.30": {"2125550109"}, "first_name.0": {"Ana"}, "phone.0": {"2125550101"}}); a.code != http.StatusUnprocessableEntity || !strings.Contains(a.body, "up to 30 people") {
		t.Errorf("31st row: %d", a.code)
	}
	big := url.Values{"first_name.0": {"Ana"}, "phone.0": {"2125550101"}, "pad": {strings.Repeat("x", 70<<10)}}
	if a := e.do(t, "POST", tok, big); a.code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 64 KB: %d", a.code)
	}
	if n := len(e.subs.Items()); n != 0 {
		t.Fatalf("%d items queued for bad input", n)
	}
	if a := e.do(t, "POST", tok, rowsForm(good)); a.code != 200 {
		t.Errorf("the link still works after refusals: %d", a.code)
	}
}

func TestReportAddRemoveRowsWithoutScript(t *testing.T) {
	e := MustReports(t, nil)
	tok := e.mint(t, "en")
	f := rowsForm([5]string{"Ana", "2125550101", "", "", ""})
	f.Set("add", "1")
	a := e.do(t, "POST", tok, f)
	if a.code != 200 || !strings.Contains(a.body, `name="first_name.1"`) || !strings.Contains(a.body, `value="Ana"`) {
		t.Fatalf("add: %d", a.code)
	}
	f = rowsForm([5]string{"Ana", "2125550101", "", "", ""}, [5]string{"Ben", "2125550102", "", "", ""})
	f.Set("remove", "0")
	a = e.do(t, "POST", tok, f)
	if a.code != 200 || strings.Contains(a.body, `name="first_name.1"`) || !strings.Contains(a.body, `value="Ben"`) || strings.Contains(a.body, `value="Ana"`) {
		t.Fatalf("remove: %d", a.code)
	}
	// 30 rows: no add button
	var rows [][5]string
	for i := 0; i < 30; i++ {
		rows = append(rows, [5]string{})
	}
	f = rowsForm(rows...)
	f.Set("add", "1")
	if a = e.do(t, "POST", tok, f); strings.Contains(a.body, `name="first_name.30"`) || strings.Contains(a.body, `name="add"`) {
		t.Errorf("a 31st row was offered")
	}
	if n := len(e.subs.Items()); n != 0 {
		t.Fatalf("%d items queued by edits", n)
	}
}

func TestReportLinksAndSurveyLinksDoNotCross(t *testing.T) {
	e := MustReports(t, nil)
	until := e.clock.t.Add(24 * time.Hour)
	surveyTok, err := e.survey.Token(contactID, "2026-03-02", "en", until)
	if err != nil {
		t.Fatal(err)
	}
	if a := e.do(t, "GET", surveyTok, nil); a.code != http.StatusNotFound {
		t.Errorf("a survey token on the report page: %d", a.code)
	}
	reportTok := e.mint(t, "en")
	if _, err := e.survey.Verify(reportTok); !errors.Is(err, survey.ErrInvalid) {
		t.Errorf("a report token verifies as a survey link: %v", err)
	}
	// and through the survey page itself
	p := MustPages(t, nil)
	if a := p.do(t, "GET", reportTok, nil); a.code != http.StatusNotFound {
		t.Errorf("a report token on the survey page: %d", a.code)
	}
	other, _ := survey.NewReportLinks(survey.LinksConfig{Secret: []byte("someone-elses-secret"), PublicURL: "https://x.example", Now: e.clock.Now})
	forged, _, _ := other.Mint(caseID, "en")
	if a := e.do(t, "POST", forged, rowsForm([5]string{"Ana", "2125550101", "", "", ""})); a.code != http.StatusNotFound {
		t.Errorf("forged: %d", a.code)
	}
	// 72 hours later: 410 in the case's language
	es := e.mint(t, "es")
	e.clock.t = e.clock.t.Add(survey.ReportValidFor + 2*time.Minute)
	if a := e.do(t, "POST", es, rowsForm([5]string{"Ana", "2125550101", "", "", ""})); a.code != http.StatusGone || !strings.Contains(a.body, "vencido") {
		t.Errorf("expired: %d", a.code)
	}
	if n := len(e.subs.Items()); n != 0 {
		t.Fatalf("%d items queued", n)
	}
}

func TestReportEnqueueFailureFreesTheLink(t *testing.T) {
	e := MustReports(t, nil)
	tok := e.mint(t, "en")
	e.subs.Fail = errors.New("redis down")
	form := rowsForm([5]string{"Ana", "2125550101", "", "", ""})
	if a := e.do(t, "POST", tok, form); a.code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", a.code)
	}
	e.subs.Fail = nil
	if a := e.do(t, "POST", tok, form); a.code != 200 {
		t.Fatalf("retry: %d", a.code)
	}
	if n := len(e.reports(t)); n != 1 {
		t.Fatalf("%d reports", n)
	}
}

// TestReportPageWeight keeps the page light on a phone: one document, no
// other request, a few kilobytes even at 30 rows.
func TestReportPageWeight(t *testing.T) {
	e := MustReports(t, nil)
	tok := e.mint(t, "es")
	one := e.do(t, "GET", tok, nil)
	var rows [][5]string
	for i := 0; i < survey.MaxReportRows; i++ {
		rows = append(rows, [5]string{})
	}
	full := e.do(t, "POST", tok, func() url.Values { f := rowsForm(rows...); f.Set("remove", "99"); f.Set("add", "1"); return f }())
	t.Logf("report page: %d bytes with one row, %d bytes with %d rows", len(one.body), len(full.body), strings.Count(full.body, `<fieldset class="card row`))
	if len(one.body) > 8<<10 || len(full.body) > 64<<10 {
		t.Errorf("page weight %d / %d bytes", len(one.body), len(full.body))
	}
}
