// Package twiliosim is a stand-in for the parts of Twilio the bridge uses:
// TaskRouter tasks, (scheduled) Messages, IAM Flex token validation and
// signed webhooks. It follows Twilio's public documentation: Basic auth,
// JSON error bodies with Twilio codes, paging meta, ETag/If-Match, the
// scheduling window and error codes 21610, 30409, 35111, 35114/35115/35117.
// It is an ordinary package so that tests and `bridge demo` can share it.
package twiliosim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Operation names for Calls, FailNext and SetLatency. They match the
// connector's metric labels.
const (
	OpCreateTask      = "create_task"
	OpListTasks       = "find_open_tasks" // any task list
	OpFetchTask       = "fetch_task"
	OpUpdateTask      = "update_task"
	OpCancelTask      = "cancel_task" // update with AssignmentStatus=canceled
	OpScheduleMessage = "schedule_message"
	OpSendMessage     = "send_message"
	OpCancelMessage   = "cancel_message" // update with Status=canceled
	OpUpdateMessage   = "update_message" // any other message update
	OpFetchMessage    = "fetch_message"
	OpListMessages    = "list_messages"
	OpValidateToken   = "validate_flex_token"
	OpAny             = "*" // FailNext/SetLatency: every operation
)

// Options configure a Server. All fields are optional.
type Options struct {
	// Fixed credentials and sids (the demo prints them); empty = random.
	AccountSID, AuthToken, WorkspaceSID, WorkflowSID, MessagingServiceSID string
	// Now is the sim's clock for the scheduling window and token expiry.
	Now func() time.Time
	// EventCallbackURL is the workspace's event callback: CompleteTask posts there.
	EventCallbackURL string
	// SMSWebhookURL is the messaging service's inbound URL: ReceiveSMS posts there.
	SMSWebhookURL string
	// HTTPClient delivers webhooks; nil = 15 s timeout, as Twilio waits.
	// Its transport may route a public URL to a test listener (a load
	// balancer's job): the signature stays computed on the public URL.
	HTTPClient *http.Client
	// StrictHost refuses requests whose Host is not the real Twilio host
	// for the path (taskrouter/api/iam.twilio.com), to prove a client kept it.
	StrictHost bool
	// Region is the account's region: outside us1, Flex tokens are validated
	// at iam.{region}.twilio.com (twilio-flex-token-validator with
	// TWILIO_REGION), so StrictHost wants that host for IAM.
	Region string
}

const maxRequestLog = 10000

// Request is one call the sim received (for assertions on routing).
type Request struct {
	Op, Method, Host, Path string
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	URL                                                                   string
	AccountSID, AuthToken, WorkspaceSID, WorkflowSID, MessagingServiceSID string
	// WorkerSID is the worker reported in events when a task names none.
	WorkerSID string

	opts   Options
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu         sync.Mutex
	tasks      map[string]*Task
	taskOrder  []string
	msgs       map[string]*Message
	msgOrder   []string
	optedOut   map[string]bool
	tokens     map[string]flexToken
	calls      map[string]int
	requests   []Request
	failNext   map[string][]int // op -> statuses of the next failing calls
	latency    map[string]time.Duration
	outage     bool
	events     []loggedEvent // TaskRouter's Events resource
	deliveries int

	voiceOnce sync.Once
	voice     *voiceState
	// windowRefusals picks the next scheduling-window code.
	windowRefusals int
	// skew (nanoseconds) moves the sim's clock away from the client's, as
	// Twilio's own clock may be; atomic because now() runs under mu.
	skew atomic.Int64
}

// New starts a simulator on a loopback port.
func New(opts Options) *Server {
	s := &Server{
		AccountSID:          orRandom(opts.AccountSID, "AC"),
		AuthToken:           opts.AuthToken,
		WorkspaceSID:        orRandom(opts.WorkspaceSID, "WS"),
		WorkflowSID:         orRandom(opts.WorkflowSID, "WW"),
		MessagingServiceSID: orRandom(opts.MessagingServiceSID, "MG"),
		WorkerSID:           newSID("WK"),
		opts:                opts,
		closed:              make(chan struct{}),
		tasks:               map[string]*Task{},
		msgs:                map[string]*Message{},
		optedOut:            map[string]bool{},
		tokens:              map[string]flexToken{},
		calls:               map[string]int{},
		failNext:            map[string][]int{},
		latency:             map[string]time.Duration{},
	}
	if s.AuthToken == "" {
		s.AuthToken = randHex(16)
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.HTTPClient == nil {
		s.opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	s.srv = httptest.NewServer(s.routes())
	s.URL = s.srv.URL
	return s
}

// Close stops the server; safe to call twice.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed) // wakes handlers sleeping on injected latency
		s.srv.Close()
	})
}

