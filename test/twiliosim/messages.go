package twiliosim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Message is the sim's record of a Message resource.
type Message struct {
	SID, To, From, Body, MessagingServiceSID string
	Status                                   string // scheduled, queued, sent, failed, canceled
	SendAt                                   time.Time
	DateCreated                              time.Time
	ErrorCode                                int
	// Direction is "inbound" for messages a contact sent (ReceiveSMS);
	// empty means "outbound-api".
	Direction string
	// DateSent is when Twilio sent (or, inbound, received) it; zero until then.
	DateSent time.Time
	// StatusCallback is the URL given on create; status changes post there.
	StatusCallback string
	// ContentSid and ContentVariables of a Content template send.
	ContentSid, ContentVariables string
}

var contentSIDRe = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)

// Scheduling window: "more than 5 minutes (300 seconds) from the request
// time and no more than 35 days in the future" (Twilio errors 35114, 35115
// and 35117, all "Scheduling does not support this timestamp").
const (
	minSchedule = 5 * time.Minute
	maxSchedule = 35 * 24 * time.Hour
)

// windowCodes are the codes Twilio answers alike for a SendAt outside the
// window; the sim takes them in turn so a client must handle each.
var windowCodes = []int{35114, 35115, 35117}

func (s *Server) messageJSON(m *Message) map[string]any {
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	var errCode, dateSent any
	if m.ErrorCode != 0 {
		errCode = m.ErrorCode
	}
	if !m.DateSent.IsZero() {
		dateSent = m.DateSent.Format(time.RFC1123Z)
	}
	direction := m.Direction
	if direction == "" {
		direction = "outbound-api"
	}
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", s.AccountSID, m.SID)
	return map[string]any{
		"sid":                   m.SID,
		"account_sid":           s.AccountSID,
		"api_version":           "2010-04-01",
		"to":                    m.To,
		"from":                  nullable(m.From),
		"body":                  m.Body,
		"status":                m.Status,
		"messaging_service_sid": nullable(m.MessagingServiceSID),
		"direction":             direction,
		"num_segments":          "1",
		"num_media":             "0",
		"price":                 nil,
		"price_unit":            "USD",
		"error_code":            errCode,
		"error_message":         nil,
		"date_created":          m.DateCreated.Format(time.RFC1123Z),
		"date_updated":          m.DateCreated.Format(time.RFC1123Z),
		"date_sent":             dateSent,
		"uri":                   uri,
		"subresource_uris":      map[string]string{"media": strings.TrimSuffix(uri, ".json") + "/Media.json"},
	}
}

func (s *Server) checkAccount(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("ac") != s.AccountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return false
	}
	return true
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	if !s.checkAccount(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, 400, 20001, "Invalid form body")
		return
	}
	f := r.PostForm
	scheduled := f.Get("ScheduleType") != ""
	op := OpSendMessage
	if scheduled {
		op = OpScheduleMessage
	}
	if !s.begin(w, r, op) {
		return
	}
	m := &Message{SID: newSID("SM"), To: f.Get("To"), From: f.Get("From"), Body: f.Get("Body"),
		MessagingServiceSID: f.Get("MessagingServiceSid"), DateCreated: s.now(), StatusCallback: f.Get("StatusCallback")}
	now := s.now()
	switch {
	case m.StatusCallback != "" && !absoluteURL(m.StatusCallback):
		// twilio-oai api_v2010 CreateMessage: StatusCallback is a URI;
		// Twilio refuses a malformed one with 21609.
		writeError(w, 400, 21609, "The StatusCallback URL "+m.StatusCallback+" is not a valid URL.")
		return
	case m.To == "":
		writeError(w, 400, 21604, "A 'To' phone number is required.")
		return
	case m.Body == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		writeError(w, 400, 21602, "Message body is required.")
		return
	case m.From == "" && m.MessagingServiceSID == "":
		writeError(w, 400, 21603, "A 'From' phone number is required.")
		return
	case m.MessagingServiceSID != "" && m.MessagingServiceSID != s.MessagingServiceSID:
		writeError(w, 400, 21701, "The Messaging Service Sid "+m.MessagingServiceSID+" is invalid.")
		return
	}
	if scheduled {
		if f.Get("ScheduleType") != "fixed" {
			writeError(w, 400, 35126, "The ScheduleType value provided is not supported for this channel")
			return
		}
		if m.MessagingServiceSID == "" {
			writeError(w, 400, 35118, "MessagingServiceSid is required to schedule a message.")
			return
		}
		sa := f.Get("SendAt")
		if sa == "" {
			writeError(w, 400, 35111, "You must indicate SendAt timestamp if ScheduleType is 'fixed'.")
			return
		}
		at, err := time.Parse(time.RFC3339, sa)
		if err != nil || at.Sub(now) < minSchedule || at.Sub(now) > maxSchedule {
			s.mu.Lock()
			code := windowCodes[s.windowRefusals%len(windowCodes)]
			s.windowRefusals++
			s.mu.Unlock()
			writeError(w, 400, code, "SendAt time must be between 300 seconds and 35 days (3024000 seconds) in the future, inclusive.")
			return
		}
		m.SendAt = at.UTC()
		m.Status = "scheduled"
	} else {
		m.Status = "queued"
		if m.MessagingServiceSID != "" {
			m.Status = "accepted"
		}
	}
	if cs := f.Get("ContentSid"); cs != "" {
		// Content API: a template SID is HX + 32 hex; ContentVariables is a
		// JSON object of the numbered placeholders.
		var vars map[string]string
		if !contentSIDRe.MatchString(cs) {
			writeError(w, 400, 21656, "The ContentSid is Invalid.")
			return
		}
		if cv := f.Get("ContentVariables"); cv != "" && json.Unmarshal([]byte(cv), &vars) != nil {
			writeError(w, 400, 21656, "The ContentVariables Parameter is invalid.")
			return
		}
		m.ContentSid, m.ContentVariables = cs, f.Get("ContentVariables")
	} else if strings.HasPrefix(m.To, "whatsapp:") && !scheduled {
		// WhatsApp refuses free text outside the 24-hour customer service
		// window: the create succeeds and the message fails with 63016
		// (Twilio error 63016, "outside the allowed window").
		m.Status, m.ErrorCode = "failed", 63016
	}
	s.mu.Lock()
	if s.optedOut[strings.TrimPrefix(m.To, "whatsapp:")] {
		s.mu.Unlock()
		writeError(w, 400, 21610, "Attempt to send to unsubscribed recipient")
		return
	}
	s.msgs[m.SID] = m
	s.msgOrder = append(s.msgOrder, m.SID)
	body := s.messageJSON(m)
	s.mu.Unlock()
	s.finish(r, op)
	writeJSON(w, http.StatusCreated, body)
}

