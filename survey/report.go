package survey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"github.com/gin-gonic/gin"
)

// ReportVerifier checks self-report link tokens (*ReportLinks).
type ReportVerifier interface {
	Verify(token string) (ReportClaims, error)
}

// ReportCases is what the page may know of a case (flow/selfreport keeps
// it while a link is out): the greeting's first name, nothing else.
type ReportCases interface {
	ReportFirstName(ctx context.Context, caseID, linkID string) (string, bool, error)
	// ReportDone forgets a used link, so the case can be asked again.
	ReportDone(ctx context.Context, caseID, linkID string) error
}

// ReportsConfig wires the self-report page.
type ReportsConfig struct {
	Links       ReportVerifier
	Mappings    Mappings
	Submissions Submissions // the writeback queue
	Cases       ReportCases // optional: without it the greeting has no name
	Store       Store
	Location    *time.Location // BRIDGE_TIMEZONE: what "today" is for the dates
	Logger      *slog.Logger
	Now         func() time.Time
	// UsedTTL is how long a used link is remembered; it must outlive the
	// link's 72 hours. Default 30 days.
	UsedTTL    time.Duration
	Rate       float64 // per client address, as the survey page; default 1/s
	Burst      int     // default 60
	MaxClients int     // default 10000
}

// Reports serves GET and POST /report/:token.
type Reports struct {
	cfg     ReportsConfig
	log     *slog.Logger
	limiter *limiter
}

