// Package salesforce is a thin Salesforce REST client: OAuth 2.0 JWT bearer login,
// records, SOQL, upsert by external id, sObject Collections, and typed errors.
//
// It never logs SOQL, URLs with query strings, record bodies or tokens; only ids and
// error codes.
package salesforce

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

const (
	// DefaultLoginURL is the production OAuth host.
	DefaultLoginURL = "https://login.salesforce.com"
	// DefaultAPIVersion is the REST API version used when Config.APIVersion is empty.
	DefaultAPIVersion = "62.0"
	// MaxCollection is the row limit of one sObject Collections call.
	MaxCollection = 200

	jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// assertionTTL stays under Salesforce's 3-minute limit on exp.
	assertionTTL = 170 * time.Second
	loginTimeout = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	LoginURL string // default https://login.salesforce.com
	// Audience is the assertion's aud (BRIDGE_SF_AUDIENCE); default
	// DefaultAudience(LoginURL).
	Audience   string
	ClientID   string          // connected app consumer key (iss)
	Username   string          // integration user (sub)
	PrivateKey *rsa.PrivateKey // ParsePrivateKey reads PKCS#1 or PKCS#8 PEM
	APIVersion string          // default "62.0"
	HTTPClient *http.Client    // nil = NewHTTPClient(RetryPolicy{}, nil)
	Logger     *slog.Logger    // nil = discard
	// Registerer gets the api usage gauges (from Sforce-Limit-Info) and the call counter; nil = none.
	Registerer prometheus.Registerer
	// LockRetry paces the re-sends of UNABLE_TO_LOCK_ROW rows of a Collections call;
	// MaxAttempts counts the first send (default 4), delays default to 200 ms .. 2 s.
	LockRetry RetryPolicy
}

// Record is one sObject row keyed by API field name, without the "attributes" entry.
type Record map[string]any

// Client talks to one org. It is safe for concurrent use.
type Client struct {
	cfg       Config
	http      *http.Client
	log       *slog.Logger
	base      string // /services/data/vXX.X
	lockRetry RetryPolicy
	m         *metrics

	mu    sync.Mutex
	sess  *session
	login singleflight.Group

	calls atomic.Int64
}

type session struct {
	token       string
	instanceURL string
}

