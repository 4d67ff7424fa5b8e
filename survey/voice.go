package survey

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/mapping"
)

// VoiceConfig wires the reminder calls' TwiML.
type VoiceConfig struct {
	Links       Verifier
	Mappings    Mappings
	Submissions Submissions
	Contacts    Contacts // optional: the greeting's name
	Store       Store
	Logger      *slog.Logger
	Now         func() time.Time
	UsedTTL     time.Duration
}

// Voice serves the TwiML of reminder calls: a greeting in the contact's
// language, then each yesno question with <Gather> (1 = yes, 2 = no, asked
// again once on no input). The answers become the day's survey, recorded
// as the web page records it, once per contact and day. Routes (mounted
// behind the Twilio signature check by webhooks):
// POST /webhooks/twilio/voice/{token} and …/{token}/answer.
type Voice struct {
	cfg VoiceConfig
	log *slog.Logger
}

// NewVoice checks cfg.
func NewVoice(cfg VoiceConfig) (*Voice, error) {
	if cfg.Links == nil || cfg.Mappings == nil || cfg.Submissions == nil || cfg.Store == nil {
		return nil, errors.New("survey voice: Links, Mappings, Submissions and Store are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Voice{cfg: cfg, log: cfg.Logger}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// spoken are the call's fixed phrases; the mapping gives the greeting and
// the questions.
type spoken struct{ Press, Thanks, Used, Bye, Unavailable string }

var voiceTexts = map[string]spoken{
	"en": {Press: "Press 1 for yes, 2 for no.", Thanks: "Thank you. Your answers were received. Goodbye.",
		Used: "Your answers for today were already received. Goodbye.", Bye: "We did not get an answer. Goodbye.",
		Unavailable: "Sorry, we cannot take your answers right now. Please use the link in your messages. Goodbye."},
	"es": {Press: "Marque 1 para sí, 2 para no.", Thanks: "Gracias. Recibimos sus respuestas. Adiós.",
		Used: "Ya recibimos sus respuestas de hoy. Adiós.", Bye: "No recibimos respuesta. Adiós.",
		Unavailable: "Lo sentimos, no podemos recibir sus respuestas ahora. Adiós."},
}

func phrases(lang string) spoken {
	lang = strings.ToLower(lang)
	if t, ok := voiceTexts[lang]; ok {
		return t
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		if t, ok := voiceTexts[lang[:i]]; ok {
			return t
		}
	}
	return voiceTexts["en"]
}

// sayLanguage is <Say language>: Twilio wants a locale (en-US, es-US).
func sayLanguage(lang string) string {
	switch l := strings.ToLower(lang); {
	case strings.ContainsAny(l, "-_"):
		p := strings.FieldsFunc(l, func(r rune) bool { return r == '-' || r == '_' })
		return p[0] + "-" + strings.ToUpper(p[1])
	case l == "en" || l == "es":
		return l + "-US"
	case l == "":
		return "en-US"
	default:
		return l
	}
}

// twiml builds a <Response>; encoding/xml escapes every text.
type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type say struct {
	XMLName  xml.Name `xml:"Say"`
	Language string   `xml:"language,attr,omitempty"`
	Text     string   `xml:",chardata"`
}

type gather struct {
	XMLName   xml.Name `xml:"Gather"`
	Input     string   `xml:"input,attr"`
	NumDigits int      `xml:"numDigits,attr"`
	Action    string   `xml:"action,attr"`
	Method    string   `xml:"method,attr"`
	Timeout   int      `xml:"timeout,attr"`
	Say       say
}

type redirect struct {
	XMLName xml.Name `xml:"Redirect"`
	Method  string   `xml:"method,attr"`
	URL     string   `xml:",chardata"`
}

type hangup struct {
	XMLName xml.Name `xml:"Hangup"`
}

func (v *Voice) write(c *gin.Context, verbs ...any) {
	out, err := xml.Marshal(twiml{Verbs: verbs})
	if err != nil {
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Data(http.StatusOK, "text/xml; charset=utf-8", append([]byte(xml.Header), out...))
}

// Greet answers the call: greeting, then the first question.
func (v *Voice) Greet(c *gin.Context, form url.Values) {
	cl, qs, ok := v.open(c)
	if !ok {
		return
	}
	name := ""
	if v.cfg.Contacts != nil {
		if ct, found, err := v.cfg.Contacts.Greeting(c.Request.Context(), cl.ContactID); err == nil && found {
			name = ct.FirstName
		}
	}
	lang := sayLanguage(cl.Language)
	greeting := ""
	if m := v.cfg.Mappings.Current(); m != nil && m.Reminders() != nil {
		greeting = m.Reminders().VoiceGreeting(cl.Language, name)
	}
	verbs := []any{}
	if greeting != "" {
		verbs = append(verbs, say{Language: lang, Text: greeting})
	}
	v.log.Info("reminder call answered", "contact_id", cl.ContactID, "date", cl.Date)
	v.write(c, append(verbs, v.ask(c, cl, qs, 0, "", 0)...)...)
}

// Answer takes one key press (Digits) for question q; a holds the
// answers so far ("1"/"2" each), n the no-input count of question q.
func (v *Voice) Answer(c *gin.Context, form url.Values) {
	cl, qs, ok := v.open(c)
	if !ok {
		return
	}
	query := c.Request.URL.Query()
	q, err := strconv.Atoi(query.Get("q"))
	a := query.Get("a")
	n, _ := strconv.Atoi(query.Get("n"))
	if err != nil || q < 0 || q >= len(qs) || len(a) != q || strings.Trim(a, "12") != "" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "malformed answer step"})
		return
	}
	lang := sayLanguage(cl.Language)
	t := phrases(cl.Language)
	switch d := strings.TrimSpace(form.Get("Digits")); d {
	case "1", "2":
		a += d
	default:
		if n >= 1 {
			// Asked twice without an answer: a missed day.
			v.log.Info("reminder call without answer", "contact_id", cl.ContactID, "date", cl.Date)
			v.write(c, say{Language: lang, Text: t.Bye}, hangup{})
			return
		}
		v.write(c, v.ask(c, cl, qs, q, a, n+1)...)
		return
	}
	if len(a) < len(qs) {
		v.write(c, v.ask(c, cl, qs, len(a), a, 0)...)
		return
	}
	answers := make(map[string]string, len(qs))
	for i, q := range qs {
		answers[q.Field] = map[byte]string{'1': "yes", '2': "no"}[a[i]]
	}
	err = Record(c.Request.Context(), Recording{Store: v.cfg.Store, Submissions: v.cfg.Submissions, UsedTTL: v.cfg.UsedTTL, Now: v.cfg.Now, Logger: v.log}, cl, answers)
	switch {
	case errors.Is(err, ErrAnswered):
		v.write(c, say{Language: lang, Text: t.Used}, hangup{})
	case err != nil:
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily unavailable"})
	default:
		v.log.Info("survey received by phone", "contact_id", cl.ContactID, "date", cl.Date, "answers", len(answers))
		v.write(c, say{Language: lang, Text: t.Thanks}, hangup{})
	}
}

// ask is question q: a <Gather> that posts the key to …/answer, then, on
// no input, a <Redirect> there without Digits.
func (v *Voice) ask(c *gin.Context, cl Claims, qs []mapping.Question, q int, a string, n int) []any {
	lang := sayLanguage(cl.Language)
	action := answerURL(c, q, a, n)
	return []any{
		gather{Input: "dtmf", NumDigits: 1, Action: action, Method: "POST", Timeout: 6,
			Say: say{Language: lang, Text: qs[q].LabelFor(cl.Language) + " " + phrases(cl.Language).Press}},
		redirect{Method: "POST", URL: action},
	}
}

// answerURL is relative to the call's current URL, as TwiML allows, so the
// signature Twilio computes on it matches BRIDGE_PUBLIC_URL's.
func answerURL(c *gin.Context, q int, a string, n int) string {
	token := c.Param("token")
	vals := url.Values{"q": {strconv.Itoa(q)}, "a": {a}, "n": {strconv.Itoa(n)}}
	return strings.TrimSuffix(pathPrefix(c.Request.URL.Path, token), "/") + "/" + url.PathEscape(token) + "/answer?" + vals.Encode()
}

// pathPrefix is the path up to the token (…/webhooks/twilio/voice).
func pathPrefix(path, token string) string {
	i := strings.Index(path, "/"+token)
	if i < 0 {
		return path
	}
	return path[:i]
}

// open checks the token, whether the day is answered, and picks the yesno
// questions; it has answered the request itself when ok is false.
func (v *Voice) open(c *gin.Context) (Claims, []mapping.Question, bool) {
	cl, err := v.cfg.Links.Verify(c.Param("token"))
	if err != nil {
		// An expired or forged link: say nothing of the contact.
		v.log.Info("reminder call with a refused link")
		v.write(c, hangup{})
		return cl, nil, false
	}
	t := phrases(cl.Language)
	lang := sayLanguage(cl.Language)
	_, used, err := v.cfg.Store.Get(c.Request.Context(), UsedKey(cl.ContactID, cl.Date))
	switch {
	case err != nil:
		// As every route that needs Redis: 503 (Twilio then tells the
		// callee an application error occurred; the day counts as missed).
		v.log.Error("survey store unavailable", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily unavailable"})
		return cl, nil, false
	case used:
		v.write(c, say{Language: lang, Text: t.Used}, hangup{})
		return cl, nil, false
	}
	var qs []mapping.Question
	if m := v.cfg.Mappings.Current(); m != nil && m.SurveyToCRM() != nil {
		for _, q := range m.SurveyToCRM().Questions() {
			if q.Type == mapping.YesNo {
				qs = append(qs, q)
			}
		}
	}
	if len(qs) == 0 {
		v.log.Error("reminder call without yesno questions in survey_to_crm")
		v.write(c, say{Language: lang, Text: t.Unavailable}, hangup{})
		return cl, nil, false
	}
	return cl, qs, true
}