func (s *Server) now() time.Time {
	return s.opts.Now().Add(time.Duration(s.skew.Load())).UTC()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/Workspaces/{ws}/Tasks", s.createTask)
	mux.HandleFunc("GET /v1/Workspaces/{ws}/Tasks", s.listTasks)
	mux.HandleFunc("GET /v1/Workspaces/{ws}/Tasks/{sid}", s.fetchTask)
	mux.HandleFunc("POST /v1/Workspaces/{ws}/Tasks/{sid}", s.updateTask)
	mux.HandleFunc("GET /v1/Workspaces/{ws}/Events", s.listEvents)
	mux.HandleFunc("POST /2010-04-01/Accounts/{ac}/Messages.json", s.createMessage)
	mux.HandleFunc("GET /2010-04-01/Accounts/{ac}/Messages.json", s.listMessages)
	mux.HandleFunc("GET /2010-04-01/Accounts/{ac}/Messages/{file}", s.fetchMessage)
	mux.HandleFunc("POST /2010-04-01/Accounts/{ac}/Messages/{file}", s.updateMessage)
	mux.HandleFunc("POST /v1/Accounts/{ac}/Tokens/validate", s.validateToken)
	mux.HandleFunc("POST /2010-04-01/Accounts/{ac}/Calls.json", s.createCall)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	return s.authenticate(mux)
}

// authenticate checks Basic auth as Twilio does (401, code 20003).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.AccountSID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.AuthToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		if s.opts.StrictHost {
			if want := hostFor(r.URL.Path, s.opts.Region); want != "" && stripPort(r.Host) != want {
				writeError(w, http.StatusNotFound, 20404, "unknown host "+r.Host)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func hostFor(path, region string) string {
	switch {
	case strings.HasPrefix(path, "/v1/Workspaces/"):
		return "taskrouter.twilio.com"
	case strings.HasPrefix(path, "/2010-04-01/"):
		return "api.twilio.com"
	case strings.HasPrefix(path, "/v1/Accounts/"):
		if region != "" && region != "us1" {
			return "iam." + region + ".twilio.com"
		}
		return "iam.twilio.com"
	}
	return ""
}

func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		return host[:i]
	}
	return host
}

// begin counts a call and applies injected faults. It reports false when
// the call has been answered with a fault.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, op string) bool {
	s.mu.Lock()
	s.calls[op]++
	if len(s.requests) >= maxRequestLog { // bound memory in a long demo
		s.requests = append(s.requests[:0], s.requests[maxRequestLog/2:]...)
	}
	s.requests = append(s.requests, Request{Op: op, Method: r.Method, Host: r.Host, Path: r.URL.Path})
	status := 0
	if s.outage {
		status = http.StatusServiceUnavailable
	} else {
		for _, key := range []string{op, OpAny} {
			if q := s.failNext[key]; len(q) > 0 {
				status, s.failNext[key] = q[0], q[1:]
				break
			}
		}
	}
	s.mu.Unlock()
	if status != 0 {
		writeError(w, status, 20000+status, http.StatusText(status))
		return false
	}
	return true
}

// finish waits the injected latency for op, after the operation took
// effect: a client that times out meanwhile cannot know it succeeded.
func (s *Server) finish(r *http.Request, op string) {
	s.mu.Lock()
	d, ok := s.latency[op]
	if !ok {
		d = s.latency[OpAny]
	}
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.closed:
	}
}

// FailNext makes the next n calls of op answer status (0 = 503) without effect.
func (s *Server) FailNext(op string, n, status int) {
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext[op] = append(s.failNext[op], status)
	}
}

// SetLatency delays op's answers by d after the work is done (0 removes it).
func (s *Server) SetLatency(op string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, op)
		return
	}
	s.latency[op] = d
}

// SetClockSkew puts the sim's clock d ahead of its Now (behind when d < 0),
// as Twilio's clock may differ from the bridge's.
func (s *Server) SetClockSkew(d time.Duration) { s.skew.Store(int64(d)) }

// SetOutage makes every call answer 503 until switched off.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// Calls counts the calls of op received so far, faults included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TotalCalls counts every authenticated call received.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// Requests lists the calls received, oldest first (the most recent few thousand).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetCalls forgets counters and the request log (state stays).
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.requests = nil
}

type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, twilioError{
		Code: code, Message: msg, Status: status,
		MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newSID(prefix string) string { return prefix + randHex(16) }

func orRandom(v, prefix string) string {
	if v != "" {
		return v
	}
	return newSID(prefix)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// baseURL is how Twilio writes absolute URLs in answers: its own host, so
// that a client with an origin override follows them through it.
func baseURL(r *http.Request) string {
	if strings.HasSuffix(stripPort(r.Host), "twilio.com") {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}
