package survey

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/gin-gonic/gin"
)

// Contact is what the page may know of a contact: the greeting's first
// name and the language. Nothing about the case, ever.
type Contact = contacts.Greeting

// Contacts looks up a contact for the page (*contacts.Registry).
type Contacts interface {
	Greeting(ctx context.Context, contactID string) (Contact, bool, error)
}

// Verifier checks link tokens (*Links).
type Verifier interface {
	Verify(token string) (Claims, error)
}

// Submissions is the writeback queue.
type Submissions interface {
	Enqueue(ctx context.Context, items ...queue.Item) ([]bool, error)
}

// Store marks links used.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	Del(ctx context.Context, keys ...string) error
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// PagesConfig wires the survey pages.
type PagesConfig struct {
	Links       Verifier
	Mappings    Mappings
	Submissions Submissions
	Contacts    Contacts // optional: without it the greeting has no name
	Store       Store
	Logger      *slog.Logger
	Now         func() time.Time
	// UsedTTL is how long a used link is remembered; it must outlive the
	// link (at most 3 days). Default 30 days.
	UsedTTL time.Duration
	// Rate limit per client address: Burst requests at once, refilled at
	// Rate per second. Generous by default because phones share carrier
	// NAT addresses and every reminder goes out at the same minute.
	Rate       float64 // default 1
	Burst      int     // default 60
	MaxClients int     // addresses tracked at once; default 10000
	// MaxText bounds a text answer, in characters; default 2000.
	MaxText int
}

// Pages serves GET and POST /survey/:token.
type Pages struct {
	cfg     PagesConfig
	log     *slog.Logger
	limiter *limiter
}

