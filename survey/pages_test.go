package survey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/redistest"
)

// submissions records what the page enqueues; Fail makes Enqueue fail.
type submissions struct {
	mu    sync.Mutex
	items []queue.Item
	seen  map[string]bool
	Fail  error
}

func (s *submissions) Enqueue(_ context.Context, items ...queue.Item) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, s.Fail
	}
	out := make([]bool, len(items))
	for i, it := range items {
		if s.seen == nil {
			s.seen = map[string]bool{}
		}
		if !s.seen[it.Key] {
			s.seen[it.Key] = true
			s.items = append(s.items, it)
			out[i] = true
		}
	}
	return out, nil
}

func (s *submissions) Items() []queue.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]queue.Item(nil), s.items...)
}

var _ survey.Submissions = (*submissions)(nil)

type contacts struct {
	ByID map[string]survey.Contact
}

func (c contacts) Greeting(_ context.Context, id string) (survey.Contact, bool, error) {
	ct, ok := c.ByID[id]
	return ct, ok, nil
}

var _ survey.Contacts = contacts{}

const contactID = "003RM00000Qx1a2YAB"

type pagesEnv struct {
	h     http.Handler
	links *survey.Links
	clock *clock
	subs  *submissions
	kv    *redis.KV
	m     *mapping.Mapping
	ny    *time.Location
}

func mustMapping(tb testing.TB) *mapping.Mapping {
	tb.Helper()
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func MustPages(tb testing.TB, mod func(*survey.PagesConfig)) *pagesEnv {
	tb.Helper()
	gin.SetMode(gin.TestMode)
	ny, _ := time.LoadLocation("America/New_York")
	clk := &clock{t: time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)}
	links := mustLinks(tb, clk)
	kv, err := redis.NewKV(redistest.Start(tb).Client(tb), "")
	if err != nil {
		tb.Fatal(err)
	}
	m := mustMapping(tb)
	subs := &submissions{}
	cfg := survey.PagesConfig{Links: links, Mappings: mapping.NewHolder(m, 1), Submissions: subs,
		Contacts: contacts{ByID: map[string]survey.Contact{contactID: {FirstName: "Ana", Language: "es"}}},
		Store:    kv, Now: clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	p, err := survey.NewPages(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e := gin.New()
	p.Register(e)
	return &pagesEnv{h: e, links: links, clock: clk, subs: subs, kv: kv, m: m, ny: ny}
}

func (e *pagesEnv) token(tb testing.TB, lang string) string {
	tb.Helper()
	until, _ := survey.ValidUntil("2026-03-02", e.ny)
	tok, err := e.links.Token(contactID, "2026-03-02", lang, until)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

type answer struct {
	code int
	body string
	hdr  http.Header
}

func (e *pagesEnv) do(tb testing.TB, method, tok string, form url.Values) answer {
	tb.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "/survey/"+tok, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "/survey/"+tok, nil)
	}
	req.RemoteAddr = "198.51.100.7:5555"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return answer{w.Code, w.Body.String(), w.Header()}
}

// A label missing in the contact's language falls back to English, marked as such.
func TestSurveyLabelFallsBackToEnglish(t *testing.T) {
	doc := strings.Replace(config.ExampleMapping, "label: {en: Do you have a cough?, es: ¿Tiene tos?}", "label: {en: Do you have a cough?}", 1)
	m, err := mapping.Parse([]byte(doc))
	if err != nil || !strings.Contains(doc, "label: {en: Do you have a cough?}") {
		t.Fatalf("mapping without the Spanish cough label: %v", err)
	}
	e := MustPages(t, func(cfg *survey.PagesConfig) { cfg.Mappings = mapping.NewHolder(m, 1) })
	a := e.do(t, "GET", e.token(t, "es"), nil)
	if a.code != 200 {
		t.Fatalf("status %d", a.code)
	}
	mustContain(t, a.body, `<html lang="es">`, "¿Tiene fiebre?", `<legend lang="en">Do you have a cough?</legend>`)
}

func mustContain(tb testing.TB, body string, parts ...string) {
	tb.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			tb.Errorf("page lacks %q", p)
		}
	}
}