func (s *Server) fetchMessage(w http.ResponseWriter, r *http.Request) {
	if !s.checkAccount(w, r) || !s.begin(w, r, OpFetchMessage) {
		return
	}
	s.mu.Lock()
	m, ok := s.msgs[strings.TrimSuffix(r.PathValue("file"), ".json")]
	var body map[string]any
	if ok {
		body = s.messageJSON(m)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	s.finish(r, OpFetchMessage)
	writeJSON(w, http.StatusOK, body)
}

// listMessages is Twilio's Message list: newest first, filtered by To and
// From, paged by Page and PageSize (default 50, at most 1000), with the
// 2010-04-01 API's paging fields (relative URIs). DateSent, DateSent< and
// DateSent> filter by date only (twilio-oai api_v2010 ListMessage: "Accepts
// GMT dates in the following formats: YYYY-MM-DD …"), whatever time of day
// the value carries; a message not yet sent has no date_sent and matches none.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	if !s.checkAccount(w, r) || !s.begin(w, r, OpListMessages) {
		return
	}
	q := r.URL.Query()
	pageSize, err := strconv.Atoi(q.Get("PageSize"))
	if err != nil || pageSize <= 0 {
		pageSize = 50
	}
	pageSize = min(pageSize, 1000)
	page := 0
	if p := q.Get("Page"); p != "" {
		if page, err = strconv.Atoi(p); err != nil || page < 0 {
			writeError(w, 400, 20001, "Invalid Page")
			return
		}
	}
	var onDay, fromDay, toDay string
	for k, vs := range q {
		if !strings.HasPrefix(k, "DateSent") {
			continue
		}
		day, ok := sentDay(vs[0])
		if !ok {
			writeError(w, 400, 20001, "Invalid "+k)
			return
		}
		switch strings.TrimSuffix(k, "=") {
		case "DateSent":
			onDay = day
		case "DateSent>":
			fromDay = day
		case "DateSent<":
			toDay = day
		}
	}
	dateFilter := onDay != "" || fromDay != "" || toDay != ""
	daySent := func(m *Message) bool {
		if m.DateSent.IsZero() {
			return false
		}
		d := m.DateSent.UTC().Format(time.DateOnly)
		return (onDay == "" || d == onDay) && (fromDay == "" || d >= fromDay) && (toDay == "" || d <= toDay)
	}

	s.mu.Lock()
	var matched []*Message
	for i := len(s.msgOrder) - 1; i >= 0; i-- {
		m := s.msgs[s.msgOrder[i]]
		if (q.Has("To") && q.Get("To") != m.To) || (q.Has("From") && q.Get("From") != m.From) || (dateFilter && !daySent(m)) {
			continue
		}
		matched = append(matched, m)
	}
	out := []map[string]any{}
	start := page * pageSize
	for i := start; i < len(matched) && i < start+pageSize; i++ {
		out = append(out, s.messageJSON(matched[i]))
	}
	s.mu.Unlock()

	pageURI := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "Page" && k != "PageSize" && k != "PageToken" {
				v[k] = vs
			}
		}
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		return r.URL.Path + "?" + v.Encode()
	}
	var next, prev any
	if start+pageSize < len(matched) {
		next = pageURI(page + 1)
	}
	if page > 0 {
		prev = pageURI(page - 1)
	}
	s.finish(r, OpListMessages)
	writeJSON(w, http.StatusOK, map[string]any{
		"messages": out, "page": page, "page_size": pageSize,
		"start": start, "end": start + max(len(out)-1, 0),
		"first_page_uri": pageURI(0), "uri": pageURI(page),
		"next_page_uri": next, "previous_page_uri": prev,
	})
}

