// Package webhooks turns inbound vendor HTTP into queued events and answers
// the vendor. It verifies what came in (org, token, Twilio signature), records
// every event durably and deduplicated, and only then acknowledges. Business
// flows live in flow/…, never here.
package webhooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/guard"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Enqueuer records items durably; a false result means "seen before".
type Enqueuer interface {
	Enqueue(ctx context.Context, items ...queue.Item) ([]bool, error)
}

// Mappings gives the mapping in force; webhooks need only its protected list.
type Mappings interface {
	Current() *mapping.Mapping
}

// SignatureValidator checks X-Twilio-Signature on the URL Twilio called.
type SignatureValidator interface {
	Validate(fullURL string, params url.Values, signature string) bool
}

// Config wires the handlers to the queues.
type Config struct {
	OrgID         string // BRIDGE_SF_ORG_ID
	OutboundToken string // BRIDGE_SF_OUTBOUND_TOKEN, required
	PublicURL     string // BRIDGE_PUBLIC_URL, the base Twilio signs against
	AccountSID    string // BRIDGE_TWILIO_ACCOUNT_SID: signed forms must name it

	Records    Enqueuer // record sync
	Monitoring Enqueuer // reminders and STOP/START
	Writeback  Enqueuer // outcomes and replies
	// SelfReport, optional, gets the case_contacts.source records, for
	// flow/selfreport to text a case entering case_contacts.when.
	SelfReport Enqueuer

	Mappings  Mappings
	Signature SignatureValidator
	// Voice serves the TwiML of reminder calls (survey.Voice); optional.
	Voice VoiceTwiML

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// VoiceTwiML answers reminder calls; both run behind the signature check.
type VoiceTwiML interface {
	Greet(c *gin.Context, form url.Values)
	Answer(c *gin.Context, form url.Values)
}

// Handlers serves the three vendor webhooks.
type Handlers struct {
	cfg    Config
	log    *slog.Logger
	intake *prometheus.CounterVec
}

// New checks cfg and builds the handlers.
func New(cfg Config) (*Handlers, error) {
	switch {
	case cfg.OrgID == "":
		return nil, errors.New("webhooks: OrgID is required")
	case cfg.OutboundToken == "":
		// The org id is no secret: without a token anyone could post records.
		return nil, errors.New("webhooks: OutboundToken is required")
	case !twilio.ValidSID(cfg.AccountSID, "AC"):
		return nil, errors.New("webhooks: AccountSID must be an AC… SID")
	case cfg.PublicURL == "":
		return nil, errors.New("webhooks: PublicURL is required")
	case cfg.Records == nil || cfg.Monitoring == nil || cfg.Writeback == nil:
		return nil, errors.New("webhooks: Records, Monitoring and Writeback queues are required")
	case cfg.Mappings == nil || cfg.Signature == nil:
		return nil, errors.New("webhooks: Mappings and Signature are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handlers{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.intake = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bridge_intake_total",
		Help: "Inbound webhook events by source and result (accepted, duplicate, ignored, deleted, rejected, unavailable).",
	}, []string{"source", "result"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(h.intake); err != nil {
			return nil, fmt.Errorf("webhooks: register metrics: %w", err)
		}
	}
	return h, nil
}

// Routes are the paths SPEC.md fixes.
const (
	PathOutbound   = "/webhooks/salesforce/outbound"
	PathTaskRouter = "/webhooks/twilio/taskrouter"
	PathSMS        = "/webhooks/twilio/sms"
	PathStatus     = "/webhooks/twilio/status"
	PathVoice      = "/webhooks/twilio/voice/" // + {token}, + {token}/answer
)

// Register mounts the webhooks on r.
func (h *Handlers) Register(r gin.IRouter) {
	r.POST(PathOutbound, guard.BodyLimitFunc(guard.OutboundBody, h.outboundTooLarge), h.outbound)
	r.POST(PathTaskRouter, guard.Twilio(), h.twilioSigned("taskrouter", h.taskRouter))
	r.POST(PathSMS, guard.Twilio(), h.twilioSigned("sms", h.sms))
	r.POST(PathStatus, guard.Twilio(), h.twilioSigned("status", h.status))
	if h.cfg.Voice != nil {
		r.POST(PathVoice+":token", guard.Twilio(), h.twilioSigned("voice", h.voice(h.cfg.Voice.Greet)))
		r.POST(PathVoice+":token/answer", guard.Twilio(), h.twilioSigned("voice", h.voice(h.cfg.Voice.Answer)))
	}
}

func (h *Handlers) count(source, result string, n int) {
	h.intake.WithLabelValues(source, result).Add(float64(n))
}

// outboundTooLarge answers a body over the limit with a SOAP fault, as
// Salesforce expects one.
func (h *Handlers) outboundTooLarge(c *gin.Context) {
	h.count("salesforce", "rejected", 1)
	c.Data(http.StatusRequestEntityTooLarge, "text/xml; charset=utf-8", []byte(soapFault("Client", "the message is too large")))
	c.Abort()
}

// outbound handles a Salesforce Outbound Message.
func (h *Handlers) outbound(c *gin.Context) {
	const source = "salesforce"
	fault := func(status int, code, msg string) {
		h.count(source, resultFor(status), 1)
		c.Data(status, "text/xml; charset=utf-8", []byte(soapFault(code, msg)))
	}
	// Digests compared in constant time: the answer's timing says nothing
	// about the token, not even its length.
	got, want := sha256.Sum256([]byte(c.Query("token"))), sha256.Sum256([]byte(h.cfg.OutboundToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		fault(http.StatusForbidden, "Client", "invalid token")
		return
	}
	body, err := io.ReadAll(c.Request.Body) // bounded by guard.BodyLimit
	if err != nil {
		fault(http.StatusBadRequest, "Client", "body too large or unreadable")
		return
	}
	msg, err := ParseOutbound(bytes.NewReader(body))
	if err != nil {
		fault(http.StatusBadRequest, "Client", err.Error())
		return
	}
	if !SameOrg(h.cfg.OrgID, msg.OrganizationID) {
		h.log.Warn("outbound message from another org refused", "action_id", msg.ActionID)
		fault(http.StatusForbidden, "Client", "organization not allowed")
		return
	}

	current := h.cfg.Mappings.Current()
	protected := current.Protected()
	now := h.cfg.Now().UTC()
	records := make([]queue.Item, 0, len(msg.Notifications))
	monitoring := make([]queue.Item, 0, len(msg.Notifications))
	var cases []queue.Item
	deleted := 0
	for _, n := range msg.Notifications {
		if n.Deleted {
			// The record is gone: nothing to sync, but refusing would make
			// Salesforce retry the whole message for 24 hours and then drop it.
			deleted++
			continue
		}
		// One record, one key: the 18-character form whichever Salesforce sent.
		id, err := salesforce.ID18(n.Fields["Id"].(string))
		if err != nil {
			fault(http.StatusBadRequest, "Client", "a notification's Id is not a Salesforce id")
			return
		}
		n.Fields["Id"] = id
		rec := event.Record{
			NotificationID: n.ID,
			Object:         n.Object,
			RecordID:       id,
			Fields:         withoutProtected(n.Fields, protected),
			ReceivedAt:     now,
			Source:         "outbound",
		}
		recItem, monItem, err := event.RecordItems(n.ID, rec)
		if err != nil {
			fault(http.StatusBadRequest, "Client", "a notification cannot be recorded")
			return
		}
		records = append(records, recItem)
		monitoring = append(monitoring, monItem)
		if cc := current.CaseContacts(); cc != nil && h.cfg.SelfReport != nil && strings.EqualFold(n.Object, cc.Source()) {
			cases = append(cases, records[len(records)-1])
		}
	}
	// Both flows see every notification; each queue deduplicates on its own,
	// so a retry after a partial failure fills in only what is missing.
	ctx := c.Request.Context()
	var fresh []bool
	if len(records) > 0 {
		fresh, err = h.cfg.Records.Enqueue(ctx, records...)
		if err == nil {
			_, err = h.cfg.Monitoring.Enqueue(ctx, monitoring...)
		}
	}
	if err == nil && len(cases) > 0 {
		_, err = h.cfg.SelfReport.Enqueue(ctx, cases...)
	}
	if err != nil {
		h.log.Error("outbound message not recorded", "action_id", msg.ActionID, "err", err)
		fault(http.StatusServiceUnavailable, "Server", "temporarily unable to record notifications; retry")
		return
	}
	accepted := 0
	for _, f := range fresh {
		if f {
			accepted++
		}
	}
	h.count(source, "accepted", accepted)
	h.count(source, "duplicate", len(fresh)-accepted)
	h.count(source, "deleted", deleted)
	h.log.Info("outbound message recorded", "action_id", msg.ActionID, "notifications", len(records), "new", accepted, "deleted", deleted)
	c.Data(http.StatusOK, "text/xml; charset=utf-8", []byte(ackEnvelope))
}

// withoutProtected drops protected fields (case-insensitively, as Salesforce
// field names are) so they never reach Redis, let alone Twilio.
func withoutProtected(fields map[string]any, protected []string) map[string]any {
	if len(protected) == 0 {
		return fields
	}
	out := make(map[string]any, len(fields))
next:
	for k, v := range fields {
		for _, p := range protected {
			if strings.EqualFold(k, p) {
				continue next
			}
		}
		out[k] = v
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings and basic types reach here.
		panic(fmt.Sprintf("webhooks: encode event: %v", err))
	}
	return b
}

func resultFor(status int) string {
	switch {
	case status == http.StatusServiceUnavailable:
		return "unavailable"
	case status >= 400:
		return "rejected"
	}
	return "accepted"
}

// twilioSigned checks X-Twilio-Signature on BRIDGE_PUBLIC_URL + path + query
// before the handler sees anything; a bad one changes nothing. Mount it
// after guard.Twilio (signature present, body bounded).
func (h *Handlers) twilioSigned(source string, next func(*gin.Context, url.Values)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := c.Request.ParseForm(); err != nil {
			h.count(source, "rejected", 1)
			c.JSON(http.StatusBadRequest, gin.H{"error": "body is not a form"})
			return
		}
		sig := c.GetHeader("X-Twilio-Signature")
		fullURL := h.cfg.PublicURL + c.Request.URL.RequestURI()
		if sig == "" || !h.cfg.Signature.Validate(fullURL, c.Request.PostForm, sig) {
			h.count(source, "rejected", 1)
			c.JSON(http.StatusForbidden, gin.H{"error": "missing or invalid X-Twilio-Signature"})
			return
		}
		next(c, c.Request.PostForm)
	}
}

// checkSIDs answers 400, recording nothing, unless every SID in the signed
// form is well formed and AccountSid is ours (see twilio.CheckSIDs: a moved
// key/value boundary keeps the signature valid, but not a SID's shape).
func (h *Handlers) checkSIDs(c *gin.Context, source string, form url.Values, prefixes map[string][]string, required ...string) bool {
	err := twilio.CheckSIDs(form, h.cfg.AccountSID, prefixes, required...)
	if err != nil {
		h.count(source, "rejected", 1)
		h.log.Warn("signed webhook refused", "source", source, "err", err)
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return false
	}
	return true
}

// checkNumbers answers 400 unless each named parameter is absent or a plain
// non-negative decimal integer ("12", not "+12", "1e3", " 12" or "12abc").
func (h *Handlers) checkNumbers(c *gin.Context, source string, form url.Values, names ...string) bool {
	for _, k := range names {
		if v, ok := form[k]; ok && len(v) > 0 {
			if _, err := StrictUint(v[0]); err != nil {
				h.count(source, "rejected", 1)
				c.JSON(http.StatusBadRequest, gin.H{"error": k + " must be a whole number"})
				return false
			}
		}
	}
	return true
}

// StrictUint parses a non-negative decimal integer of at most 18 digits,
// with no sign, space, exponent or leading junk.
func StrictUint(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, errors.New("not a whole number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a whole number")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// SIDs the TaskRouter and messaging handlers read, with their prefixes
// (Twilio's OpenAPI: EventSid EV, TaskSid WT, WorkerSid WK, WorkspaceSid WS,
// MessageSid SM or MM, MessagingServiceSid MG, CallSid CA).
var (
	taskRouterSIDs = map[string][]string{
		"Sid": {"EV"}, "EventSid": {"EV"}, "TaskSid": {"WT"}, "WorkspaceSid": {"WS"}, "WorkerSid": {"WK"},
		"WorkflowSid": {"WW"}, "TaskQueueSid": {"WQ"}, "ReservationSid": {"WR"}, "TaskChannelSid": {"TC"},
	}
	callSIDs    = map[string][]string{"CallSid": {"CA"}, "ParentCallSid": {"CA"}, "ApplicationSid": {"AP"}}
	messageSIDs = map[string][]string{
		"MessageSid": {"SM", "MM"}, "SmsSid": {"SM", "MM"}, "SmsMessageSid": {"SM", "MM"}, "MessagingServiceSid": {"MG"},
		"CallSid": {"CA"},
	}
)

// voice checks a reminder call's SIDs (CallSid, ours AccountSid) before
// its TwiML.
func (h *Handlers) voice(next func(*gin.Context, url.Values)) func(*gin.Context, url.Values) {
	return func(c *gin.Context, form url.Values) {
		if !h.checkSIDs(c, "voice", form, callSIDs, "CallSid") {
			return
		}
		next(c, form)
	}
}

// enqueueItem records one event; on failure it answers 503 (Twilio does
// not retry it: the reconciler finds it later in Twilio's own records).
func (h *Handlers) enqueueItem(c *gin.Context, source string, q Enqueuer, item queue.Item) bool {
	fresh, err := q.Enqueue(c.Request.Context(), item)
	if err != nil {
		h.log.Error("event not recorded", "source", source, "key", item.Key, "err", err)
		h.count(source, "unavailable", 1)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily unable to record the event; retry"})
		return false
	}
	if fresh[0] {
		h.count(source, "accepted", 1)
	} else {
		h.count(source, "duplicate", 1)
	}
	return true
}

// emptyTwiML tells Twilio the bridge sends no reply of its own.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

func (h *Handlers) taskRouter(c *gin.Context, form url.Values) {
	const source = "taskrouter"
	// The event's own Sid is the dedupe key, so it is required; the unsigned
	// I-Twilio-Idempotency-Token never is one.
	if !h.checkSIDs(c, source, form, taskRouterSIDs, "Sid") ||
		!h.checkNumbers(c, source, form, "TaskAge", "TaskPriority", "Timestamp", "TimestampMs") {
		return
	}
	item, ok, err := TaskRouterItem(form)
	switch {
	case err != nil:
		h.count(source, "rejected", 1)
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	case !ok:
		h.count(source, "ignored", 1)
		c.Status(http.StatusOK)
		return
	}
	if h.enqueueItem(c, source, h.cfg.Writeback, item) {
		c.Status(http.StatusOK)
	}
}

// SMS keywords, whole body, any case (Twilio's defaults).
var (
	stopWords  = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true, "REVOKE": true, "OPTOUT": true}
	startWords = map[string]bool{"START": true, "YES": true, "UNSTOP": true}
)

// OptOutType classifies an inbound SMS: STOP, START, HELP or "" for a reply.
func OptOutType(body, advanced string) string {
	if t := strings.ToUpper(strings.TrimSpace(advanced)); t != "" {
		return t
	}
	word := strings.ToUpper(strings.TrimSpace(body))
	switch {
	case stopWords[word]:
		return "STOP"
	case startWords[word]:
		return "START"
	case word == "HELP" || word == "INFO":
		return "HELP"
	}
	return ""
}

func (h *Handlers) sms(c *gin.Context, form url.Values) {
	const source = "sms"
	if !h.checkSIDs(c, source, form, messageSIDs, "MessageSid") ||
		!h.checkNumbers(c, source, form, "NumMedia", "NumSegments") {
		return
	}
	dest, item, err := SMSItem(form, h.cfg.Now().UTC(), time.Time{})
	if err != nil {
		h.count(source, "rejected", 1)
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	recorded := true
	switch dest {
	case event.QueueMonitoring:
		recorded = h.enqueueItem(c, source, h.cfg.Monitoring, item)
	case event.QueueWriteback:
		recorded = h.enqueueItem(c, source, h.cfg.Writeback, item)
	default:
		// Twilio answers HELP itself; nothing to record.
		h.count(source, "ignored", 1)
	}
	if recorded {
		c.Data(http.StatusOK, "text/xml; charset=utf-8", []byte(emptyTwiML))
	}
}

// status handles a message status callback (every message the bridge sends
// names PathStatus as its StatusCallback).
func (h *Handlers) status(c *gin.Context, form url.Values) {
	const source = "status"
	if !h.checkSIDs(c, source, form, messageSIDs, "MessageSid") || !h.checkNumbers(c, source, form, "ErrorCode") {
		return
	}
	items, err := StatusItems(form, h.cfg.Now().UTC())
	if err != nil {
		h.count(source, "rejected", 1)
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	if len(items) == 0 {
		h.count(source, "ignored", 1)
		c.Status(http.StatusOK)
		return
	}
	queues := map[string]Enqueuer{event.QueueMonitoring: h.cfg.Monitoring, event.QueueWriteback: h.cfg.Writeback}
	for name, item := range items {
		if !h.enqueueItem(c, source, queues[name], item) {
			return
		}
	}
	c.Status(http.StatusOK)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}

func unixTime(ms, s string) time.Time {
	if n := atoi(ms); n > 0 {
		return time.UnixMilli(n).UTC()
	}
	if n := atoi(s); n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}
