// Package config turns the environment (and an optional YAML file named by
// BRIDGE_CONFIG) into one validated Config. It is the only package that reads
// environment variables, and it does so once, at start.
package config

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/salesforce"
)

// Mode selects which settings are required: demo fills in what serve demands.
type Mode int

const (
	ModeServe Mode = iota
	ModeDemo
	ModeTool // token, mapping validate, backfill: only what the command uses is checked
)

// Config is the whole validated configuration.
type Config struct {
	Addr        string
	PublicURL   string // scheme://host[:port], no trailing slash
	RedisURL    string
	MappingFile string
	Timezone    *time.Location

	Salesforce Salesforce
	Twilio     Twilio
	JWT        JWT
	// SurveySecret signs survey links; distinct from the JWT key by design.
	// serve refuses one shorter than MinSecretLen bytes.
	SurveySecret []byte
	// SurveySecretPrevious, during a rotation, still opens links signed
	// with the old key; new links use SurveySecret.
	SurveySecretPrevious []byte

	// ProtectedFields (BRIDGE_PROTECTED_FIELDS) are protected on top of the
	// mapping's own list; no mapping save can lift them.
	ProtectedFields []string

	// InstanceID names this instance in the queues' consumer groups. A stable
	// one (a StatefulSet pod name) lets a restarted instance resume its own
	// unfinished work at once; default host-pid, taken over after 30 s.
	InstanceID string

	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed (CIDRs or addresses); none by default, so a client cannot
	// spoof its address past the survey page's rate limit.
	TrustedProxies []string

	// WritebackLinger is how long writeback waits to fill a 200-row
	// Collections call: the trade between Salesforce API calls and how fast
	// a lone event lands. Default 2 s (SPEC: every event lands within 5 s).
	WritebackLinger time.Duration

	// ReconcileInterval is how often the reconciler reads Twilio's Events
	// and inbound Messages for what the webhooks missed (default 1m).
	ReconcileInterval time.Duration
	// Retention is how long after monitoring ends (or the contact opts
	// out) the bridge keeps its own copy of a contact (BRIDGE_RETENTION).
	Retention time.Duration

	// ReminderHorizon is how far ahead reminders are handed to Twilio's
	// scheduler (default 48h); the bridge's own schedule holds the rest.
	ReminderHorizon time.Duration

	// SendGrid sends email reminders; without APIKey the channel is off.
	SendGrid SendGrid

	LogLevel        string // debug, info, warn, error
	ContextCacheTTL time.Duration
	ShutdownTimeout time.Duration
}

type Salesforce struct {
	LoginURL       string
	Audience       string // the JWT bearer assertion's aud
	ClientID       string
	Username       string
	PrivateKey     *rsa.PrivateKey
	APIVersion     string
	OrgID          string
	OutboundToken  string // required by serve, at least MinSecretLen
	PrivateKeyFile string
}

type Twilio struct {
	AccountSID string
	AuthToken  string
	// AuthTokenPrevious, during a rotation, still verifies webhook
	// signatures made with the old token (REST calls use AuthToken).
	AuthTokenPrevious   string
	WorkspaceSID        string
	WorkflowSID         string
	MessagingServiceSID string
	CallerID            string
	APIURL              string
	Region              string // us1, ie1, au1, …: where Flex tokens are validated
	// VoiceFrom places reminder calls (IVR); default CallerID.
	VoiceFrom string
	// CallsPerSecond paces reminder calls across instances (default 1).
	CallsPerSecond float64
}

// SendGrid is the email reminders' sender.
type SendGrid struct {
	APIKey string
	From   string
	APIURL string
}

type JWT struct {
	Secret []byte
	// SecretPrevious, during a rotation, still verifies tokens signed with
	// the old key; `bridge token` signs with Secret.
	SecretPrevious []byte
	// MaxTTL is the longest exp-iat accepted (BRIDGE_JWT_MAX_TTL).
	MaxTTL    time.Duration
	PublicKey crypto.PublicKey
	Issuer    string
	Audience  string
}

// Error names the variable that is missing or malformed; its message never
// carries the value, which may be a secret.
type Error struct {
	Variable string
	Problem  string
	// Also are the other problems found, so one start shows all of them.
	Also []*Error
}

// Error is one line: the first problem, then the others in brackets.
func (e *Error) Error() string {
	s := e.Variable + ": " + e.Problem
	if len(e.Also) > 0 {
		var more []string
		for _, o := range e.Also {
			more = append(more, o.Variable+" "+o.Problem)
		}
		s += " (also: " + strings.Join(more, "; ") + ")"
	}
	return s
}

