// Package democonsole is the simulator console of `bridge demo`, served at
// /demo/: what the Salesforce stand-in holds and what the Twilio stand-in
// received, side by side with the ids that link them, and buttons that act
// as the outside world through the bridge's real, signed entry points (an
// Outbound Message on save, a signed TaskRouter event, a signed SMS).
//
// It is a demo tool: it shows the simulated CRM's records (names, phones),
// so it is never part of `bridge serve`. Protected fields are masked even here.
package democonsole

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
	"github.com/cityhealth/bridge/test/world"
)

//go:embed web
var webFS embed.FS

// Prefix is where the console is served.
const Prefix = "/demo/"

// Config wires a Console to the running stand-ins and the bridge.
type Config struct {
	Salesforce *sfsim.Server
	Twilio     *twiliosim.Server
	// BridgeURL is the bridge's BRIDGE_PUBLIC_URL: Outbound Messages and
	// signed webhooks go there, as Salesforce and Twilio would send them.
	BridgeURL string
	OrgID     string
	// OutboundToken is BRIDGE_SF_OUTBOUND_TOKEN, sent as ?token= like the
	// Outbound Message endpoint URL configured in Salesforce; "" = none.
	OutboundToken string
	// ServiceNumber is the number contacts text back to.
	ServiceNumber string
	// Protected fields are shown masked.
	Protected []string
	// Fallback serves what the console does not (e.g. /demo/agent).
	Fallback http.Handler
	Logger   *slog.Logger
	Now      func() time.Time
}

// Console is the http.Handler for Prefix.
type Console struct {
	cfg    Config
	mux    *http.ServeMux
	client *http.Client
	seq    atomic.Int64

	mu  sync.Mutex
	log []Action // newest last, at most maxActions
}

const (
	maxActions  = 200
	maxBody     = 64 << 10
	contactType = "Contact"
)

// Action is one thing done from the console and what the bridge answered.
type Action struct {
	At       time.Time `json:"at"`
	What     string    `json:"what"`
	Ref      string    `json:"ref,omitempty"` // a record id or task sid it concerns
	Status   int       `json:"status"`        // the bridge's HTTP status; 0 = not sent
	Outcome  string    `json:"outcome"`
	Failed   bool      `json:"failed"`
	Endpoint string    `json:"endpoint,omitempty"`
}

// New checks cfg and builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Salesforce == nil || cfg.Twilio == nil || cfg.BridgeURL == "" || cfg.OrgID == "" {
		return nil, errors.New("democonsole: Config.Salesforce, Twilio, BridgeURL and OrgID are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Fallback == nil {
		cfg.Fallback = http.NotFoundHandler()
	}
	c := &Console{cfg: cfg, client: &http.Client{Timeout: 15 * time.Second}}
	c.seq.Store(time.Now().UnixNano() % 1e9) // notification ids stay fresh across demo runs on one Redis
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	m := http.NewServeMux()
	m.HandleFunc("GET /demo/{$}", func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		files.ServeHTTP(w, r2)
	})
	for _, f := range []string{"console.js", "console.css"} {
		m.HandleFunc("GET /demo/"+f, func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + f
			files.ServeHTTP(w, r2)
		})
	}
	m.HandleFunc("GET /demo/api/state", c.state)
	m.HandleFunc("POST /demo/api/contacts/{id}", c.saveContact)
	m.HandleFunc("POST /demo/api/tasks/{sid}/complete", c.completeTask)
	m.HandleFunc("POST /demo/api/sms", c.sms)
	m.Handle("/", cfg.Fallback)
	c.mux = m
	return c, nil
}

