package twiliosim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// What Twilio keeps of what it sent: TaskRouter's Events resource and the
// Messages list with inbound messages. A webhook the bridge refused (or
// never answered) is still there, which is what the bridge's reconciler
// reads.

// OpListEvents is the Events list's operation name.
const OpListEvents = "list_events"

// eventRetention: "TaskRouter logs Events … it keeps that data for 30 days"
// (docs/taskrouter/api/event).
const eventRetention = 30 * 24 * time.Hour

type loggedEvent struct {
	at   time.Time
	form url.Values
}

// deliver posts a signed webhook as Twilio does. A 5xx (or any answer) is
// not retried: Twilio retries a webhook only when the connection fails,
// once, within 15 s (docs: "Webhooks connection overrides", #rc default 1,
// retried on connection failures only), and TaskRouter's event callback
// documents no retry at all (retryOnConnect false).
func (s *Server) deliver(target string, form url.Values, idempotencyToken string, retryOnConnect bool) (int, error) {
	attempts := 1
	if retryOnConnect {
		attempts = 2
	}
	var err error
	for range attempts {
		s.mu.Lock()
		s.deliveries++
		s.mu.Unlock()
		var resp *http.Response
		resp, err = s.post(context.Background(), s.opts.HTTPClient, target, form, idempotencyToken)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode, nil
		}
	}
	return 0, err
}

// DeliveryAttempts counts every webhook POST the sim made (event
// callbacks, inbound SMS, status callbacks), retries included.
func (s *Server) DeliveryAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries
}

func deliveryError(what string, status int, err error) error {
	if err != nil {
		return fmt.Errorf("twiliosim: deliver %s: %w", what, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("twiliosim: deliver %s: answered %d", what, status)
	}
	return nil
}

// logEvent keeps an event as TaskRouter does, whether or not its callback
// is ever delivered.
func (s *Server) logEvent(form url.Values) {
	at := s.now()
	if ms, err := strconv.ParseInt(form.Get("TimestampMs"), 10, 64); err == nil {
		at = time.UnixMilli(ms).UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, loggedEvent{at: at, form: cloneValues(form)})
}

// Events returns the logged events' forms, oldest first.
func (s *Server) Events() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]url.Values, 0, len(s.events))
	for _, e := range s.events {
		out = append(out, cloneValues(e.form))
	}
	return out
}

// Envelope fields of the event callback, and the Event resource's names
// for them; every other callback parameter is in event_data, snake_case.
var eventEnvelope = map[string]string{
	"AccountSid": "account_sid", "WorkspaceSid": "workspace_sid", "EventType": "event_type",
	"EventDescription": "description", "ResourceType": "resource_type", "ResourceSid": "resource_sid",
	"Sid": "sid", "Timestamp": "", "TimestampMs": "",
}

func (s *Server) eventJSON(r *http.Request, e loggedEvent) map[string]any {
	data := map[string]any{}
	out := map[string]any{
		"actor_sid": nil, "actor_type": nil, "actor_url": nil, "source": "twilio", "source_ip_address": nil,
		"event_date": e.at.Format(time.RFC3339), "event_date_ms": e.at.UnixMilli(),
	}
	for k := range e.form {
		if name, ok := eventEnvelope[k]; ok {
			if name != "" {
				out[name] = e.form.Get(k)
			}
			continue
		}
		data[snake(k)] = e.form.Get(k)
	}
	out["event_data"] = data
	base := baseURL(r) + "/v1/Workspaces/" + s.WorkspaceSID
	out["url"] = base + "/Events/" + e.form.Get("Sid")
	out["resource_url"] = base + "/Tasks/" + e.form.Get("ResourceSid")
	return out
}