// Variables lists every setting the bridge reads; the YAML file may set any.
var Variables = []string{
	"BRIDGE_ADDR", "BRIDGE_PUBLIC_URL", "BRIDGE_REDIS_URL", "BRIDGE_MAPPING_FILE",
	"BRIDGE_SF_LOGIN_URL", "BRIDGE_SF_CLIENT_ID", "BRIDGE_SF_USERNAME", "BRIDGE_SF_PRIVATE_KEY_FILE",
	"BRIDGE_SF_API_VERSION", "BRIDGE_SF_ORG_ID", "BRIDGE_SF_OUTBOUND_TOKEN", "BRIDGE_PROTECTED_FIELDS", "BRIDGE_SF_AUDIENCE",
	"BRIDGE_TWILIO_ACCOUNT_SID", "BRIDGE_TWILIO_AUTH_TOKEN", "BRIDGE_TWILIO_AUTH_TOKEN_PREVIOUS", "BRIDGE_TWILIO_WORKSPACE_SID",
	"BRIDGE_TWILIO_WORKFLOW_SID", "BRIDGE_TWILIO_MESSAGING_SERVICE_SID", "BRIDGE_TWILIO_CALLER_ID",
	"BRIDGE_TWILIO_API_URL", "BRIDGE_RECONCILE_INTERVAL", "BRIDGE_TWILIO_REGION",
	"BRIDGE_TWILIO_VOICE_FROM", "BRIDGE_TWILIO_CALLS_PER_SECOND", "BRIDGE_REMINDER_HORIZON",
	"BRIDGE_SENDGRID_API_KEY", "BRIDGE_EMAIL_FROM", "BRIDGE_SENDGRID_API_URL",
	"BRIDGE_JWT_SECRET", "BRIDGE_JWT_SECRET_PREVIOUS", "BRIDGE_JWT_PUBLIC_KEY_FILE", "BRIDGE_JWT_ISSUER", "BRIDGE_JWT_AUDIENCE",
	"BRIDGE_JWT_MAX_TTL", "BRIDGE_SURVEY_SECRET", "BRIDGE_SURVEY_SECRET_PREVIOUS", "BRIDGE_TIMEZONE", "BRIDGE_RETENTION",
	// Operational knobs beyond SPEC.md.
	"BRIDGE_LOG_LEVEL", "BRIDGE_CONTEXT_CACHE_TTL", "BRIDGE_SHUTDOWN_TIMEOUT", "BRIDGE_INSTANCE_ID", "BRIDGE_TRUSTED_PROXIES", "BRIDGE_WRITEBACK_LINGER",
}

// Source looks a variable up; os.LookupEnv fits, tests pass a map.
type Source func(name string) (string, bool)

// MapSource is a Source over a map, for tests and the demo.
func MapSource(m map[string]string) Source {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// Load reads env (and the YAML file BRIDGE_CONFIG names, env winning) and
// validates everything mode needs. The first problem is returned as *Error.
func Load(env Source, mode Mode) (*Config, error) {
	vals, err := merge(env)
	if err != nil {
		return nil, err
	}
	return build(vals, mode)
}

func merge(env Source) (map[string]string, error) {
	vals := map[string]string{}
	if file, ok := env("BRIDGE_CONFIG"); ok && file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, &Error{Variable: "BRIDGE_CONFIG", Problem: "cannot read file: " + pathError(err)}
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, &Error{Variable: "BRIDGE_CONFIG", Problem: "not a YAML mapping of variable names to values"}
		}
		known := map[string]bool{}
		for _, v := range Variables {
			known[v] = true
		}
		for k, v := range doc {
			name := strings.ToUpper(k)
			if !known[name] {
				return nil, &Error{Variable: "BRIDGE_CONFIG", Problem: fmt.Sprintf("unknown key %q", k)}
			}
			switch v.(type) {
			case string, int, float64, bool:
				vals[name] = fmt.Sprint(v)
			case nil:
			default:
				return nil, &Error{Variable: name, Problem: "must be a scalar in " + file}
			}
		}
	}
	for _, name := range Variables {
		if v, ok := env(name); ok {
			vals[name] = v
		}
	}
	return vals, nil
}

// pathError drops the file contents' risk: only the OS reason is kept.
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "unreadable"
}

