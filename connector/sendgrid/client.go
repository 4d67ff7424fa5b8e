// Package sendgrid is the bridge's adapter to SendGrid's v3 Mail Send API,
// for email reminders. It is built on SendGrid's official sendgrid-go and
// adds what the bridge needs around it: the caller's context and HTTP
// client, typed errors that never quote an address, ambiguity detection
// (SendGrid has no idempotency key, so a send whose answer was lost must
// not simply be repeated), metrics, and an origin override for tests.
package sendgrid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/mail"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sendgrid/rest"
	sg "github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"
)

// DefaultAPIURL is SendGrid's global API origin.
const DefaultAPIURL = "https://api.sendgrid.com"

// DefaultTimeout bounds one call when the HTTP client sets none.
const DefaultTimeout = 10 * time.Second

const sendPath = "/v3/mail/send"

// Config configures a Client.
type Config struct {
	APIKey string // BRIDGE_SENDGRID_API_KEY
	From   string // BRIDGE_EMAIL_FROM: "Health Department <checks@health.example.gov>" or a bare address
	APIURL string // BRIDGE_SENDGRID_API_URL; default DefaultAPIURL
	// HTTPClient carries the caller's transport chain; nil = a default one.
	HTTPClient *http.Client
	Timeout    time.Duration // default DefaultTimeout, when the client sets none
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Validate checks the configuration; messages name the setting.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.APIKey) == "" {
		return errors.New("sendgrid config: APIKey is required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return errors.New("sendgrid config: From must be an email address, optionally with a display name")
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return errors.New("sendgrid config: APIURL must be an origin like https://api.sendgrid.com")
		}
	}
	return nil
}

// Client sends mail through SendGrid. It is safe for concurrent use.
type Client struct {
	key     string
	from    *sgmail.Email
	origin  string
	http    *http.Client
	log     *slog.Logger
	metrics *metrics
}

// NewClient checks cfg and builds a client.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr, _ := mail.ParseAddress(cfg.From)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	if hc.Timeout == 0 {
		timeout := cfg.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		c := *hc
		c.Timeout = timeout
		hc = &c
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("sendgrid metrics: %w", err)
	}
	origin := strings.TrimSuffix(cfg.APIURL, "/")
	if origin == "" {
		origin = DefaultAPIURL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{key: cfg.APIKey, from: sgmail.NewEmail(addr.Name, addr.Address), origin: origin, http: hc, log: log, metrics: m}, nil
}

// Email is one plain-text message to one recipient.
type Email struct {
	To      string
	Subject string
	Text    string
	// CustomArgs come back on SendGrid's event webhook; ids only, never
	// personal data.
	CustomArgs map[string]string
}

// Send hands one email to SendGrid and returns its X-Message-Id. A 202
// means queued for delivery, not delivered.
func (c *Client) Send(ctx context.Context, e Email) (string, error) {
	if _, err := mail.ParseAddress(e.To); err != nil {
		return "", &APIError{Status: 0, Fields: []string{"personalizations.0.to"}, Messages: []string{"not an email address"}}
	}
	m := sgmail.NewV3Mail()
	m.SetFrom(c.from)
	m.Subject = e.Subject
	p := sgmail.NewPersonalization()
	p.AddTos(sgmail.NewEmail("", e.To))
	m.AddPersonalizations(p)
	m.AddContent(sgmail.NewContent("text/plain", e.Text))
	for k, v := range e.CustomArgs {
		m.SetCustomArg(k, v)
	}
	req := sg.GetRequest(c.key, sendPath, c.origin)
	req.Method = rest.Post
	req.Body = sgmail.GetRequestBody(m)

	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) }}
	ctx = httptrace.WithClientTrace(ctx, trace)
	start := time.Now()
	resp, err := (&rest.Client{HTTPClient: c.http}).SendWithContext(ctx, req)
	if err != nil {
		c.metrics.observe("transport", time.Since(start))
		return "", &TransportError{Sent: sent.Load(), Err: err}
	}
	c.metrics.observe(fmt.Sprint(resp.StatusCode), time.Since(start))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return "", apiError(resp)
	}
	return firstHeader(resp.Headers, "X-Message-Id"), nil
}

func firstHeader(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// apiError reads SendGrid's `{"errors":[{"field","message","help"}]}`.
func apiError(resp *rest.Response) *APIError {
	var body struct {
		Errors []struct {
			Field   *string `json:"field"`
			Message string  `json:"message"`
		} `json:"errors"`
	}
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal([]byte(resp.Body), &body) == nil {
		for _, x := range body.Errors {
			if x.Field != nil && *x.Field != "" {
				e.Fields = append(e.Fields, *x.Field)
			}
			e.Messages = append(e.Messages, x.Message)
		}
	}
	return e
}