// listEvents is TaskRouter's Events list (twilio-oai taskrouter_v1
// ListEvent): StartDate/EndDate (ISO 8601; without StartDate, Minutes,
// default 15, counts back from now), EventType and TaskSid filters, newest
// first, PageSize default 50 and at most 1000, paged by the
// meta.next_page_url twilio-go follows. The docs warn "Pagination is not
// supported under this resource. Please avoid usage of the page query
// parameter": a Page without a PageToken is refused.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	if !s.checkWorkspace(w, r) || !s.begin(w, r, OpListEvents) {
		return
	}
	q := r.URL.Query()
	now := s.now()
	pageSize, err := strconv.Atoi(q.Get("PageSize"))
	if err != nil || pageSize <= 0 {
		pageSize = 50
	}
	pageSize = min(pageSize, 1000)
	if q.Has("Page") && !q.Has("PageToken") {
		writeError(w, 400, 20001, "Pagination by Page is not supported for Events; follow meta.next_page_url")
		return
	}
	end := now
	if v := q.Get("EndDate"); v != "" {
		if end, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, 400, 20001, "Invalid EndDate")
			return
		}
	}
	start := now.Add(-15 * time.Minute)
	if v := q.Get("Minutes"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m <= 0 {
			writeError(w, 400, 20001, "Invalid Minutes")
			return
		}
		start = now.Add(-time.Duration(m) * time.Minute)
	}
	if v := q.Get("StartDate"); v != "" {
		if start, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, 400, 20001, "Invalid StartDate")
			return
		}
	}
	offset, page := 0, 0
	if tok := q.Get("PageToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "PT"))
		if err != nil || n < 0 || !strings.HasPrefix(tok, "PT") {
			writeError(w, 400, 20001, "Invalid PageToken")
			return
		}
		offset = n
		page, _ = strconv.Atoi(q.Get("Page"))
	}

	s.mu.Lock()
	kept := s.events[:0]
	for _, e := range s.events {
		if now.Sub(e.at) <= eventRetention {
			kept = append(kept, e)
		}
	}
	s.events = kept
	var matched []loggedEvent
	for i := len(s.events) - 1; i >= 0; i-- {
		e := s.events[i]
		if e.at.Before(start) || e.at.After(end) ||
			(q.Has("EventType") && q.Get("EventType") != e.form.Get("EventType")) ||
			(q.Has("TaskSid") && q.Get("TaskSid") != e.form.Get("TaskSid")) {
			continue
		}
		matched = append(matched, e)
	}
	sort.SliceStable(matched, func(i, j int) bool { return matched[i].at.After(matched[j].at) })
	out := []map[string]any{}
	for i := offset; i < len(matched) && i < offset+pageSize; i++ {
		out = append(out, s.eventJSON(r, matched[i]))
	}
	s.mu.Unlock()

	pageURL := func(p, off int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "Page" && k != "PageToken" && k != "PageSize" {
				v[k] = vs
			}
		}
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		if off > 0 {
			v.Set("PageToken", "PT"+strconv.Itoa(off))
		}
		return baseURL(r) + r.URL.Path + "?" + v.Encode()
	}
	var next, prev any
	if offset+pageSize < len(matched) {
		next = pageURL(page+1, offset+pageSize)
	}
	if page > 0 {
		prev = pageURL(page-1, max(offset-pageSize, 0))
	}
	s.finish(r, OpListEvents)
	writeJSON(w, http.StatusOK, map[string]any{
		"events": out,
		"meta": map[string]any{
			"first_page_url": pageURL(0, 0), "key": "events", "next_page_url": next, "page": page,
			"page_size": pageSize, "previous_page_url": prev, "url": pageURL(page, offset),
		},
	})
}

// ReceiveSMS is a contact texting the account: Twilio records the inbound
// message (Messages list, direction "inbound", date_sent now), applies its
// default opt-out keywords (STOP blocks further messages to the number with
// 21610 until START) and posts the webhook to the SMS URL, if one is set.
// The message stays in the list whether or not the bridge took it.
func (s *Server) ReceiveSMS(from, to, body, optOutType string) (string, error) {
	form := s.InboundSMSForm(from, to, body, optOutType)
	now := s.now()
	m := &Message{SID: form.Get("MessageSid"), From: from, To: to, Body: body, MessagingServiceSID: s.MessagingServiceSID,
		Status: "received", Direction: "inbound", DateCreated: now, DateSent: now}
	kind := strings.ToUpper(strings.TrimSpace(optOutType))
	if kind == "" {
		kind = strings.ToUpper(strings.TrimSpace(body))
	}
	s.mu.Lock()
	s.msgs[m.SID] = m
	s.msgOrder = append(s.msgOrder, m.SID)
	switch kind {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT":
		s.optedOut[from] = true
	case "START", "YES", "UNSTOP":
		delete(s.optedOut, from)
	}
	target := s.opts.SMSWebhookURL
	s.mu.Unlock()
	if target == "" {
		return m.SID, nil
	}
	status, err := s.deliver(target, form, "", true)
	return m.SID, deliveryError("inbound SMS", status, err)
}

// SetSMSWebhookURL sets the messaging service's inbound URL.
func (s *Server) SetSMSWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.SMSWebhookURL = u
}

// deliverStatus posts a message's status callback (docs: messaging "Track
// the Message Status of Outbound Messages": MessageSid, MessageStatus,
// ErrorCode when failed or undelivered, To, From, AccountSid …).
func (s *Server) deliverStatus(m Message) error {
	if m.StatusCallback == "" {
		return nil
	}
	v := url.Values{}
	v.Set("AccountSid", s.AccountSID)
	v.Set("ApiVersion", "2010-04-01")
	v.Set("MessageSid", m.SID)
	v.Set("SmsSid", m.SID)
	v.Set("MessageStatus", m.Status)
	v.Set("SmsStatus", m.Status)
	v.Set("To", m.To)
	if m.From != "" {
		v.Set("From", m.From)
	}
	if m.MessagingServiceSID != "" {
		v.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if m.ErrorCode != 0 {
		v.Set("ErrorCode", strconv.Itoa(m.ErrorCode))
	}
	status, err := s.deliver(m.StatusCallback, v, "", true)
	return deliveryError("status callback", status, err)
}

func snake(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
