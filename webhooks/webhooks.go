// Package webhooks turns inbound vendor HTTP into queued events and answers
// the vendor. It verifies what came in (org, token, Twilio signature), records
// every event durably and deduplicated, and only then acknowledges. Business
// flows live in flow/…, never here.
package webhooks

import (
	"bytes"
	"context"
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

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
)

// Enqueuer records items durably; a false result means "seen before".
type Enqueuer interface {
	Enqueue(ctx context.Context, items ...redis.Item) ([]bool, error)
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
	OutboundToken string // BRIDGE_SF_OUTBOUND_TOKEN, optional
	PublicURL     string // BRIDGE_PUBLIC_URL, the base Twilio signs against

	Records    Enqueuer // record sync
	Monitoring Enqueuer // reminders and STOP/START
	Writeback  Enqueuer // outcomes and replies

	Mappings  Mappings
	Signature SignatureValidator

	MaxBody    int64 // bytes; default 2 MiB
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
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
	case cfg.PublicURL == "":
		return nil, errors.New("webhooks: PublicURL is required")
	case cfg.Records == nil || cfg.Monitoring == nil || cfg.Writeback == nil:
		return nil, errors.New("webhooks: Records, Monitoring and Writeback queues are required")
	case cfg.Mappings == nil || cfg.Signature == nil:
		return nil, errors.New("webhooks: Mappings and Signature are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 2 << 20
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
)

// Register mounts the webhooks on r.
func (h *Handlers) Register(r gin.IRouter) {
	r.POST(PathOutbound, h.outbound)
	r.POST(PathTaskRouter, h.twilioSigned("taskrouter", h.taskRouter))
	r.POST(PathSMS, h.twilioSigned("sms", h.sms))
}

func (h *Handlers) count(source, result string, n int) {
	h.intake.WithLabelValues(source, result).Add(float64(n))
}

// outbound handles a Salesforce Outbound Message.
func (h *Handlers) outbound(c *gin.Context) {
	const source = "salesforce"
	fault := func(status int, code, msg string) {
		h.count(source, resultFor(status), 1)
		c.Data(status, "text/xml; charset=utf-8", []byte(soapFault(code, msg)))
	}
	if h.cfg.OutboundToken != "" {
		got := c.Query("token")
		if subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.OutboundToken)) != 1 {
			fault(http.StatusForbidden, "Client", "invalid token")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBody))
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

	protected := h.cfg.Mappings.Current().Protected()
	now := h.cfg.Now().UTC()
	records := make([]redis.Item, 0, len(msg.Notifications))
	monitoring := make([]redis.Item, 0, len(msg.Notifications))
	deleted := 0
	for _, n := range msg.Notifications {
		if n.Deleted {
			// The record is gone: nothing to sync, but refusing would make
			// Salesforce retry the whole message for 24 hours and then drop it.
			deleted++
			continue
		}
		rec := event.Record{
			NotificationID: n.ID,
			Object:         n.Object,
			RecordID:       n.Fields["Id"].(string),
			Fields:         withoutProtected(n.Fields, protected),
			ReceivedAt:     now,
			Source:         "outbound",
		}
		records = append(records, redis.Item{Key: n.ID, Payload: mustJSON(rec)})
		monitoring = append(monitoring, redis.Item{Key: n.ID, Payload: mustJSON(event.Monitoring{Record: &rec})})
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
// before the handler sees anything; a bad one changes nothing.
func (h *Handlers) twilioSigned(source string, next func(*gin.Context, url.Values)) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBody)
		if err := c.Request.ParseForm(); err != nil {
			h.count(source, "rejected", 1)
			c.JSON(http.StatusBadRequest, gin.H{"error": "body is not a form or is too large"})
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

// enqueueOne records one event; on failure it answers 503 so Twilio retries.
func (h *Handlers) enqueueOne(c *gin.Context, source string, q Enqueuer, key string, payload any) bool {
	fresh, err := q.Enqueue(c.Request.Context(), redis.Item{Key: key, Payload: mustJSON(payload)})
	if err != nil {
		h.log.Error("event not recorded", "source", source, "key", key, "err", err)
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

// Task events that start a writeback.
var writebackEvents = map[string]bool{"task.completed": true, "task.canceled": true, "task.wrapup": true}

func (h *Handlers) taskRouter(c *gin.Context, form url.Values) {
	const source = "taskrouter"
	if !writebackEvents[form.Get("EventType")] {
		h.count(source, "ignored", 1)
		c.Status(http.StatusOK)
		return
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(form.Get("TaskAttributes")), &attrs); err != nil {
		h.count(source, "ignored", 1)
		c.Status(http.StatusOK)
		return
	}
	crm, _ := attrs["crm"].(map[string]any)
	if id, _ := crm["record_id"].(string); id == "" {
		h.count(source, "ignored", 1)
		c.Status(http.StatusOK)
		return
	}
	ev := event.Task{
		EventSID:         firstNonEmpty(form.Get("EventSid"), form.Get("Sid")),
		EventType:        form.Get("EventType"),
		TaskSID:          form.Get("TaskSid"),
		TaskAge:          atoi(form.Get("TaskAge")),
		Priority:         atoi(form.Get("TaskPriority")),
		AssignmentStatus: form.Get("TaskAssignmentStatus"),
		Reason:           firstNonEmpty(form.Get("TaskCompletedReason"), form.Get("TaskCanceledReason")),
		QueueName:        form.Get("TaskQueueName"),
		Channel:          form.Get("TaskChannelUniqueName"),
		WorkerSID:        form.Get("WorkerSid"),
		WorkerName:       form.Get("WorkerName"),
		Attributes:       attrs,
		Timestamp:        unixTime(form.Get("TimestampMs"), form.Get("Timestamp")),
	}
	if ev.TaskSID == "" {
		h.count(source, "rejected", 1)
		c.JSON(http.StatusBadRequest, gin.H{"error": "TaskSid is missing"})
		return
	}
	if !ev.Writes() {
		// A canceled task nobody worked (timed out, or canceled by the bridge).
		h.count(source, "ignored", 1)
		c.Status(http.StatusOK)
		return
	}
	key := firstNonEmpty(ev.EventSID, c.GetHeader("I-Twilio-Idempotency-Token"), ev.EventType+":"+ev.TaskSID+":"+form.Get("Timestamp"))
	if h.enqueueOne(c, source, h.cfg.Writeback, key, event.Writeback{Task: &ev}) {
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
	msg := event.SMS{
		MessageSID: firstNonEmpty(form.Get("MessageSid"), form.Get("SmsSid")),
		From:       form.Get("From"),
		To:         form.Get("To"),
		Body:       form.Get("Body"),
		ReceivedAt: h.cfg.Now().UTC(),
	}
	if msg.MessageSID == "" || msg.From == "" {
		h.count(source, "rejected", 1)
		c.JSON(http.StatusBadRequest, gin.H{"error": "MessageSid and From are required"})
		return
	}
	msg.OptOutType = OptOutType(msg.Body, form.Get("OptOutType"))
	recorded := true
	switch msg.OptOutType {
	case "STOP", "START":
		recorded = h.enqueueOne(c, source, h.cfg.Monitoring, msg.MessageSID, event.Monitoring{SMS: &msg})
	case "HELP":
		// Twilio answers HELP itself; nothing to record.
		h.count(source, "ignored", 1)
	default:
		recorded = h.enqueueOne(c, source, h.cfg.Writeback, msg.MessageSID, event.Writeback{Reply: &msg})
	}
	if recorded {
		c.Data(http.StatusOK, "text/xml; charset=utf-8", []byte(emptyTwiML))
	}
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