// NewReports checks cfg.
func NewReports(cfg ReportsConfig) (*Reports, error) {
	if cfg.Links == nil || cfg.Mappings == nil || cfg.Submissions == nil || cfg.Store == nil {
		return nil, errors.New("survey: report Links, Mappings, Submissions and Store are required")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("survey: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UsedTTL <= ReportValidFor {
		cfg.UsedTTL = 30 * 24 * time.Hour
	}
	r := &Reports{cfg: cfg, log: cfg.Logger, limiter: newLimiter(cfg.Rate, cfg.Burst, cfg.MaxClients, cfg.Now)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Register adds the routes.
func (r *Reports) Register(e gin.IRouter) {
	g := e.Group("/report", securityHeaders(reportCSP), rateLimit(r.limiter, func(c *gin.Context) {
		r.message(c, http.StatusTooManyRequests, acceptLanguage(c.GetHeader("Accept-Language")), func(t reportText) string { return t.TooMany })
	}))
	g.GET("/:token", r.get)
	g.POST("/:token", r.post)
}

// ReportUsedKey marks a self-report link used.
func ReportUsedKey(linkID string) string { return "report:used:" + linkID }

// ReportQueueKey deduplicates a link's submission in the writeback queue.
func ReportQueueKey(linkID string) string { return "report:" + linkID }

// open checks the link (forged, expired, used) and that the mapping asks
// for contacts; it has answered itself when ok is false.
func (r *Reports) open(c *gin.Context) (ReportClaims, bool) {
	cl, err := r.cfg.Links.Verify(c.Param("token"))
	switch {
	case errors.Is(err, ErrExpired):
		r.log.Info("report link expired", "case_id", cl.CaseID)
		r.message(c, http.StatusGone, cl.Language, func(t reportText) string { return t.Expired })
		return cl, false
	case err != nil:
		r.log.Info("report link refused")
		r.message(c, http.StatusNotFound, acceptLanguage(c.GetHeader("Accept-Language")), func(t reportText) string { return t.NotFound })
		return cl, false
	}
	_, used, err := r.cfg.Store.Get(c.Request.Context(), ReportUsedKey(cl.LinkID()))
	switch {
	case err != nil:
		r.log.Error("report store unavailable", "err", err)
		r.message(c, http.StatusServiceUnavailable, cl.Language, func(t reportText) string { return t.Unavailable })
		return cl, false
	case used:
		r.message(c, http.StatusConflict, cl.Language, func(t reportText) string { return t.Used })
		return cl, false
	}
	if m := r.cfg.Mappings.Current(); m == nil || m.CaseContacts() == nil {
		r.log.Error("report page without a case_contacts mapping")
		r.message(c, http.StatusServiceUnavailable, cl.Language, func(t reportText) string { return t.Unavailable })
		return cl, false
	}
	return cl, true
}

func (r *Reports) get(c *gin.Context) {
	cl, ok := r.open(c)
	if !ok {
		return
	}
	r.form(c, http.StatusOK, cl, []ReportRow{{}}, nil, "")
}

func (r *Reports) post(c *gin.Context) {
	cl, ok := r.open(c)
	if !ok {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	if err := c.Request.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		r.form(c, status, cl, []ReportRow{{}}, nil, probEmpty)
		return
	}
	f := ParseReportForm(c.Request.PostForm)
	if f.Add || f.Remove {
		r.form(c, http.StatusOK, cl, f.EditRows(), nil, "")
		return
	}
	now := r.cfg.Now()
	contacts, problems, formProblem := ValidateReport(cl.CaseID, f, now.In(r.cfg.Location))
	if contacts == nil {
		rows := f.Rows
		if len(rows) == 0 {
			rows = []ReportRow{{}}
		}
		r.log.Info("report refused", "case_id", cl.CaseID, "rows", len(f.Rows), "bad_rows", countBad(problems))
		r.form(c, http.StatusUnprocessableEntity, cl, rows, problems, formProblem)
		return
	}

	ctx := c.Request.Context()
	key := ReportUsedKey(cl.LinkID())
	fresh, err := r.cfg.Store.SetNX(ctx, key, now.UTC().Format(time.RFC3339), r.cfg.UsedTTL)
	if err != nil {
		r.log.Error("report store unavailable", "err", err)
		r.message(c, http.StatusServiceUnavailable, cl.Language, func(t reportText) string { return t.Unavailable })
		return
	}
	if !fresh {
		r.message(c, http.StatusConflict, cl.Language, func(t reportText) string { return t.Used })
		return
	}
	payload, _ := json.Marshal(event.Writeback{Report: &event.Report{
		CaseID: cl.CaseID, LinkID: cl.LinkID(), Language: cl.Language, Contacts: contacts, SubmittedAt: now.UTC(),
	}})
	added, err := r.cfg.Submissions.Enqueue(ctx, queue.Item{Key: ReportQueueKey(cl.LinkID()), Payload: payload})
	if err != nil {
		// Not recorded: free the link so the case can send again.
		if derr := r.cfg.Store.Del(context.WithoutCancel(ctx), key); derr != nil {
			r.log.Error("report link left marked used", "case_id", cl.CaseID, "err", derr)
		}
		r.log.Error("report not queued", "case_id", cl.CaseID, "err", err)
		r.message(c, http.StatusServiceUnavailable, cl.Language, func(t reportText) string { return t.Unavailable })
		return
	}
	if len(added) == 1 && !added[0] {
		r.message(c, http.StatusConflict, cl.Language, func(t reportText) string { return t.Used })
		return
	}
	if r.cfg.Cases != nil {
		if err := r.cfg.Cases.ReportDone(context.WithoutCancel(ctx), cl.CaseID, cl.LinkID()); err != nil {
			r.log.Warn("used report link not forgotten; it expires by itself", "case_id", cl.CaseID, "err", err)
		}
	}
	r.log.Info("report received", "case_id", cl.CaseID, "contacts", len(contacts))
	r.message(c, http.StatusOK, cl.Language, func(t reportText) string { return t.Thanks })
}

func countBad(ps []RowProblems) int {
	n := 0
	for _, p := range ps {
		if p.any() {
			n++
		}
	}
	return n
}

type reportPageView struct {
	Lang, ChromeLang string
	T                reportText
}

type reportRowView struct {
	Index, Number                        int
	FirstName, Phone, Email, LastContact string
	Household                            bool
	NameErr, ContactErr, DateErr         string
}

type reportFormView struct {
	reportPageView
	Greeting         string
	FormError        string
	Rows             []reportRowView
	CanAdd           bool
	MinDate, MaxDate string
}

type reportMessageView struct {
	reportPageView
	Message string
	Done    bool
}

// form renders the rows; problems (one per row) and formProblem are the
// messages of a refused submission.
func (r *Reports) form(c *gin.Context, status int, cl ReportClaims, rows []ReportRow, problems []RowProblems, formProblem string) {
	t, chromeLang := reportChrome(cl.Language)
	name := ""
	if r.cfg.Cases != nil {
		n, found, err := r.cfg.Cases.ReportFirstName(c.Request.Context(), cl.CaseID, cl.LinkID())
		if err != nil {
			r.log.Warn("report case lookup failed; greeting without name", "case_id", cl.CaseID, "err", err)
		} else if found {
			name = firstWord(n)
		}
	}
	today := r.cfg.Now().In(r.cfg.Location)
	v := reportFormView{
		reportPageView: reportPageView{Lang: cl.Language, ChromeLang: chromeLang, T: t},
		Greeting:       t.GreetingNoName,
		CanAdd:         len(rows) < MaxReportRows,
		MaxDate:        today.Format("2006-01-02"),
		MinDate:        today.AddDate(0, 0, -ReportLookback).Format("2006-01-02"),
	}
	if name != "" {
		v.Greeting = fmt.Sprintf(t.Greeting, name)
	}
	bad := false
	for i, row := range rows {
		rv := reportRowView{Index: i, Number: i + 1, FirstName: row.FirstName, Phone: row.Phone, Email: row.Email,
			LastContact: row.LastContact, Household: row.Household}
		if i < len(problems) {
			p := problems[i]
			rv.NameErr, rv.ContactErr, rv.DateErr = t.Problems[p.Name], t.Problems[p.Contact], t.Problems[p.Date]
			bad = bad || p.any()
		}
		v.Rows = append(v.Rows, rv)
	}
	switch {
	case formProblem != "":
		v.FormError = t.Problems[formProblem]
	case bad:
		v.FormError = t.Invalid
	}
	r.render(c, status, "report", v)
}

// firstWord keeps the first name only, whatever the mapping's name rule reads.
func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func (r *Reports) message(c *gin.Context, status int, lang string, pick func(reportText) string) {
	if !langRe.MatchString(lang) {
		lang = "en"
	}
	t, chromeLang := reportChrome(lang)
	v := reportMessageView{reportPageView: reportPageView{Lang: lang, ChromeLang: chromeLang, T: t}, Message: pick(t)}
	v.Done = status == http.StatusOK || status == http.StatusConflict
	r.render(c, status, "message", v)
}

func (r *Reports) render(c *gin.Context, status int, name string, v any) {
	renderPage(c, r.log, reportPages, "report", status, name, v)
}