// securityHeaders: everything is same-origin; no inline script or style.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/demo/agent") {
		c.cfg.Fallback.ServeHTTP(w, r) // another page's; its headers are its own
		return
	}
	securityHeaders(w.Header())
	if r.Method == http.MethodPost {
		// A page on another origin cannot drive the console: it would need a
		// JSON content type (a CORS preflight the console never answers).
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send application/json"})
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			if u, err := url.Parse(o); err != nil || u.Host != r.Host {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request"})
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	c.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ---- state ----

// State is what GET /demo/api/state answers.
type State struct {
	Salesforce struct {
		Contacts   []Row `json:"contacts"`
		Activities []Row `json:"activities"` // Task rows: call outcomes, SMS replies, failures
		FollowUps  []Row `json:"follow_ups"` // open Tasks (Status Not Started)
		Surveys    []Row `json:"surveys"`
	} `json:"salesforce"`
	Twilio struct {
		Tasks    []TaskView    `json:"tasks"`
		Messages []MessageView `json:"messages"`
		Calls    []CallView    `json:"calls"`
	} `json:"twilio"`
	Actions  []Action          `json:"actions"`
	Editable []string          `json:"editable"`
	Links    map[string]string `json:"links"`
}

// Row is one Salesforce row, protected fields masked, with its links.
type Row struct {
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
	// Tasks and Messages link a contact to what Twilio holds for it.
	Tasks    []string `json:"tasks,omitempty"`
	Messages []string `json:"messages,omitempty"`
}

// TaskView is one TaskRouter task.
type TaskView struct {
	SID        string         `json:"sid"`
	Status     string         `json:"status"`
	Priority   int            `json:"priority"`
	RecordID   string         `json:"record_id,omitempty"`
	Attributes map[string]any `json:"attributes"`
	Created    time.Time      `json:"created"`
	// Activity is the Salesforce Task its outcome became, if any.
	Activity string `json:"activity,omitempty"`
}

// MessageView is one Message resource.
type MessageView struct {
	SID       string    `json:"sid"`
	To        string    `json:"to"`
	Body      string    `json:"body"`
	Status    string    `json:"status"`
	SendAt    time.Time `json:"send_at,omitzero"`
	ErrorCode int       `json:"error_code,omitempty"`
	RecordID  string    `json:"record_id,omitempty"`
	SurveyURL string    `json:"survey_url,omitempty"`
}

// CallView is one outbound call (a voice reminder) and what was said and
// pressed on it.
type CallView struct {
	SID      string   `json:"sid"`
	To       string   `json:"to"`
	Status   string   `json:"status"`
	RecordID string   `json:"record_id,omitempty"`
	Said     []string `json:"said"`
	Pressed  []string `json:"pressed"`
}

// Editable are the contact fields the console's form offers.
var editable = []string{"FirstName", "LastName", "MobilePhone", "Preferred_Language__c", "Outreach_Status__c",
	"Monitoring_Status__c", "Monitoring_Start__c", "Priority__c", "SMS_Opt_Out__c"}

// reAnswered finds the bridge's status in twiliosim's delivery error.
var reAnswered = regexp.MustCompile(`callback answered (\d{3})`)

// reSurveyURL finds a survey or self-report link in a message body.
var reSurveyURL = regexp.MustCompile(`https?://\S+/(survey|report)/[A-Za-z0-9_.~-]+`)

func (c *Console) masked(row map[string]any) map[string]any {
	out := make(map[string]any, len(row))
	for k, v := range row {
		if k == "attributes" {
			continue
		}
		if slices.ContainsFunc(c.cfg.Protected, func(p string) bool { return strings.EqualFold(p, k) }) && v != nil {
			v = "(protected: stays in Salesforce)"
		}
		out[k] = v
	}
	return out
}

// Snapshot builds the state the console shows.
func (c *Console) Snapshot() State {
	var st State
	// Empty lists, never null: the page iterates them.
	st.Salesforce.Contacts, st.Salesforce.Activities, st.Salesforce.FollowUps, st.Salesforce.Surveys = []Row{}, []Row{}, []Row{}, []Row{}
	st.Twilio.Tasks, st.Twilio.Messages, st.Twilio.Calls = []TaskView{}, []MessageView{}, []CallView{}
	sf, tw := c.cfg.Salesforce, c.cfg.Twilio
	tasks := tw.Tasks()
	msgs := tw.Messages()
	byPhone := map[string]string{} // E.164 -> contact id
	contacts := sf.Records(contactType)
	for _, r := range contacts {
		if p := e164(str(r["MobilePhone"])); p != "" {
			byPhone[p] = str(r["Id"])
		}
	}
	taskRows := sf.Records("Task")
	activityOf := map[string]string{} // task sid -> SF Task id
	for _, r := range taskRows {
		if sid := str(r["Twilio_Task_Sid__c"]); sid != "" && !strings.HasSuffix(sid, "-follow-up") {
			activityOf[sid] = str(r["Id"])
		}
	}
	for _, t := range tasks {
		crm, _ := t.Attributes["crm"].(map[string]any)
		st.Twilio.Tasks = append(st.Twilio.Tasks, TaskView{
			SID: t.SID, Status: t.AssignmentStatus, Priority: t.Priority, RecordID: sfsim.To18(str(crm["record_id"])),
			Attributes: t.Attributes, Created: t.DateCreated, Activity: activityOf[t.SID],
		})
	}
	for _, m := range msgs {
		st.Twilio.Messages = append(st.Twilio.Messages, MessageView{
			SID: m.SID, To: m.To, Body: m.Body, Status: m.Status, SendAt: m.SendAt, ErrorCode: m.ErrorCode,
			RecordID: byPhone[m.To], SurveyURL: reSurveyURL.FindString(m.Body),
		})
	}
	for _, call := range tw.CallsMade() {
		st.Twilio.Calls = append(st.Twilio.Calls, CallView{SID: call.SID, To: call.To, Status: call.Status,
			RecordID: byPhone[call.To], Said: append([]string{}, call.Said...), Pressed: append([]string{}, call.Pressed...)})
	}
	for _, r := range contacts {
		row := Row{ID: str(r["Id"]), Fields: c.masked(r)}
		for _, t := range st.Twilio.Tasks {
			if t.RecordID == row.ID {
				row.Tasks = append(row.Tasks, t.SID)
			}
		}
		for _, m := range st.Twilio.Messages {
			if m.RecordID == row.ID {
				row.Messages = append(row.Messages, m.SID)
			}
		}
		st.Salesforce.Contacts = append(st.Salesforce.Contacts, row)
	}
	for _, r := range taskRows {
		row := Row{ID: str(r["Id"]), Fields: c.masked(r)}
		if r["Status"] == "Not Started" {
			st.Salesforce.FollowUps = append(st.Salesforce.FollowUps, row)
		} else {
			st.Salesforce.Activities = append(st.Salesforce.Activities, row)
		}
	}
	for _, r := range sf.Records("Symptom_Survey__c") {
		st.Salesforce.Surveys = append(st.Salesforce.Surveys, Row{ID: str(r["Id"]), Fields: c.masked(r)})
	}
	c.mu.Lock()
	st.Actions = append([]Action{}, c.log...)
	c.mu.Unlock()
	st.Editable = editable
	st.Links = map[string]string{"agent": "/demo/agent", "admin": "/admin/", "metrics": "/metrics"}
	return st
}

func (c *Console) state(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.Snapshot())
}

func (c *Console) record(a Action) Action {
	a.At = c.cfg.Now().UTC()
	c.mu.Lock()
	c.log = append(c.log, a)
	if len(c.log) > maxActions {
		c.log = slices.Delete(c.log, 0, len(c.log)-maxActions)
	}
	c.mu.Unlock()
	// Ids only: the console's log follows the bridge's privacy rule.
	c.cfg.Logger.Info("demo console action", "what", a.What, "ref", a.Ref, "status", a.Status, "failed", a.Failed)
	return a
}

func (c *Console) answer(w http.ResponseWriter, a Action) {
	a = c.record(a)
	status := http.StatusOK
	switch {
	case a.Failed && a.Endpoint == "":
		status = http.StatusBadRequest // refused before anything reached the bridge
	case a.Failed:
		status = http.StatusBadGateway // the bridge refused or could not be reached
	}
	writeJSON(w, status, a)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return false
	}
	return true
}

