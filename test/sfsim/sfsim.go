// Package sfsim is a Salesforce stand-in for tests and for `bridge demo`: the OAuth 2.0
// JWT bearer token endpoint, sObject rows, upsert by external id, sObject Collections,
// a SOQL subset with paging, the Sforce-Limit-Info header, and scriptable faults.
//
// It follows Salesforce's public REST documentation; answers have the same shapes,
// status codes and error codes as the real API.
package sfsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. The zero value works.
type Options struct {
	ClientID   string          // expected JWT iss; default "3MVG9sfsim.client"
	Username   string          // expected JWT sub; default "integration@cityhealth.example"
	OrgID      string          // default "00D5g000004ABCDEAA"
	PrivateKey *rsa.PrivateKey // the connected app's key; nil = a fresh 2048-bit key
	PageSize   int             // query batch size; default 2000 (Salesforce's default)
	DailyLimit int             // api-usage LIMIT; default 100000; calls beyond it get REQUEST_LIMIT_EXCEEDED
	// Schema adds objects and fields to the built-in ones (Contact, Task, Symptom_Survey__c, Account, Lead, User).
	Schema map[string][]string
	// Required replaces the required fields of the named objects (default: Contact.LastName).
	Required map[string][]string
	Latency  time.Duration // added to every answer
	Seed     uint64        // for LockFraction; 0 = fixed default
	Now      func() time.Time
	// Sandbox makes the token endpoint want aud https://test.salesforce.com
	// instead of https://login.salesforce.com.
	Sandbox bool
}

// Server is a running stand-in. All methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	ClientID string
	Username string
	OrgID    string

	key  *rsa.PrivateKey
	opts Options
	now  func() time.Time

	apiCalls   atomic.Int64
	tokenCalls atomic.Int64

	mu          sync.Mutex
	objects     map[string]*object // lower-case name
	customCount int
	idSeq       uint64
	sessions    map[string]bool
	cursors     map[string][]map[string]any
	cursorSeq   int
	pathCalls   map[string]int64
	pageSize    int
	latency     time.Duration
	outage      bool
	faults      []fault
	tokenFaults []tokenFault
	locks       map[string]int // external id or record id -> remaining UNABLE_TO_LOCK_ROW answers
	lockFrac    float64
	rng         *mrand.Rand
	rejected    map[string]bool // "object.field", lower-case
	om          outbound
}

type fault struct {
	status int
	code   string
	n      int
}

type tokenFault struct {
	code, desc string
	n          int
}

// New starts a server. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		ClientID:  opts.ClientID,
		Username:  opts.Username,
		OrgID:     opts.OrgID,
		key:       opts.PrivateKey,
		opts:      opts,
		now:       opts.Now,
		objects:   map[string]*object{},
		sessions:  map[string]bool{},
		cursors:   map[string][]map[string]any{},
		pathCalls: map[string]int64{},
		pageSize:  opts.PageSize,
		latency:   opts.Latency,
		locks:     map[string]int{},
		rejected:  map[string]bool{},
	}
	if s.ClientID == "" {
		s.ClientID = "3MVG9sfsim.client"
	}
	if s.Username == "" {
		s.Username = "integration@cityhealth.example"
	}
	if s.OrgID == "" {
		s.OrgID = "00D5g000004ABCDEAA"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pageSize <= 0 {
		s.pageSize = 2000
	}
	if s.opts.DailyLimit <= 0 {
		s.opts.DailyLimit = 100000
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	s.rng = mrand.New(mrand.NewPCG(seed, seed^0x5f5f))
	if s.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(fmt.Sprintf("sfsim: generate key: %v", err))
		}
		s.key = k
	}
	for name, fields := range defaultSchema {
		s.defineLocked(name, fields)
	}
	for name, fields := range opts.Schema {
		s.defineLocked(name, fields)
	}
	for name, req := range defaultRequired {
		s.objects[strings.ToLower(name)].required = req
	}
	for name, req := range opts.Required {
		s.defineLocked(name, req).required = append([]string(nil), req...)
	}
	s.om.ctx, s.om.stop = context.WithCancel(context.Background())
	s.om.client = &http.Client{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// PrivateKey is the connected app's private key.
func (s *Server) PrivateKey() *rsa.PrivateKey { return s.key }

// PrivateKeyPEM is the private key as a PKCS#1 "RSA PRIVATE KEY" PEM block.
func (s *Server) PrivateKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.key)})
}

