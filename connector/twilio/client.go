// Package twilio is the bridge's adapter to Twilio: TaskRouter tasks,
// (scheduled) SMS, the Flex token check and webhook signatures. It is built
// on twilio-go and adds what twilio-go lacks: context cancellation, typed
// errors, ambiguity detection, metrics and an origin override for tests.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	twclient "github.com/twilio/twilio-go/client"
)

// MaxTaskTimeout is TaskRouter's upper bound for a task's Timeout.
const MaxTaskTimeout = 1_209_600 * time.Second

// DefaultTimeout bounds one Twilio call when the HTTP client sets none.
const DefaultTimeout = 10 * time.Second

// Config configures a Client.
type Config struct {
	AccountSID, AuthToken, WorkspaceSID, WorkflowSID, MessagingServiceSID string
	// From is the sender for SendMessage when MessagingServiceSID is empty.
	From string
	// StatusCallback is set on every message the client creates, so Twilio
	// reports its delivery (BRIDGE_PUBLIC_URL/webhooks/twilio/status).
	StatusCallback string
	// Region (BRIDGE_TWILIO_REGION) is the account's Twilio region, "us1"
	// when empty; Flex tokens are validated at iam.{region}.twilio.com.
	Region string
	// APIURL (BRIDGE_TWILIO_API_URL): every request goes to this origin, Host kept.
	APIURL string
	// HTTPClient carries the caller's transport chain; nil = a default one.
	// Its Timeout bounds each call; when it is 0, Timeout applies.
	HTTPClient *http.Client
	Timeout    time.Duration // default DefaultTimeout
	// TaskTimeout is the Timeout of created tasks; 0 = TaskRouter's default (24 h).
	TaskTimeout time.Duration
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

var (
	sidPattern    = regexp.MustCompile(`^[A-Z]{2}[0-9a-f]{32}$`)
	alphanumeric  = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	regionPattern = regexp.MustCompile(`^[a-z]{2}[0-9]$`)
)

// Validate checks the configuration; messages name the setting.
func (c *Config) Validate() error {
	checks := []struct{ name, val, prefix string }{
		{"AccountSID", c.AccountSID, "AC"},
		{"WorkspaceSID", c.WorkspaceSID, "WS"},
		{"WorkflowSID", c.WorkflowSID, "WW"},
	}
	for _, ch := range checks {
		if !sidPattern.MatchString(ch.val) || ch.val[:2] != ch.prefix {
			return fmt.Errorf("twilio config: %s must be %s followed by 32 hex characters", ch.name, ch.prefix)
		}
	}
	if c.MessagingServiceSID != "" && (!sidPattern.MatchString(c.MessagingServiceSID) || c.MessagingServiceSID[:2] != "MG") {
		return errors.New("twilio config: MessagingServiceSID must be MG followed by 32 hex characters")
	}
	// twilio-go refuses non-alphanumeric credentials anyway; fail at start instead.
	if c.AuthToken == "" || !alphanumeric.MatchString(c.AuthToken) {
		return errors.New("twilio config: AuthToken must be non-empty and alphanumeric")
	}
	if c.APIURL != "" {
		if _, err := parseOrigin(c.APIURL); err != nil {
			return fmt.Errorf("twilio config: APIURL: %w", err)
		}
	}
	if c.StatusCallback != "" {
		if u, err := url.Parse(c.StatusCallback); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("twilio config: StatusCallback must be an absolute http(s) URL")
		}
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		return errors.New("twilio config: Region must be a Twilio region like us1, ie1 or au1")
	}
	if c.TaskTimeout < 0 || c.TaskTimeout > MaxTaskTimeout {
		return fmt.Errorf("twilio config: TaskTimeout must be between 0 and %s", MaxTaskTimeout)
	}
	if c.Timeout < 0 {
		return errors.New("twilio config: Timeout must not be negative")
	}
	return nil
}

// Client talks to Twilio. It is safe for concurrent use.
type Client struct {
	cfg     Config
	http    http.Client // template copied per call
	log     *slog.Logger
	metrics *metrics
}