// ---- actions ----

// saveContact edits a contact in the Salesforce stand-in and sends the
// Outbound Message a record-triggered flow would send for it.
func (c *Console) saveContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in struct {
		Fields map[string]string `json:"fields"`
	}
	if !decode(w, r, &in) {
		return
	}
	cur := c.cfg.Salesforce.Record(contactType, id)
	if cur == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no contact " + id})
		return
	}
	patch := map[string]any{}
	for k, v := range in.Fields {
		if !slices.Contains(editable, k) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "field " + k + " is not editable here"})
			return
		}
		val, err := typed(k, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		patch[k] = val
	}
	a := Action{What: "saved the contact in Salesforce; its Outbound Message went to the bridge", Ref: sfsim.To18(id), Endpoint: "/webhooks/salesforce/outbound"}
	if err := c.cfg.Salesforce.UpdateRecord(contactType, id, patch); err != nil {
		a.What, a.Failed, a.Outcome, a.Endpoint = "Salesforce refused the save", true, err.Error(), ""
		c.answer(w, a)
		return
	}
	status, body, err := c.sendOutbound(r.Context(), c.cfg.Salesforce.Record(contactType, id))
	a.Status = status
	switch {
	case err != nil:
		a.Failed, a.Outcome = true, err.Error()
	case status == http.StatusOK && strings.Contains(body, "<Ack>true</Ack>"):
		a.Outcome = "acknowledged (<Ack>true</Ack>): record sync and monitoring take it from here"
	default:
		a.Failed, a.Outcome = true, "not acknowledged: "+short(body)+" (Salesforce would retry for 24 hours)"
	}
	c.answer(w, a)
}