var (
	reAccountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	reAlnum      = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	reRegion     = regexp.MustCompile(`^[a-z]{2}[0-9]$`)
	reOrgID      = regexp.MustCompile(`^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$`)
	reAPIVersion = regexp.MustCompile(`^[0-9]{2,3}\.0$`)
	reE164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	reInstance   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	reField      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// MinSecretLen is the shortest secret serve accepts: RFC 7518's 256 bits
// for HS256, and the same for the survey key and the outbound token.
const MinSecretLen = 32

// secret checks a secret's length (serve and demo only: tools may read a
// shorter one to mint a token for a test). The message never quotes it.
func (b *builder) secret(name, v string) {
	if v != "" && b.mode != ModeTool && len(v) < MinSecretLen {
		b.fail(name, fmt.Sprintf("must be at least %d characters", MinSecretLen))
	}
}

func sidPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + prefix + `[0-9a-fA-F]{32}$`)
}

type builder struct {
	vals map[string]string
	mode Mode
	err  *Error
}

func (b *builder) fail(name, problem string) {
	e := &Error{Variable: name, Problem: problem}
	if b.err == nil {
		b.err = e
		return
	}
	b.err.Also = append(b.err.Also, e)
}

// get returns the trimmed value, or def; required applies only in serve mode.
func (b *builder) get(name, def string, required bool) string {
	v := strings.TrimSpace(b.vals[name])
	if v == "" {
		if required && b.mode == ModeServe {
			b.fail(name, "is required")
		}
		return def
	}
	return v
}

func (b *builder) match(name, v string, re *regexp.Regexp, want string) {
	if v != "" && !re.MatchString(v) {
		b.fail(name, "must be "+want)
	}
}

func (b *builder) baseURL(name, v string, allowPath bool) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		b.fail(name, "must be an http(s) URL like https://host[:port]")
		return ""
	}
	if !allowPath && strings.Trim(u.Path, "/") != "" {
		b.fail(name, "must not have a path (scheme://host[:port])")
		return ""
	}
	return strings.TrimRight(u.String(), "/")
}

func (b *builder) duration(name, def string) time.Duration {
	v := b.get(name, def, false)
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		b.fail(name, "must be a duration like 30s")
	}
	return d
}

func (b *builder) readFile(name, path string) []byte {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		b.fail(name, "cannot read file: "+pathError(err))
	}
	return raw
}