func (s *Server) updateMessage(w http.ResponseWriter, r *http.Request) {
	if !s.checkAccount(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, 400, 20001, "Invalid form body")
		return
	}
	f := r.PostForm
	op := OpUpdateMessage
	if f.Get("Status") == "canceled" {
		op = OpCancelMessage
	}
	if !s.begin(w, r, op) {
		return
	}
	s.mu.Lock()
	m, ok := s.msgs[strings.TrimSuffix(r.PathValue("file"), ".json")]
	if !ok {
		s.mu.Unlock()
		writeError(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if st := f.Get("Status"); st != "" {
		if st != "canceled" {
			s.mu.Unlock()
			writeError(w, 400, 20001, "Status can only be updated to canceled")
			return
		}
		if m.Status != "scheduled" {
			s.mu.Unlock()
			writeError(w, 400, 30409, "Message "+m.SID+" cannot be canceled: its status is "+m.Status+", not scheduled")
			return
		}
		m.Status = "canceled"
	}
	if b, has := f["Body"]; has && b[0] == "" {
		m.Body = "" // redaction
	}
	body := s.messageJSON(m)
	s.mu.Unlock()
	s.finish(r, op)
	writeJSON(w, http.StatusOK, body)
}

// Messages returns copies of all messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.msgOrder))
	for _, sid := range s.msgOrder {
		out = append(out, *s.msgs[sid])
	}
	return out
}

// Scheduled returns the messages still waiting to be sent.
func (s *Server) Scheduled() []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Status == "scheduled" {
			out = append(out, m)
		}
	}
	return out
}

// OptOut records that number replied STOP: sending to it fails with 21610.
func (s *Server) OptOut(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optedOut[number] = true
}

// OptIn undoes OptOut (the number replied START).
func (s *Server) OptIn(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.optedOut, number)
}

// SendDue sends the scheduled messages whose SendAt has come by the sim's
// clock (failed, code 21610, for opted-out numbers) and returns their sids.
// Twilio does not cancel scheduled messages on STOP; neither does the sim.
// Each status change is posted to the message's StatusCallback (see
// deliverStatus).
func (s *Server) SendDue() []string {
	s.mu.Lock()
	now := s.now()
	var sent []string
	var changed []Message
	for _, sid := range s.msgOrder {
		m := s.msgs[sid]
		if m.Status != "scheduled" || m.SendAt.After(now) {
			continue
		}
		if s.optedOut[m.To] {
			m.Status, m.ErrorCode = "failed", 21610
		} else {
			m.Status, m.DateSent = "sent", now
		}
		sent = append(sent, sid)
		changed = append(changed, *m)
	}
	s.mu.Unlock()
	for _, m := range changed {
		_ = s.deliverStatus(m)
	}
	return sent
}

// FailMessage makes a message fail with a Twilio error code (30003
// unreachable, 30005 unknown number, 30006 landline, 21610 unsubscribed…),
// as the carrier would report it, and posts the status callback. status is
// "failed" or "undelivered".
func (s *Server) FailMessage(sid, status string, code int) error {
	if status != "failed" && status != "undelivered" {
		return fmt.Errorf("twiliosim: FailMessage status %q", status)
	}
	s.mu.Lock()
	m, ok := s.msgs[sid]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("twiliosim: no message %s", sid)
	}
	m.Status, m.ErrorCode = status, code
	if m.DateSent.IsZero() {
		m.DateSent = s.now()
	}
	snap := *m
	s.mu.Unlock()
	return s.deliverStatus(snap)
}

// sentDay reads a DateSent filter value: YYYY-MM-DD, or an RFC 3339 time
// (as twilio-go sends it) of which only the date counts.
func sentDay(v string) (string, bool) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.Format(time.DateOnly), true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC().Format(time.DateOnly), true
	}
	return "", false
}

func absoluteURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