// typed converts a form value to the field's type, as Salesforce stores it.
func typed(field, v string) (any, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil // a cleared field is null
	}
	switch field {
	case "Priority__c":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s must be a number", field)
		}
		return f, nil
	case "SMS_Opt_Out__c":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s must be true or false", field)
		}
		return b, nil
	case "Monitoring_Start__c":
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return nil, fmt.Errorf("%s must be a date like 2026-11-30", field)
		}
	}
	return v, nil
}

// sendOutbound posts the Outbound Message for one record: its non-null
// fields (Salesforce leaves nulls out), numbers as Salesforce writes them.
func (c *Console) sendOutbound(ctx context.Context, rec map[string]any) (int, string, error) {
	fields := map[string]*string{}
	for k, v := range rec {
		switch x := v.(type) {
		case string:
			if k != "attributes" {
				fields[k] = world.S(x)
			}
		case float64:
			fields[k] = world.S(strconv.FormatFloat(x, 'f', 1, 64)) // SOAP sends 3.0
		case bool:
			fields[k] = world.S(strconv.FormatBool(x))
		}
	}
	n := world.Notification{ID: fmt.Sprintf("04lDM%013d", c.seq.Add(1)), Object: contactType, Fields: fields}
	target := c.cfg.BridgeURL + "/webhooks/salesforce/outbound"
	if c.cfg.OutboundToken != "" {
		target += "?token=" + url.QueryEscape(c.cfg.OutboundToken)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(world.OutboundMessage(c.cfg.OrgID, n)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post the Outbound Message: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	return resp.StatusCode, string(b), nil
}

// completeTask finishes a task as a tracer would in Flex: the outcome and
// follow-up date go into its attributes, and TaskRouter posts the signed
// task.completed event to the bridge.
func (c *Console) completeTask(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	var in struct {
		Outcome  string `json:"outcome"`
		FollowUp string `json:"follow_up_date"`
	}
	if !decode(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Outcome) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "outcome is required"})
		return
	}
	if in.FollowUp != "" {
		if _, err := time.Parse(time.DateOnly, in.FollowUp); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "follow_up_date must be a date like 2026-12-02"})
			return
		}
	}
	t, ok := c.cfg.Twilio.Task(sid)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no task " + sid})
		return
	}
	if !slices.Contains([]string{"pending", "reserved", "assigned", "wrapping"}, t.AssignmentStatus) {
		// TaskRouter answers 400 to completing a task that is not assigned or
		// wrapping; the console refuses finished ones before asking.
		writeJSON(w, http.StatusConflict, map[string]string{"error": "task " + sid + " is " + t.AssignmentStatus})
		return
	}
	patch := map[string]any{
		"conversations": map[string]any{"outcome": in.Outcome},
		"call_sid":      "CA" + randHex(16),
	}
	if in.FollowUp != "" {
		patch["follow_up_date"] = in.FollowUp
	}
	a := Action{What: "completed the task in Flex; TaskRouter sent task.completed, signed", Ref: sid, Endpoint: "/webhooks/twilio/taskrouter"}
	if err := c.cfg.Twilio.CompleteTask(sid, patch); err != nil {
		a.Failed, a.Outcome = true, err.Error()
		if m := reAnswered.FindStringSubmatch(err.Error()); m != nil {
			a.Status, _ = strconv.Atoi(m[1])
		}
	} else {
		a.Status, a.Outcome = http.StatusOK, "the bridge accepted the event: the outcome is on its way to Salesforce"
	}
	c.answer(w, a)
}

