// Package sendgridsim is a stand-in for SendGrid's v3 Mail Send API, built
// from SendGrid's public reference:
//   - Mail Send: https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
//     (POST /v3/mail/send, JSON body, 202 Accepted with an empty body and
//     an X-Message-Id header; the mail is queued, not yet delivered).
//   - Errors: https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/errors
//     (a failed request answers `{"errors":[{"field","message","help"}]}`;
//     401 for a bad key, 413 for a payload over 20 MB, 429 when rate limited).
//   - Authentication: https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/authentication
//     (`Authorization: Bearer <API key>`).
//
// Like the real service it never retries and has no idempotency key: a
// request sent twice is two emails. It is an ordinary package so tests and
// `bridge demo` can share it.
package sendgridsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// MaxBody is Mail Send's payload limit (20 MB, per the Mail Send reference's
// "Limitations" section).
const MaxBody = 20 << 20

// Options configure a Server; all fields are optional.
type Options struct {
	APIKey string // empty = random, "SG." + hex as SendGrid's keys look
	Now    func() time.Time
}

// Mail is one accepted message as the sim recorded it.
type Mail struct {
	MessageID  string
	From       string
	To         []string
	Subject    string
	Text       string
	CustomArgs map[string]string
	Accepted   time.Time
}

// Server is a running simulator; its methods are safe for concurrent use.
type Server struct {
	URL    string
	APIKey string

	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	mails    []Mail
	calls    int
	failNext []int // statuses to answer the next requests with
	latency  time.Duration
}

// New starts a simulator.
func New(opts Options) *Server {
	s := &Server{APIKey: opts.APIKey, now: opts.Now}
	if s.APIKey == "" {
		s.APIKey = "SG." + randomHex(22)
	}
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v3/mail/send", s.mailSend)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Mails returns the accepted mails, oldest first.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Calls counts requests to Mail Send, accepted or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// FailNext answers the next n requests with status (429, 500, 503, …),
// after reading them and without queuing the mail.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, status)
	}
}

// SetLatency delays every answer; the mail is queued before the delay, so
// a client that gives up early leaves an email sent (as the real service
// would).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

type sgError struct {
	Field   *string `json:"field"`
	Message string  `json:"message"`
	Help    string  `json:"help,omitempty"`
}

func writeErrors(w http.ResponseWriter, status int, errs ...sgError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]sgError{"errors": errs})
}

func field(name string) *string { return &name }

// request is the part of the Mail Send body the sim checks.
type request struct {
	Personalizations []struct {
		To []struct {
			Email string `json:"email"`
			Name  string `json:"name,omitempty"`
		} `json:"to"`
		Subject string `json:"subject,omitempty"`
	} `json:"personalizations"`
	From *struct {
		Email string `json:"email"`
		Name  string `json:"name,omitempty"`
	} `json:"from"`
	Subject string `json:"subject"`
	Content []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"content"`
	TemplateID string            `json:"template_id,omitempty"`
	CustomArgs map[string]string `json:"custom_args,omitempty"`
}

func (s *Server) mailSend(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		writeErrors(w, http.StatusMethodNotAllowed, sgError{Message: "method not allowed"})
		return
	}
	// Authentication reference: a missing or wrong key is a 401 with this text.
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || subtle.ConstantTimeCompare([]byte(got), []byte(s.APIKey)) != 1 {
		writeErrors(w, http.StatusUnauthorized, sgError{Message: "The provided authorization grant is invalid, expired, or revoked"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, sgError{Message: "could not read the request body"})
		return
	}
	if len(body) > MaxBody {
		writeErrors(w, http.StatusRequestEntityTooLarge, sgError{Message: "The JSON payload you have included in your request is too large."})
		return
	}
	s.mu.Lock()
	var fail int
	if len(s.failNext) > 0 {
		fail, s.failNext = s.failNext[0], s.failNext[1:]
	}
	latency := s.latency
	s.mu.Unlock()
	if fail != 0 {
		writeErrors(w, fail, sgError{Message: http.StatusText(fail)})
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeErrors(w, http.StatusBadRequest, sgError{Message: "Bad Request", Help: "The request body must be valid JSON."})
		return
	}
	if errs := validate(req); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	m := Mail{MessageID: randomHex(11), From: req.From.Email, Subject: req.Subject, CustomArgs: req.CustomArgs, Accepted: s.now()}
	for _, p := range req.Personalizations {
		for _, t := range p.To {
			m.To = append(m.To, t.Email)
		}
		if p.Subject != "" {
			m.Subject = p.Subject
		}
	}
	for _, c := range req.Content {
		if c.Type == "text/plain" {
			m.Text = c.Value
		}
	}
	s.mu.Lock()
	s.mails = append(s.mails, m)
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("X-Message-Id", m.MessageID)
	w.WriteHeader(http.StatusAccepted) // empty body, per the Mail Send reference
}

// validate applies the Mail Send reference's required fields, with the
// field names SendGrid's errors use.
func validate(req request) []sgError {
	var errs []sgError
	if len(req.Personalizations) == 0 {
		errs = append(errs, sgError{Field: field("personalizations"), Message: "The personalizations field is required and must have at least one personalization."})
	}
	for i, p := range req.Personalizations {
		if len(p.To) == 0 {
			errs = append(errs, sgError{Field: field(fmt.Sprintf("personalizations.%d.to", i)), Message: "The to array is required for all personalization objects, and must have at least one email object with a valid email address."})
		}
		for j, t := range p.To {
			if _, err := mail.ParseAddress(t.Email); err != nil {
				errs = append(errs, sgError{Field: field(fmt.Sprintf("personalizations.%d.to.%d.email", i, j)), Message: "Does not contain a valid address."})
			}
		}
		if p.Subject == "" && req.Subject == "" && req.TemplateID == "" {
			errs = append(errs, sgError{Field: field("subject"), Message: "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined."})
		}
	}
	if req.From == nil || req.From.Email == "" {
		errs = append(errs, sgError{Field: field("from.email"), Message: "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter."})
	} else if _, err := mail.ParseAddress(req.From.Email); err != nil {
		errs = append(errs, sgError{Field: field("from.email"), Message: "The from email does not contain a valid address."})
	}
	if req.TemplateID == "" {
		if len(req.Content) == 0 {
			errs = append(errs, sgError{Field: field("content"), Message: "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block."})
		}
		for i, c := range req.Content {
			if c.Value == "" {
				errs = append(errs, sgError{Field: field(fmt.Sprintf("content.%d.value", i)), Message: "The content value must be a string at least one character in length."})
			}
		}
	}
	return errs
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