// NewPages checks cfg.
func NewPages(cfg PagesConfig) (*Pages, error) {
	if cfg.Links == nil || cfg.Mappings == nil || cfg.Submissions == nil || cfg.Store == nil {
		return nil, errors.New("survey: Links, Mappings, Submissions and Store are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UsedTTL <= 0 {
		cfg.UsedTTL = 30 * 24 * time.Hour
	}
	if cfg.MaxText <= 0 {
		cfg.MaxText = 2000
	}
	p := &Pages{cfg: cfg, log: cfg.Logger, limiter: newLimiter(cfg.Rate, cfg.Burst, cfg.MaxClients, cfg.Now)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Register adds the routes.
func (p *Pages) Register(e gin.IRouter) {
	g := e.Group("/survey", securityHeaders(surveyCSP), rateLimit(p.limiter, func(c *gin.Context) {
		p.message(c, http.StatusTooManyRequests, acceptLanguage(c.GetHeader("Accept-Language")), func(t text) string { return t.TooMany })
	}))
	g.GET("/:token", p.get)
	g.POST("/:token", p.post)
}

// UsedKey is the Redis key that marks a contact's survey for a day answered.
// One answer per contact and day, whichever link carried it.
func UsedKey(contactID, date string) string { return "survey:used:" + contactID + ":" + date }

const maxBody = 64 << 10

// surveyCSP: nothing from another origin, no script at all.
const surveyCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders are the survey and report pages' headers: the CSP, no
// caching and no referrer (the token is in the URL).
func securityHeaders(csp string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		c.Next()
	}
}

// rateLimit answers with refuse (a 429 page) once a client's bucket is empty.
func rateLimit(l *limiter, refuse func(*gin.Context)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !l.allow(clientKey(c.ClientIP())) {
			c.Header("Retry-After", "60")
			refuse(c)
			c.Abort()
			return
		}
		c.Next()
	}
}

// verify answers 404/410 itself and reports whether the page may go on.
func (p *Pages) verify(c *gin.Context) (Claims, bool) {
	claims, err := p.cfg.Links.Verify(c.Param("token"))
	switch {
	case errors.Is(err, ErrExpired):
		p.log.Info("survey link expired", "contact_id", claims.ContactID, "date", claims.Date)
		p.message(c, http.StatusGone, claims.Language, func(t text) string { return t.Expired })
		return claims, false
	case err != nil:
		p.log.Info("survey link refused")
		p.message(c, http.StatusNotFound, acceptLanguage(c.GetHeader("Accept-Language")), func(t text) string { return t.NotFound })
		return claims, false
	}
	return claims, true
}

// used answers 409 (or 503) itself when the link's day is already answered.
func (p *Pages) used(c *gin.Context, cl Claims) bool {
	_, found, err := p.cfg.Store.Get(c.Request.Context(), UsedKey(cl.ContactID, cl.Date))
	switch {
	case err != nil:
		p.log.Error("survey store unavailable", "err", err)
		p.message(c, http.StatusServiceUnavailable, cl.Language, func(t text) string { return t.Unavailable })
		return true
	case found:
		p.message(c, http.StatusConflict, cl.Language, func(t text) string { return t.Used })
		return true
	}
	return false
}

func (p *Pages) questions(c *gin.Context, cl Claims) ([]mapping.Question, bool) {
	m := p.cfg.Mappings.Current()
	var qs []mapping.Question
	if m != nil {
		qs = m.SurveyToCRM().Questions()
	}
	if len(qs) == 0 {
		p.log.Error("survey page without survey_to_crm questions")
		p.message(c, http.StatusServiceUnavailable, cl.Language, func(t text) string { return t.Unavailable })
		return nil, false
	}
	return qs, true
}

// open checks the link (forged, expired, used) and loads the questions; it
// has answered the request itself when ok is false.
func (p *Pages) open(c *gin.Context) (cl Claims, qs []mapping.Question, ok bool) {
	cl, ok = p.verify(c)
	if !ok || p.used(c, cl) {
		return cl, nil, false
	}
	qs, ok = p.questions(c, cl)
	return cl, qs, ok
}

func (p *Pages) get(c *gin.Context) {
	cl, qs, ok := p.open(c)
	if !ok {
		return
	}
	p.form(c, http.StatusOK, cl, qs, nil, false)
}

func (p *Pages) post(c *gin.Context) {
	cl, qs, ok := p.open(c)
	if !ok {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	if err := c.Request.ParseForm(); err != nil {
		p.form(c, http.StatusBadRequest, cl, qs, nil, true)
		return
	}
	answers, ok := p.answers(qs, c.Request.PostForm)
	if !ok {
		p.form(c, http.StatusBadRequest, cl, qs, answers, true)
		return
	}

	err := Record(c.Request.Context(), Recording{Store: p.cfg.Store, Submissions: p.cfg.Submissions, UsedTTL: p.cfg.UsedTTL, Now: p.cfg.Now, Logger: p.log}, cl, answers)
	switch {
	case errors.Is(err, ErrAnswered):
		p.message(c, http.StatusConflict, cl.Language, func(t text) string { return t.Used })
		return
	case err != nil:
		p.message(c, http.StatusServiceUnavailable, cl.Language, func(t text) string { return t.Unavailable })
		return
	}
	p.log.Info("survey received", "contact_id", cl.ContactID, "date", cl.Date, "answers", len(answers))
	p.message(c, http.StatusOK, cl.Language, func(t text) string { return t.Thanks })
}

// answers validates the form: every yesno question answered yes or no,
// numbers numeric, texts bounded. Keys that are not questions are dropped.
// It returns what was given (for redisplay) and whether it is acceptable.
func (p *Pages) answers(qs []mapping.Question, form map[string][]string) (map[string]string, bool) {
	out := map[string]string{}
	ok := true
	for _, q := range qs {
		vals := form[q.Field]
		if len(vals) > 1 {
			ok = false
		}
		v := ""
		if len(vals) > 0 {
			v = strings.TrimSpace(vals[0])
		}
		switch q.Type {
		case mapping.YesNo:
			if v != "yes" && v != "no" {
				ok = false
				continue
			}
		case mapping.Number:
			if v != "" {
				f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
				if err != nil || f != f || f > 1e9 || f < -1e9 {
					ok = false
					continue
				}
				v = strconv.FormatFloat(f, 'f', -1, 64)
			}
		default:
			if !utf8.ValidString(v) || utf8.RuneCountInString(v) > p.cfg.MaxText {
				ok = false
				continue
			}
		}
		if v != "" {
			out[q.Field] = v
		}
	}
	return out, ok
}

// form renders the questions; invalid adds the error message.
func (p *Pages) form(c *gin.Context, status int, cl Claims, qs []mapping.Question, answers map[string]string, invalid bool) {
	t, chromeLang := chrome(cl.Language)
	name := ""
	if p.cfg.Contacts != nil {
		ct, found, err := p.cfg.Contacts.Greeting(c.Request.Context(), cl.ContactID)
		if err != nil {
			p.log.Warn("survey contact lookup failed; greeting without name", "contact_id", cl.ContactID, "err", err)
		} else if found {
			name = ct.FirstName
		}
	}
	v := formView{
		pageView: pageView{Lang: cl.Language, ChromeLang: chromeLang, T: t},
		Date:     cl.Date,
		Invalid:  invalid,
	}
	if name != "" {
		v.Greeting = fmt.Sprintf(t.Greeting, name)
	} else {
		v.Greeting = t.GreetingNoName
	}
	for _, q := range qs {
		qv := questionView{Field: q.Field, Label: q.LabelFor(cl.Language), Answer: answers[q.Field]}
		if l := labelLang(q, cl.Language); l != cl.Language {
			qv.Lang = l
		}
		switch q.Type {
		case mapping.YesNo:
			qv.YesNo = true
			qv.Missing = invalid && qv.Answer == ""
		case mapping.Number:
			qv.Number = true
		}
		v.Questions = append(v.Questions, qv)
	}
	p.render(c, status, "form", v)
}

// labelLang is the language LabelFor really picked.
func labelLang(q mapping.Question, lang string) string {
	lang = strings.ToLower(lang)
	if _, ok := q.Label[lang]; ok {
		return lang
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		if _, ok := q.Label[lang[:i]]; ok {
			return lang[:i]
		}
	}
	return "en"
}

func (p *Pages) message(c *gin.Context, status int, lang string, pick func(text) string) {
	if !langRe.MatchString(lang) {
		lang = "en"
	}
	t, chromeLang := chrome(lang)
	v := messageView{pageView: pageView{Lang: lang, ChromeLang: chromeLang, T: t}, Message: pick(t)}
	v.Done = status == http.StatusOK || status == http.StatusConflict
	p.render(c, status, "message", v)
}

func (p *Pages) render(c *gin.Context, status int, name string, v any) {
	renderPage(c, p.log, pages, "survey", status, name, v)
}

// renderPage renders a whole page before answering, so a template error
// is a clean 500 rather than half a page.
func renderPage(c *gin.Context, log *slog.Logger, set *template.Template, kind string, status int, name string, v any) {
	var b strings.Builder
	if err := set.ExecuteTemplate(&b, name, v); err != nil {
		log.Error(kind+" page render failed", "page", name, "err", err)
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Data(status, "text/html; charset=utf-8", []byte(b.String()))
}