// PrivateKeyPKCS8PEM is the private key as a PKCS#8 "PRIVATE KEY" PEM block.
func (s *Server) PrivateKeyPKCS8PEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(fmt.Sprintf("sfsim: marshal key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// DefineObject adds an object (custom objects get the next a0X-style key prefix) or fields to it.
func (s *Server) DefineObject(object string, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defineLocked(object, fields)
}

// SetRequired sets the fields a create must carry (REQUIRED_FIELD_MISSING otherwise).
func (s *Server) SetRequired(object string, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defineLocked(object, fields).required = append([]string(nil), fields...)
}

// AddRecord stores a row as seed data, bypassing validation; unknown objects and fields
// join the schema. It returns the row's 18-character id, generated when r has no Id.
func (s *Server) AddRecord(object string, r map[string]any) string {
	row, err := normalize(r)
	if err != nil {
		panic(fmt.Sprintf("sfsim: AddRecord: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(row))
	for k := range row {
		names = append(names, k)
	}
	o := s.defineLocked(object, names)
	id, _ := row["Id"].(string)
	delete(row, "Id")
	body := map[string]any{}
	for k, v := range row {
		f, _ := o.field(k)
		body[f] = v
	}
	if id != "" && validID(id) {
		full := id
		if len(id) == 15 {
			full = To18(id)
		}
		now := s.now().UTC().Format("2006-01-02T15:04:05.000+0000")
		existing := o.rows[id[:15]]
		if existing == nil {
			existing = map[string]any{"Id": full, "CreatedDate": now}
			o.rows[id[:15]] = existing
			o.order = append(o.order, id[:15])
		}
		return s.applyLocked(o, body, existing)
	}
	return s.applyLocked(o, body, nil)
}

// UpdateRecord changes a row as a PATCH to /sobjects/{object}/{id} would: the
// same validation (unknown or read-only fields, a required field set to null)
// and the same nulling of a field by a nil value. (Salesforce REST API
// Developer Guide, "Update a Record": 204 on success, an error list
// otherwise; the row is left unchanged on error.)
func (s *Server) UpdateRecord(object, id string, fields map[string]any) error {
	body, err := normalize(fields)
	if err != nil {
		return fmt.Errorf("sfsim: UpdateRecord: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(object)
	if o == nil {
		return fmt.Errorf("NOT_FOUND: no object %s", object)
	}
	row := o.row(id)
	if row == nil {
		return fmt.Errorf("NOT_FOUND: no %s %s", object, id)
	}
	if errs := s.writeRowLocked(o, body, row, row["Id"].(string)); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.StatusCode + ": " + e.Message
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// Record returns a copy of a row, or nil.
func (s *Server) Record(object, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(object)
	if o == nil {
		return nil
	}
	r := o.row(id)
	if r == nil {
		return nil
	}
	return copyRow(r)
}

// Records returns copies of all rows of an object in insertion order.
func (s *Server) Records(object string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(object)
	if o == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(o.order))
	for _, id := range o.order {
		out = append(out, copyRow(o.rows[id]))
	}
	return out
}

// FindRecords returns copies of the rows whose field equals value (case-insensitively).
func (s *Server) FindRecords(object, field, value string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(object)
	if o == nil {
		return nil
	}
	f, ok := o.field(field)
	if !ok {
		return nil
	}
	var out []map[string]any
	for _, r := range o.matchExternal(f, value) {
		out = append(out, copyRow(r))
	}
	return out
}

// APICalls counts REST requests (every request under /services/data, faults included).
func (s *Server) APICalls() int64 { return s.apiCalls.Load() }

// TokenCalls counts requests to the token endpoint.
func (s *Server) TokenCalls() int64 { return s.tokenCalls.Load() }

// Calls counts REST requests by method and path after the version, e.g.
// Calls("PATCH", "/composite/sobjects/Task/Twilio_Task_Sid__c").
func (s *Server) Calls(method, path string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pathCalls[method+" "+path]
}

// CallCounts returns all per-path counts keyed "METHOD /path".
func (s *Server) CallCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.pathCalls))
	for k, v := range s.pathCalls {
		out[k] = v
	}
	return out
}

// ResetCounters zeroes the call counters.
func (s *Server) ResetCounters() {
	s.apiCalls.Store(0)
	s.tokenCalls.Store(0)
	s.mu.Lock()
	s.pathCalls = map[string]int64{}
	s.mu.Unlock()
}

// Fail makes the next n REST requests answer status with errorCode code.
func (s *Server) Fail(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{status: status, code: code, n: n})
}

// Fail503 makes the next n REST requests answer 503 SERVER_UNAVAILABLE.
func (s *Server) Fail503(n int) { s.Fail(n, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE") }

// FailRequestLimit makes the next n REST requests answer 403 REQUEST_LIMIT_EXCEEDED.
func (s *Server) FailRequestLimit(n int) { s.Fail(n, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED") }

// FailToken makes the next n token requests answer 400 {"error": code, "error_description": desc}.
func (s *Server) FailToken(n int, code, desc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenFaults = append(s.tokenFaults, tokenFault{code: code, desc: desc, n: n})
}

// ExpireSessions invalidates every issued access token.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = map[string]bool{}
}

// SetOutage turns a full outage on or off: every request, token endpoint included, gets 503.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetPageSize sets the query batch size for new queries.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// LockRows makes the next n writes of the row with this external id value (or record id)
// fail with UNABLE_TO_LOCK_ROW.
func (s *Server) LockRows(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locks[key] += n
}

// LockFraction makes each row write fail with UNABLE_TO_LOCK_ROW with probability f (0 turns it off).
func (s *Server) LockFraction(f float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lockFrac = f
}

// RejectField makes writes that carry object.field fail with INVALID_FIELD.
func (s *Server) RejectField(object, field string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[strings.ToLower(object)+"."+strings.ToLower(field)] = true
}

// lockedLocked reports whether a row write hits a scripted UNABLE_TO_LOCK_ROW.
func (s *Server) lockedLocked(keys ...string) bool {
	for _, k := range keys {
		if k != "" && s.locks[k] > 0 {
			s.locks[k]--
			return true
		}
	}
	return s.lockFrac > 0 && s.rng.Float64() < s.lockFrac
}

func lockError(id string) rowError {
	return rowError{"UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: " + id, []string{}}
}

func (s *Server) newTokenLocked() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := s.OrgID[:15] + "!AQ" + hex.EncodeToString(b)
	s.sessions[tok] = true
	return tok
}
