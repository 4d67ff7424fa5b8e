package survey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/survey"
)

// voiceEnv mounts the TwiML routes without the signature check (webhooks
// puts them behind it; the e2e tests post signed forms).
func voiceEnv(t *testing.T) (*pagesEnv, http.Handler) {
	t.Helper()
	e := MustPages(t, nil)
	v, err := survey.NewVoice(survey.VoiceConfig{Links: e.links, Mappings: mapping.NewHolder(e.m, 1), Submissions: e.subs,
		Contacts: contacts{ByID: map[string]survey.Contact{contactID: {FirstName: "Ana <b>", Language: "es"}}}, Store: e.kv, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	g := gin.New()
	unsigned := func(h func(*gin.Context, url.Values)) gin.HandlerFunc {
		return func(c *gin.Context) { _ = c.Request.ParseForm(); h(c, c.Request.PostForm) }
	}
	g.POST("/webhooks/twilio/voice/:token", unsigned(v.Greet))
	g.POST("/webhooks/twilio/voice/:token/answer", unsigned(v.Answer))
	return e, g
}

func post(t *testing.T, h http.Handler, path string, form url.Values) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func TestVoiceTwiML(t *testing.T) {
	e, h := voiceEnv(t)
	tok := e.token(t, "es")
	base := "/webhooks/twilio/voice/" + tok
	code, body := post(t, h, base, nil)
	// Greeting in Spanish with the name escaped, then the first yesno question.
	if code != 200 || !strings.Contains(body, `<Say language="es-US">Hola Ana &lt;b&gt;, este es su control de salud diario.</Say>`) ||
		!strings.Contains(body, `<Gather input="dtmf" numDigits="1" action="/webhooks/twilio/voice/`+tok+`/answer?a=&amp;n=0&amp;q=0" method="POST"`) ||
		!strings.Contains(body, "¿Tiene fiebre? Marque 1 para sí, 2 para no.") || !strings.Contains(body, "<Redirect") {
		t.Fatalf("greeting: %d %s", code, body)
	}
	// Malformed steps are refused, nothing recorded.
	for _, q := range []string{"q=5&a=", "q=1&a=", "q=1&a=9", "q=x"} {
		if code, _ := post(t, h, base+"/answer?"+q, url.Values{"Digits": {"1"}}); code != http.StatusBadRequest {
			t.Fatalf("%s: %d", q, code)
		}
	}
	// No input once: asked again; twice: goodbye, nothing recorded.
	if _, body := post(t, h, base+"/answer?q=0&a=&n=0", nil); !strings.Contains(body, "n=1") || !strings.Contains(body, "¿Tiene fiebre?") {
		t.Fatalf("asked again: %s", body)
	}
	if _, body := post(t, h, base+"/answer?q=0&a=&n=1", url.Values{"Digits": {"7"}}); !strings.Contains(body, "<Hangup>") || len(e.subs.Items()) != 0 {
		t.Fatalf("second no input: %s", body)
	}
	// 1 then 2: the survey, with yes/no answers, once.
	if _, body := post(t, h, base+"/answer?q=0&a=&n=0", url.Values{"Digits": {"1"}}); !strings.Contains(body, "q=1") {
		t.Fatalf("second question: %s", body)
	}
	if _, body := post(t, h, base+"/answer?q=1&a=1&n=0", url.Values{"Digits": {"2"}}); !strings.Contains(body, "Recibimos sus respuestas") {
		t.Fatalf("thanks: %s", body)
	}
	items := e.subs.Items()
	if len(items) != 1 || items[0].Key != mapping.SurveyKey(contactID, "2026-03-02") {
		t.Fatalf("items %v", items)
	}
	var wb event.Writeback
	if err := json.Unmarshal(items[0].Payload, &wb); err != nil || wb.Survey == nil ||
		wb.Survey.Answers["Fever__c"] != "yes" || wb.Survey.Answers["Cough__c"] != "no" || len(wb.Survey.Answers) != 2 {
		t.Fatalf("survey %s", items[0].Payload)
	}
	// The day is answered: a second call and the web page both say so.
	if _, body := post(t, h, base, nil); !strings.Contains(body, "Ya recibimos") {
		t.Fatalf("second call: %s", body)
	}
	if a := e.do(t, http.MethodGet, tok, nil); a.code != http.StatusConflict {
		t.Fatalf("web page after the call: %d", a.code)
	}
	// A forged token: a bare hangup.
	if _, body := post(t, h, "/webhooks/twilio/voice/forged", nil); strings.Contains(body, "<Say") || !strings.Contains(body, "<Hangup>") {
		t.Fatalf("forged: %s", body)
	}
}

// Record is once per contact and day whichever channel calls it; a queue
// failure frees the day again.
func TestRecordOncePerDay(t *testing.T) {
	e := MustPages(t, nil)
	cl := survey.Claims{ContactID: contactID, Date: "2026-03-02", Language: "en"}
	rc := survey.Recording{Store: e.kv, Submissions: e.subs, Now: e.clock.Now}
	e.subs.Fail = errors.New("redis down")
	if err := survey.Record(context.Background(), rc, cl, map[string]string{"Fever__c": "no"}); err == nil {
		t.Fatal("want the queue's error")
	}
	e.subs.Fail = nil
	if err := survey.Record(context.Background(), rc, cl, map[string]string{"Fever__c": "no"}); err != nil {
		t.Fatal(err)
	}
	if err := survey.Record(context.Background(), rc, cl, map[string]string{"Fever__c": "yes"}); !errors.Is(err, survey.ErrAnswered) {
		t.Fatalf("second: %v", err)
	}
	if n := len(e.subs.Items()); n != 1 {
		t.Fatalf("%d submissions", n)
	}
}