// Twilio's default opt-out keywords (Advanced Opt-Out):
// https://help.twilio.com/articles/223134027
var (
	stopWords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
	startWords = []string{"START", "UNSTOP", "YES"}
)

// sms posts an inbound text from a contact to the bridge's SMS webhook,
// signed, with OptOutType as Advanced Opt-Out adds it to keywords.
func (c *Console) sms(w http.ResponseWriter, r *http.Request) {
	var in struct {
		From string `json:"from"`
		Body string `json:"body"`
	}
	if !decode(w, r, &in) {
		return
	}
	from := e164(in.From)
	if from == "" || strings.TrimSpace(in.Body) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "from (a phone number) and body are required"})
		return
	}
	word := strings.ToUpper(strings.TrimSpace(in.Body))
	optOut := ""
	switch {
	case slices.Contains(stopWords, word):
		optOut = "STOP"
		c.cfg.Twilio.OptOut(from)
	case slices.Contains(startWords, word):
		optOut = "START"
		c.cfg.Twilio.OptIn(from)
	}
	to := c.cfg.ServiceNumber
	if to == "" {
		to = "+12125550100"
	}
	form := c.cfg.Twilio.InboundSMSForm(from, to, in.Body, optOut)
	what := "texted the bridge (a reply)"
	if optOut != "" {
		what = "texted " + word + " (OptOutType " + optOut + ")"
	}
	a := Action{What: what, Ref: form.Get("MessageSid"), Endpoint: "/webhooks/twilio/sms"}
	resp, err := c.cfg.Twilio.SignedPost(r.Context(), c.client, c.cfg.BridgeURL+"/webhooks/twilio/sms", form)
	if err != nil {
		a.Failed, a.Outcome = true, err.Error()
		c.answer(w, a)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	resp.Body.Close()
	a.Status = resp.StatusCode
	if resp.StatusCode/100 == 2 {
		a.Outcome = "accepted by the bridge"
	} else {
		a.Failed, a.Outcome = true, "refused: "+short(string(b))
	}
	c.answer(w, a)
}

// ---- helpers ----

func str(v any) string { s, _ := v.(string); return s }

func short(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// e164 normalises a US number as the mapping's e164 transform does for the
// demo's numbers: 10 digits get +1, 11 starting with 1 get +.
func e164(s string) string {
	var d strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			d.WriteRune(r)
		}
	}
	digits := d.String()
	switch {
	case strings.HasPrefix(strings.TrimSpace(s), "+") && len(digits) >= 8:
		return "+" + digits
	case len(digits) == 10:
		return "+1" + digits
	case len(digits) == 11 && digits[0] == '1':
		return "+" + digits
	}
	return ""
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