func TestSurveyPageInTheContactsLanguage(t *testing.T) {
	e := MustPages(t, nil)
	tests := []struct {
		lang string
		want []string
		not  []string
	}{
		{"es", []string{`<html lang="es">`, "¿Tiene fiebre?", "¿Tiene tos?", "¿Algo más?", "Hola, Ana:", "Enviar mis respuestas"},
			[]string{"<body lang", "Do you have a cough?"}},
		{"en", []string{`<html lang="en">`, "Do you have a fever?", "Hi Ana,", "Send my answers"}, []string{"¿Tiene fiebre?"}},
		{"es-mx", []string{`<html lang="es-mx">`, "¿Tiene fiebre?", `<body lang="es">`}, nil},
		{"fr", []string{`<html lang="fr">`, `<body lang="en">`, "Do you have a fever?"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			a := e.do(t, "GET", e.token(t, tt.lang), nil)
			if a.code != 200 {
				t.Fatalf("status %d", a.code)
			}
			mustContain(t, a.body, tt.want...)
			mustContain(t, a.body,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`type="radio" id="q-Fever__c-yes" name="Fever__c" value="yes"`,
				`type="radio" id="q-Fever__c-no" name="Fever__c" value="no"`,
				`name="Cough__c" value="yes"`, `<textarea id="q-Other_Symptoms__c" name="Other_Symptoms__c"`,
				`<label class="q" for="q-Other_Symptoms__c">`, "<fieldset>", `<form method="post">`)
			for _, n := range tt.not {
				if strings.Contains(a.body, n) {
					t.Errorf("page has %q", n)
				}
			}
			for _, bad := range []string{"src=", "http://", "https://", "<script", "Never Shown", "García"} {
				if strings.Contains(a.body, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			if got := a.hdr.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") || !strings.Contains(got, "form-action 'self'") || !strings.Contains(got, "style-src 'unsafe-inline'") {
				t.Errorf("CSP %q", got)
			}
			if a.hdr.Get("Referrer-Policy") != "no-referrer" || a.hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", a.hdr)
			}
		})
	}
	t.Run("unknown contact: no name", func(t *testing.T) {
		until, _ := survey.ValidUntil("2026-03-02", e.ny)
		tok, _ := e.links.Token("003RM00000Qx1a2ZZZ", "2026-03-02", "es", until)
		a := e.do(t, "GET", tok, nil)
		if a.code != 200 || !strings.Contains(a.body, "<p>Hola:</p>") {
			t.Fatalf("status %d", a.code)
		}
	})
}

func TestSubmitOnceThenAlreadyReceived(t *testing.T) {
	e := MustPages(t, nil)
	tok := e.token(t, "es")
	form := url.Values{"Fever__c": {"yes"}, "Cough__c": {"no"}, "Other_Symptoms__c": {"  dolor de cabeza "}, "Evil__c": {"x"}}
	a := e.do(t, "POST", tok, form)
	if a.code != 200 {
		t.Fatalf("status %d: %s", a.code, a.body)
	}
	mustContain(t, a.body, "Gracias. Recibimos sus respuestas.", `<html lang="es">`)
	items := e.subs.Items()
	if len(items) != 1 || items[0].Key != contactID+"-2026-03-02" {
		t.Fatalf("items %+v", items)
	}
	var ev event.Writeback
	if err := json.Unmarshal(items[0].Payload, &ev); err != nil || ev.Survey == nil {
		t.Fatalf("payload %s: %v", items[0].Payload, err)
	}
	s := ev.Survey
	if s.ContactID != contactID || s.Date != "2026-03-02" || s.Language != "es" || !s.SubmittedAt.Equal(e.clock.t) {
		t.Fatalf("survey %+v", s)
	}
	if len(s.Answers) != 3 || s.Answers["Fever__c"] != "yes" || s.Answers["Cough__c"] != "no" || s.Answers["Other_Symptoms__c"] != "dolor de cabeza" {
		t.Fatalf("answers %v", s.Answers)
	}
	// what writeback will make of it: booleans
	row, err := e.m.SurveyToCRM().Apply(map[string]any{"contact": map[string]any{"id": s.ContactID}, "survey": map[string]any{"date": s.Date}}, s.Answers)
	if err != nil || row["Fever__c"] != true || row["Cough__c"] != false {
		t.Fatalf("row %v %v", row, err)
	}

	for _, method := range []string{"POST", "GET"} {
		a := e.do(t, method, tok, form)
		if a.code != http.StatusConflict {
			t.Fatalf("%s again: status %d", method, a.code)
		}
		mustContain(t, a.body, "Ya recibimos sus respuestas.", `<html lang="es">`)
	}
	// another link for the same day is used too
	en := e.token(t, "en")
	if a := e.do(t, "GET", en, nil); a.code != http.StatusConflict || !strings.Contains(a.body, "already received") {
		t.Fatalf("second link: %d", a.code)
	}
	if n := len(e.subs.Items()); n != 1 {
		t.Fatalf("%d submissions", n)
	}
}