func build(vals map[string]string, mode Mode) (*Config, error) {
	b := &builder{vals: vals, mode: mode}
	c := &Config{}

	// Redis first: without it nothing is durable, so it is named first.
	c.RedisURL = b.get("BRIDGE_REDIS_URL", "", true)
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || !strings.HasPrefix(u.Scheme, "redis") {
			b.fail("BRIDGE_REDIS_URL", "must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL")
		}
	}
	c.Addr = b.get("BRIDGE_ADDR", ":8080", false)
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		b.fail("BRIDGE_ADDR", "must be host:port or :port")
	}
	c.PublicURL = b.baseURL("BRIDGE_PUBLIC_URL", b.get("BRIDGE_PUBLIC_URL", "", true), false)
	c.MappingFile = b.get("BRIDGE_MAPPING_FILE", "", false)
	if c.MappingFile != "" {
		if _, err := os.Stat(c.MappingFile); err != nil {
			b.fail("BRIDGE_MAPPING_FILE", "cannot read file: "+pathError(err))
		}
	}
	tz := b.get("BRIDGE_TIMEZONE", "America/New_York", false)
	loc, err := time.LoadLocation(tz)
	if err != nil {
		b.fail("BRIDGE_TIMEZONE", "must be an IANA zone like America/New_York")
	}
	c.Timezone = loc

	sf := &c.Salesforce
	sf.LoginURL = b.baseURL("BRIDGE_SF_LOGIN_URL", b.get("BRIDGE_SF_LOGIN_URL", "https://login.salesforce.com", false), false)
	sf.Audience = b.baseURL("BRIDGE_SF_AUDIENCE", b.get("BRIDGE_SF_AUDIENCE", salesforce.DefaultAudience(sf.LoginURL), false), true)
	sf.ClientID = b.get("BRIDGE_SF_CLIENT_ID", "", true)
	sf.Username = b.get("BRIDGE_SF_USERNAME", "", true)
	sf.PrivateKeyFile = b.get("BRIDGE_SF_PRIVATE_KEY_FILE", "", true)
	if raw := b.readFile("BRIDGE_SF_PRIVATE_KEY_FILE", sf.PrivateKeyFile); raw != nil {
		key, err := salesforce.ParsePrivateKey(raw)
		if err != nil {
			b.fail("BRIDGE_SF_PRIVATE_KEY_FILE", "must hold an RSA private key in PEM (PKCS#1 or PKCS#8)")
		}
		sf.PrivateKey = key
	}
	sf.APIVersion = strings.TrimPrefix(b.get("BRIDGE_SF_API_VERSION", "62.0", false), "v")
	b.match("BRIDGE_SF_API_VERSION", sf.APIVersion, reAPIVersion, "a version like 62.0")
	sf.OrgID = b.get("BRIDGE_SF_ORG_ID", "", true)
	b.match("BRIDGE_SF_ORG_ID", sf.OrgID, reOrgID, "a 15- or 18-character org id starting with 00D")
	// The org id is no secret: without the token anyone could post records.
	sf.OutboundToken = b.get("BRIDGE_SF_OUTBOUND_TOKEN", "", true)
	b.secret("BRIDGE_SF_OUTBOUND_TOKEN", sf.OutboundToken)
	for _, f := range strings.Split(b.get("BRIDGE_PROTECTED_FIELDS", "", true), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !reField.MatchString(f) {
			b.fail("BRIDGE_PROTECTED_FIELDS", "must be a comma-separated list of Salesforce field names")
			break
		}
		c.ProtectedFields = append(c.ProtectedFields, f)
	}

	tw := &c.Twilio
	tw.AccountSID = b.get("BRIDGE_TWILIO_ACCOUNT_SID", "", true)
	b.match("BRIDGE_TWILIO_ACCOUNT_SID", tw.AccountSID, reAccountSID, "AC followed by 32 hex characters")
	tw.AuthToken = b.get("BRIDGE_TWILIO_AUTH_TOKEN", "", true)
	b.match("BRIDGE_TWILIO_AUTH_TOKEN", tw.AuthToken, reAlnum, "alphanumeric")
	tw.AuthTokenPrevious = b.get("BRIDGE_TWILIO_AUTH_TOKEN_PREVIOUS", "", false)
	b.match("BRIDGE_TWILIO_AUTH_TOKEN_PREVIOUS", tw.AuthTokenPrevious, reAlnum, "alphanumeric")
	tw.WorkspaceSID = b.get("BRIDGE_TWILIO_WORKSPACE_SID", "", true)
	b.match("BRIDGE_TWILIO_WORKSPACE_SID", tw.WorkspaceSID, sidPattern("WS"), "WS followed by 32 hex characters")
	tw.WorkflowSID = b.get("BRIDGE_TWILIO_WORKFLOW_SID", "", true)
	b.match("BRIDGE_TWILIO_WORKFLOW_SID", tw.WorkflowSID, sidPattern("WW"), "WW followed by 32 hex characters")
	tw.MessagingServiceSID = b.get("BRIDGE_TWILIO_MESSAGING_SERVICE_SID", "", false)
	b.match("BRIDGE_TWILIO_MESSAGING_SERVICE_SID", tw.MessagingServiceSID, sidPattern("MG"), "MG followed by 32 hex characters")
	tw.CallerID = b.get("BRIDGE_TWILIO_CALLER_ID", "", false)
	b.match("BRIDGE_TWILIO_CALLER_ID", tw.CallerID, reE164, "an E.164 number like +12125550100")
	tw.Region = strings.ToLower(b.get("BRIDGE_TWILIO_REGION", "us1", false))
	b.match("BRIDGE_TWILIO_REGION", tw.Region, reRegion, "a Twilio region like us1, ie1 or au1")
	tw.APIURL = b.baseURL("BRIDGE_TWILIO_API_URL", b.get("BRIDGE_TWILIO_API_URL", "", false), false)
	tw.VoiceFrom = b.get("BRIDGE_TWILIO_VOICE_FROM", tw.CallerID, false)
	b.match("BRIDGE_TWILIO_VOICE_FROM", tw.VoiceFrom, reE164, "an E.164 number like +12125550100")
	if v := b.get("BRIDGE_TWILIO_CALLS_PER_SECOND", "1", false); v != "" {
		cps, err := strconv.ParseFloat(v, 64)
		if err != nil || cps <= 0 || cps > 100 || cps != cps {
			b.fail("BRIDGE_TWILIO_CALLS_PER_SECOND", "must be a number above 0 and at most 100")
		}
		tw.CallsPerSecond = cps
	}

	sg := &c.SendGrid
	sg.APIKey = b.get("BRIDGE_SENDGRID_API_KEY", "", false)
	sg.From = b.get("BRIDGE_EMAIL_FROM", "", false)
	if sg.APIKey != "" && (sg.From == "" || !strings.Contains(sg.From, "@")) {
		b.fail("BRIDGE_EMAIL_FROM", "is required with BRIDGE_SENDGRID_API_KEY: an email address")
	}
	sg.APIURL = b.baseURL("BRIDGE_SENDGRID_API_URL", b.get("BRIDGE_SENDGRID_API_URL", "", false), false)

	j := &c.JWT
	secret := b.get("BRIDGE_JWT_SECRET", "", false)
	pubFile := b.get("BRIDGE_JWT_PUBLIC_KEY_FILE", "", false)
	switch {
	case secret != "" && pubFile != "":
		b.fail("BRIDGE_JWT_SECRET", "set either BRIDGE_JWT_SECRET or BRIDGE_JWT_PUBLIC_KEY_FILE, not both")
	case secret != "":
		b.secret("BRIDGE_JWT_SECRET", secret)
		j.Secret = []byte(secret)
		if prev := b.get("BRIDGE_JWT_SECRET_PREVIOUS", "", false); prev != "" {
			b.secret("BRIDGE_JWT_SECRET_PREVIOUS", prev)
			j.SecretPrevious = []byte(prev)
		}
	case pubFile != "":
		if raw := b.readFile("BRIDGE_JWT_PUBLIC_KEY_FILE", pubFile); raw != nil {
			key, err := auth.ParsePublicKey(raw)
			if err != nil {
				b.fail("BRIDGE_JWT_PUBLIC_KEY_FILE", "must hold an RSA or EC public key in PEM")
			}
			j.PublicKey = key
		}
	case mode == ModeServe:
		b.fail("BRIDGE_JWT_SECRET", "is required (or BRIDGE_JWT_PUBLIC_KEY_FILE)")
	}
	j.Issuer = b.get("BRIDGE_JWT_ISSUER", "bridge", false)
	j.Audience = b.get("BRIDGE_JWT_AUDIENCE", "bridge", false)
	j.MaxTTL = b.duration("BRIDGE_JWT_MAX_TTL", "24h")
	if j.MaxTTL <= 0 {
		b.fail("BRIDGE_JWT_MAX_TTL", "must be a positive duration like 24h")
	}

	survey := b.get("BRIDGE_SURVEY_SECRET", "", true)
	if survey != "" {
		if survey == secret {
			b.fail("BRIDGE_SURVEY_SECRET", "must differ from BRIDGE_JWT_SECRET")
		}
		b.secret("BRIDGE_SURVEY_SECRET", survey)
		c.SurveySecret = []byte(survey)
	}
	if prev := b.get("BRIDGE_SURVEY_SECRET_PREVIOUS", "", false); prev != "" {
		b.secret("BRIDGE_SURVEY_SECRET_PREVIOUS", prev)
		c.SurveySecretPrevious = []byte(prev)
	}

	c.LogLevel = strings.ToLower(b.get("BRIDGE_LOG_LEVEL", "info", false))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		b.fail("BRIDGE_LOG_LEVEL", "must be debug, info, warn or error")
	}
	c.InstanceID = b.get("BRIDGE_INSTANCE_ID", "", false)
	b.match("BRIDGE_INSTANCE_ID", c.InstanceID, reInstance, "1-64 of letters, digits, '.', '_' and '-'")
	for _, p := range strings.Split(b.get("BRIDGE_TRUSTED_PROXIES", "", false), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		_, _, cidrErr := net.ParseCIDR(p)
		if cidrErr != nil && net.ParseIP(p) == nil {
			b.fail("BRIDGE_TRUSTED_PROXIES", "must be a comma-separated list of IP addresses or CIDRs")
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	c.WritebackLinger = b.duration("BRIDGE_WRITEBACK_LINGER", "2s")
	if c.WritebackLinger > 4*time.Second {
		b.fail("BRIDGE_WRITEBACK_LINGER", "must be at most 4s, so events still land within 5 s")
	}
	c.ReconcileInterval = b.duration("BRIDGE_RECONCILE_INTERVAL", "1m")
	if c.ReconcileInterval < time.Second || c.ReconcileInterval > time.Hour {
		b.fail("BRIDGE_RECONCILE_INTERVAL", "must be between 1s and 1h")
	}
	c.ReminderHorizon = b.duration("BRIDGE_REMINDER_HORIZON", "48h")
	if c.ReminderHorizon < time.Hour || c.ReminderHorizon > 35*24*time.Hour {
		b.fail("BRIDGE_REMINDER_HORIZON", "must be between 1h and 840h (Twilio schedules at most 35 days ahead)")
	}
	c.ContextCacheTTL = b.duration("BRIDGE_CONTEXT_CACHE_TTL", "15s")
	c.Retention = b.duration("BRIDGE_RETENTION", "336h")
	if c.Retention < time.Minute {
		b.fail("BRIDGE_RETENTION", "must be a duration of at least 1m, like 336h")
	}
	c.ShutdownTimeout = b.duration("BRIDGE_SHUTDOWN_TIMEOUT", "20s")

	if b.err != nil {
		return nil, b.err
	}
	return c, nil
}
