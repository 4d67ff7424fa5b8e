package twiliosim

import (
	"fmt"
	"net/http"
	"net/url"
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
}

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
	var errCode any
	if m.ErrorCode != 0 {
		errCode = m.ErrorCode
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
		"direction":             "outbound-api",
		"num_segments":          "1",
		"num_media":             "0",
		"price":                 nil,
		"price_unit":            "USD",
		"error_code":            errCode,
		"error_message":         nil,
		"date_created":          m.DateCreated.Format(time.RFC1123Z),
		"date_updated":          m.DateCreated.Format(time.RFC1123Z),
		"date_sent":             nil,
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
		MessagingServiceSID: f.Get("MessagingServiceSid"), DateCreated: s.now()}
	now := s.now()
	switch {
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
	s.mu.Lock()
	if s.optedOut[m.To] {
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
// 2010-04-01 API's paging fields (relative URIs). A DateSent filter matches
// nothing: the sim never records a date_sent.
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
	dateSent := false
	for k := range q {
		dateSent = dateSent || strings.HasPrefix(k, "DateSent")
	}

	s.mu.Lock()
	var matched []*Message
	for i := len(s.msgOrder) - 1; i >= 0; i-- {
		m := s.msgs[s.msgOrder[i]]
		if (q.Has("To") && q.Get("To") != m.To) || (q.Has("From") && q.Get("From") != m.From) || dateSent {
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
func (s *Server) SendDue() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var sent []string
	for _, sid := range s.msgOrder {
		m := s.msgs[sid]
		if m.Status != "scheduled" || m.SendAt.After(now) {
			continue
		}
		if s.optedOut[m.To] {
			m.Status, m.ErrorCode = "failed", 21610
		} else {
			m.Status = "sent"
		}
		sent = append(sent, sid)
	}
	return sent
}