// NewClient checks cfg and builds a client.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{cfg: cfg, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient != nil {
		c.http = *cfg.HTTPClient
	}
	if c.http.Timeout == 0 {
		c.http.Timeout = cfg.Timeout
	}
	if c.http.CheckRedirect == nil {
		// as twilio-go's default client: never follow redirects
		c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	if c.http.Transport == nil {
		c.http.Transport = http.DefaultTransport
	}
	if cfg.APIURL != "" {
		c.http.Transport = NewOriginTransport(cfg.APIURL, c.http.Transport)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// do runs one twilio-go call with ctx honoured, then types its error and
// records metrics. sid is for the log only.
func (c *Client) do(ctx context.Context, op, sid string, fn func(rh *twclient.RequestHandler) error) error {
	if err := ctx.Err(); err != nil {
		return &TransportError{Op: op, Err: err}
	}
	ct := &callTransport{ctx: ctx, next: c.http.Transport}
	hc := c.http
	hc.Transport = ct
	tc := &twclient.Client{Credentials: twclient.NewCredentials(c.cfg.AccountSID, c.cfg.AuthToken), HTTPClient: &hc}
	tc.SetAccountSid(c.cfg.AccountSID)
	// Not NewRequestHandler: it reads TWILIO_EDGE/TWILIO_REGION from the environment.
	rh := &twclient.RequestHandler{Client: tc}

	start := time.Now()
	err := classify(op, fn(rh), ct)
	elapsed := time.Since(start)

	status := statusLabel(err, int(ct.status.Load()))
	c.metrics.observe(op, status, elapsed)
	if err != nil {
		attrs := []slog.Attr{slog.String("op", op), slog.String("status", status), slog.Duration("duration", elapsed)}
		if sid != "" {
			attrs = append(attrs, slog.String("sid", sid))
		}
		var ae *APIError
		if errors.As(err, &ae) {
			attrs = append(attrs, slog.Int("code", ae.Code))
		}
		if IsAmbiguous(err) {
			attrs = append(attrs, slog.Bool("ambiguous", true))
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "twilio call failed", attrs...)
	}
	return err
}

// classify turns what twilio-go returned into APIError / TransportError.
func classify(op string, err error, ct *callTransport) error {
	if err == nil {
		return nil
	}
	status := int(ct.status.Load())
	var tre *twclient.TwilioRestError
	if errors.As(err, &tre) {
		ae := &APIError{Status: tre.Status, Code: tre.Code, Message: tre.Message, MoreInfo: tre.MoreInfo}
		if status >= 400 {
			ae.Status = status // the body may lie or omit it; the status line doesn't
		}
		return ae
	}
	var v1 *twclient.RestErrorV1
	if errors.As(err, &v1) {
		return &APIError{Status: v1.HttpStatusCode, Code: v1.Code, Message: v1.Message}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &TransportError{Op: op, Sent: ct.sent.Load(), Err: err}
	}
	if status >= 400 || (status > 0 && status < 200) {
		// twilio-go could not decode the error body (a proxy's HTML page, say).
		return &APIError{Status: status, Message: http.StatusText(status)}
	}
	return fmt.Errorf("twilio %s: %w", op, err)
}

func statusLabel(err error, status int) string {
	var ae *APIError
	var te *TransportError
	switch {
	case err == nil:
		return strconv.Itoa(status)
	case errors.As(err, &ae):
		return strconv.Itoa(ae.Status)
	case errors.As(err, &te) && te.Timeout():
		return "timeout"
	case errors.As(err, &te):
		return "network"
	default:
		return "error"
	}
}

// callTransport binds one call's context to twilio-go's context-less
// requests and records whether a request reached the wire.
type callTransport struct {
	ctx    context.Context
	next   http.RoundTripper
	sent   atomic.Bool
	status atomic.Int32
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Derive from req's context so the http.Client timeout still applies.
	rctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			t.sent.Store(true)
		}
	}}
	resp, err := t.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(rctx, trace)))
	if err != nil {
		stop()
		cancel(nil)
		return nil, err
	}
	t.status.Store(int32(resp.StatusCode))
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { stop(); cancel(nil) }}
	return resp, nil
}

type releaseBody struct {
	io.ReadCloser
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// NewOriginTransport sends every request to origin (scheme://host[:port])
// with path and query unchanged and the original Host header kept, so one
// stand-in can serve taskrouter.twilio.com, api.twilio.com and iam.twilio.com.
func NewOriginTransport(origin string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	u, err := parseOrigin(origin)
	return &originTransport{origin: u, err: err, next: next}
}

type originTransport struct {
	origin *url.URL
	err    error
	next   http.RoundTripper
}

func (t *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("twilio origin: %w", t.err)
	}
	r := req.Clone(req.Context())
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.URL.Scheme = t.origin.Scheme
	r.URL.Host = t.origin.Host
	return t.next.RoundTrip(r)
}

func parseOrigin(origin string) (*url.URL, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) origin", origin)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%q must be an origin without path or query", origin)
	}
	return u, nil
}