func TestInvalidAnswersWriteNothing(t *testing.T) {
	e := MustPages(t, nil)
	tok := e.token(t, "es")
	for name, form := range map[string]url.Values{
		"missing":    {"Fever__c": {"yes"}},
		"maybe":      {"Fever__c": {"maybe"}, "Cough__c": {"no"}},
		"true":       {"Fever__c": {"true"}, "Cough__c": {"no"}},
		"twice":      {"Fever__c": {"yes", "no"}, "Cough__c": {"no"}},
		"empty body": {},
		"long text":  {"Fever__c": {"yes"}, "Cough__c": {"no"}, "Other_Symptoms__c": {strings.Repeat("a", 2001)}},
	} {
		t.Run(name, func(t *testing.T) {
			a := e.do(t, "POST", tok, form)
			if a.code != http.StatusBadRequest {
				t.Fatalf("status %d", a.code)
			}
			mustContain(t, a.body, `<html lang="es">`, "responda cada pregunta con sí o no", `role="alert"`)
		})
	}
	if n := len(e.subs.Items()); n != 0 {
		t.Fatalf("%d submissions", n)
	}
	// the answers kept on the 400 page, and the link still works
	a := e.do(t, "POST", tok, url.Values{"Fever__c": {"yes"}})
	mustContain(t, a.body, `value="yes" required checked`, `aria-invalid="true"`)
	if a := e.do(t, "POST", tok, url.Values{"Fever__c": {"no"}, "Cough__c": {"no"}}); a.code != 200 {
		t.Fatalf("valid answer after invalid ones: %d", a.code)
	}
}

func TestEnqueueFailureFreesTheLink(t *testing.T) {
	e := MustPages(t, nil)
	tok := e.token(t, "en")
	form := url.Values{"Fever__c": {"no"}, "Cough__c": {"no"}}
	e.subs.Fail = errors.New("redis down")
	if a := e.do(t, "POST", tok, form); a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "try again") {
		t.Fatalf("status %d", a.code)
	}
	e.subs.Fail = nil
	if a := e.do(t, "POST", tok, form); a.code != 200 {
		t.Fatalf("retry: status %d", a.code)
	}
}

func TestExpiredAndForgedLinks(t *testing.T) {
	e := MustPages(t, nil)
	tok := e.token(t, "es")
	e.clock.t = time.Date(2026, 3, 5, 5, 30, 0, 0, time.UTC) // 00:30 on 5 March in New York
	for _, method := range []string{"GET", "POST"} {
		a := e.do(t, method, tok, url.Values{"Fever__c": {"no"}, "Cough__c": {"no"}})
		if a.code != http.StatusGone {
			t.Fatalf("%s expired: %d", method, a.code)
		}
		mustContain(t, a.body, `<html lang="es">`, "Este enlace ha vencido.")
	}
	e.clock.t = time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)
	other, _ := survey.NewLinks(survey.LinksConfig{Secret: []byte("someone-elses-secret"), PublicURL: "https://x.example", Now: e.clock.Now})
	forged, _ := other.Token(contactID, "2026-03-02", "es", e.clock.t.Add(time.Hour))
	for name, tok := range map[string]string{"forged": forged, "malformed": "abc.def", "tampered": tok[:len(tok)-2] + "xy"} {
		a := e.do(t, "GET", tok, nil)
		if a.code != http.StatusNotFound || !strings.Contains(a.body, "not valid") {
			t.Fatalf("%s: %d", name, a.code)
		}
	}
	if n := len(e.subs.Items()); n != 0 {
		t.Fatalf("%d submissions", n)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	e := MustPages(t, func(c *survey.PagesConfig) { c.Burst, c.Rate = 3, 0.001 })
	tok := e.token(t, "es")
	for i := range 3 {
		if a := e.do(t, "GET", tok, nil); a.code != 200 {
			t.Fatalf("request %d: %d", i, a.code)
		}
	}
	a := e.do(t, "GET", tok, nil)
	if a.code != http.StatusTooManyRequests || a.hdr.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d", a.code)
	}
	// forged tokens count too: guessing is throttled
	if a := e.do(t, "GET", "guess", nil); a.code != http.StatusTooManyRequests {
		t.Fatalf("guess: %d", a.code)
	}
	// another address is not affected
	req := httptest.NewRequest("GET", "/survey/"+tok, nil)
	req.RemoteAddr = "203.0.113.9:4444"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("other client: %d", w.Code)
	}
	// time refills the bucket
	e.clock.t = e.clock.t.Add(2 * time.Hour)
	if a := e.do(t, "GET", tok, nil); a.code != 200 {
		t.Fatalf("after a while: %d", a.code)
	}
}

func TestNewPagesChecksConfig(t *testing.T) {
	if _, err := survey.NewPages(survey.PagesConfig{}); err == nil {
		t.Fatal("empty config accepted")
	}
}