// NewClient checks cfg and returns a client; it does not log in until the first call or Token.
func NewClient(cfg Config) (*Client, error) {
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	cfg.LoginURL = strings.TrimRight(cfg.LoginURL, "/")
	if u, err := url.Parse(cfg.LoginURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("salesforce: LoginURL must be an absolute http(s) URL")
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience(cfg.LoginURL)
	}
	cfg.Audience = strings.TrimRight(cfg.Audience, "/")
	if cfg.ClientID == "" {
		return nil, errors.New("salesforce: ClientID is required")
	}
	if cfg.Username == "" {
		return nil, errors.New("salesforce: Username is required")
	}
	if cfg.PrivateKey == nil {
		return nil, errors.New("salesforce: PrivateKey is required")
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	cfg.APIVersion = strings.TrimPrefix(cfg.APIVersion, "v")
	if !apiVersionRe.MatchString(cfg.APIVersion) {
		return nil, fmt.Errorf("salesforce: APIVersion %q is not like 62.0", cfg.APIVersion)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(RetryPolicy{}, nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lr := cfg.LockRetry
	if lr.MaxAttempts <= 0 {
		lr.MaxAttempts = 4
	}
	if lr.BaseDelay <= 0 {
		lr.BaseDelay = 200 * time.Millisecond
	}
	if lr.MaxDelay <= 0 {
		lr.MaxDelay = 2 * time.Second
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger,
		base:      "/services/data/v" + cfg.APIVersion,
		lockRetry: lr,
		m:         m,
	}
	// Metering wraps the caller's client so it counts every call whatever transport it has.
	hc := *cfg.HTTPClient
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &meteredTransport{next: next, c: c}
	c.http = &hc
	return c, nil
}

// APICalls counts the REST calls this client made (token requests and transport retries excluded).
func (c *Client) APICalls() int64 { return c.calls.Load() }

// APIUsage is the last Sforce-Limit-Info api-usage seen: calls used today and the daily limit.
func (c *Client) APIUsage() (used, limit int64) { return c.m.used.Load(), c.m.limitSeen.Load() }

// HasSession reports whether the client holds a session from a successful
// login, without any call; readiness reads it.
func (c *Client) HasSession() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// Token logs in unless a session is cached.
func (c *Client) Token(ctx context.Context) error {
	if _, err := c.session(ctx); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}

func (c *Client) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return c.refresh(ctx, nil)
}

// refresh replaces the stale session. A burst of callers holding the same stale session
// shares one login; a caller whose session was already replaced gets the new one at once.
func (c *Client) refresh(ctx context.Context, stale *session) (*session, error) {
	c.mu.Lock()
	cur := c.sess
	c.mu.Unlock()
	if cur != nil && cur != stale {
		return cur, nil
	}
	ch := c.login.DoChan("login", func() (any, error) {
		c.mu.Lock()
		cur := c.sess
		c.mu.Unlock()
		if cur != nil && cur != stale {
			return cur, nil
		}
		// The login outlives a caller that gives up, since others may be waiting on it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loginTimeout)
		defer cancel()
		s, err := c.doLogin(lctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.sess = s
		c.mu.Unlock()
		return s, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*session), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Audiences of the JWT bearer assertion: Salesforce wants one of these
// whatever host the token request goes to, My Domain included ("OAuth 2.0
// JWT Bearer Flow for Server-to-Server Integration": aud).
const (
	AudienceLogin = "https://login.salesforce.com"
	AudienceTest  = "https://test.salesforce.com"
)

// DefaultAudience is AudienceTest for a sandbox login host (test.salesforce.com
// or a *.sandbox.my.salesforce.com My Domain), else AudienceLogin.
func DefaultAudience(loginURL string) string {
	u, err := url.Parse(loginURL)
	if err != nil {
		return AudienceLogin
	}
	host := strings.ToLower(u.Hostname())
	if host == "test.salesforce.com" || strings.HasSuffix(host, ".sandbox.my.salesforce.com") {
		return AudienceTest
	}
	return AudienceLogin
}

// assertionClaims carries aud as one string, as Salesforce expects.
// jwt.RegisteredClaims would marshal it as an array unless the package-wide
// jwt.MarshalSingleStringAsArray were switched off, which is global state.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
}

func (a assertionClaims) GetExpirationTime() (*jwt.NumericDate, error) { return a.ExpiresAt, nil }
func (a assertionClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (a assertionClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (a assertionClaims) GetIssuer() (string, error)                   { return a.Issuer, nil }
func (a assertionClaims) GetSubject() (string, error)                  { return a.Subject, nil }
func (a assertionClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{a.Audience}, nil
}

func (c *Client) doLogin(ctx context.Context) (*session, error) {
	now := time.Now()
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, assertionClaims{
		Issuer:    c.cfg.ClientID,
		Subject:   c.cfg.Username,
		Audience:  c.cfg.Audience,
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionTTL)),
	}).SignedString(c.cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("sign assertion: %w", err)
	}
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(withOp(ctx, "token"), http.MethodPost,
		c.cfg.LoginURL+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.Warn("salesforce login failed", "error_code", "network")
		return nil, fmt.Errorf("log in: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := &AuthError{Status: resp.StatusCode}
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			ae.Code, ae.Description = oe.Error, oe.Description
		} else {
			ae.Description = http.StatusText(resp.StatusCode)
		}
		c.log.Warn("salesforce login refused", "status", resp.StatusCode, "error_code", ae.Code)
		return nil, ae
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return nil, errors.New("log in: token answer has no access_token")
	}
	u, err := url.Parse(tok.InstanceURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, errors.New("log in: token answer has no usable instance_url")
	}
	c.log.Info("salesforce session established", "instance", u.Host)
	return &session{token: tok.AccessToken, instanceURL: strings.TrimRight(tok.InstanceURL, "/")}, nil
}

// call is one REST request; path is relative to the instance URL.
type call struct {
	op     string // metric label: get, query, upsert, ...
	method string
	path   string
	query  url.Values
	body   any
}

// do sends a call, re-logs in once on 401, and decodes a 2xx answer into out.
// A non-2xx answer becomes an *APIError.
func (c *Client) do(ctx context.Context, cl call, out any) (int, error) {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return 0, fmt.Errorf("encode body: %w", err)
		}
	}
	sess, err := c.session(ctx)
	if err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, sess, cl, payload)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			ae := readAPIError(resp)
			c.log.Info("salesforce session rejected; logging in again", "error_code", ae.Code)
			if sess, err = c.refresh(ctx, sess); err != nil {
				return 0, err
			}
			continue
		}
		if resp.StatusCode >= 300 {
			return resp.StatusCode, readAPIError(resp)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode != http.StatusNoContent {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
}

func (c *Client) send(ctx context.Context, sess *session, cl call, payload []byte) (*http.Response, error) {
	u := sess.instanceURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload) // lets the retry transport rewind via GetBody
	}
	req, err := http.NewRequestWithContext(withOp(ctx, cl.op), cl.method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+sess.token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error would put the URL, query included, in messages
		}
		return nil, err
	}
	return resp, nil
}
