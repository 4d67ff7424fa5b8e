// Package auth authenticates agent and admin callers of the bridge: JWTs
// signed with the bridge's HS256 secret or an SSO's RS256/ES256 key, and the
// Flex UI's own token (X-Flex-Token), which Twilio IAM validates for us.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Role is what a principal may do. Admin includes agent.
type Role string

const (
	RoleAgent Role = "agent"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a role the bridge knows.
func (r Role) Valid() bool { return r == RoleAgent || r == RoleAdmin }

// Source of a Principal.
const (
	SourceJWT  = "jwt"
	SourceFlex = "flex"
)

// Principal is the authenticated caller.
//
// WorkerSID may be empty, even for agents: reading record context needs no
// worker, but click-to-call targets the task at WorkerSID, so that flow must
// refuse a principal without one.
type Principal struct {
	Subject   string
	Role      Role
	WorkerSID string
	Source    string // SourceJWT or SourceFlex
}

// Allows reports whether p may use a route open to role r. Admin ⊇ agent.
func (p Principal) Allows(r Role) bool {
	return p.Role == r || p.Role == RoleAdmin && r == RoleAgent
}

// Defaults.
const (
	DefaultIssuer        = "bridge"
	DefaultAudience      = "bridge"
	DefaultLeeway        = 30 * time.Second
	DefaultFlexCacheSize = 10000
	DefaultFlexTimeout   = 10 * time.Second
	DefaultMaxTTL        = 24 * time.Hour
	// A refused Flex token is remembered this long: long enough that
	// repeating it costs nothing, short enough that a token refused during
	// an IAM hiccup recovers on its own.
	DefaultFlexRefusalTTL = 5 * time.Minute
	DefaultFlexRate       = 10.0
	DefaultFlexBurst      = 20
	// RecommendedSecretLen is RFC 7518's minimum HS256 key size (256 bits).
	RecommendedSecretLen = 32
)

// Config configures an Authenticator. Exactly one of HMACSecret and PublicKey
// must be set.
type Config struct {
	HMACSecret []byte // HS256 only
	// HMACPrevious, during a rotation (BRIDGE_JWT_SECRET_PREVIOUS), still
	// verifies tokens signed with the old secret.
	HMACPrevious []byte
	PublicKey    crypto.PublicKey // *rsa.PublicKey (RS256) or *ecdsa.PublicKey on P-256 (ES256)
	Issuer       string           // required iss; default "bridge"
	Audience     string           // required aud; default "bridge"
	Leeway       time.Duration    // clock skew allowed on exp/nbf/iat; default 30s
	// MaxTTL is the longest lifetime (exp - iat) accepted; default 24h
	// (BRIDGE_JWT_MAX_TTL). A token without iat may not expire later than
	// MaxTTL from now.
	MaxTTL time.Duration

	Flex          FlexValidator // optional; nil = X-Flex-Token refused
	FlexCacheSize int           // max cached Flex validations; default 10000
	FlexTimeout   time.Duration // per IAM validation; default 10s
	// FlexRefusalTTL is how long a token IAM refused is answered 401
	// without asking again (by its SHA-256); default 5m.
	FlexRefusalTTL time.Duration
	// FlexRate and FlexBurst bound IAM calls per second across all callers,
	// so anonymous requests cannot spend the account's API budget; a
	// request over the bound gets 503 with Retry-After. Default 10/s, 20.
	FlexRate  float64
	FlexBurst int

	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // nil = discard
}

// Authenticator verifies bearer and Flex tokens. Safe for concurrent use.
type Authenticator struct {
	parser *jwt.Parser
	key    any
	maxTTL time.Duration
	leeway time.Duration
	flex   *flexCache // nil when no validator
	now    func() time.Time
	log    *slog.Logger
}

// New checks cfg and builds an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	hasSecret, hasKey := len(cfg.HMACSecret) > 0, cfg.PublicKey != nil
	if hasSecret == hasKey {
		return nil, errors.New("auth: exactly one of HMACSecret and PublicKey is required")
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: Leeway must not be negative")
	}
	if cfg.FlexCacheSize < 0 || cfg.FlexTimeout < 0 {
		return nil, errors.New("auth: FlexCacheSize and FlexTimeout must not be negative")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.FlexCacheSize == 0 {
		cfg.FlexCacheSize = DefaultFlexCacheSize
	}
	if cfg.FlexTimeout == 0 {
		cfg.FlexTimeout = DefaultFlexTimeout
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.FlexRefusalTTL <= 0 {
		cfg.FlexRefusalTTL = DefaultFlexRefusalTTL
	}
	if cfg.FlexRate <= 0 {
		cfg.FlexRate = DefaultFlexRate
	}
	if cfg.FlexBurst <= 0 {
		cfg.FlexBurst = DefaultFlexBurst
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	var alg string
	var key any
	switch k := cfg.PublicKey.(type) {
	case nil:
		alg, key = jwt.SigningMethodHS256.Alg(), append([]byte(nil), cfg.HMACSecret...)
		if len(cfg.HMACSecret) < RecommendedSecretLen {
			cfg.Logger.Warn("auth: HMAC secret is shorter than recommended", "min_bytes", RecommendedSecretLen)
		}
		if len(cfg.HMACPrevious) > 0 {
			// golang-jwt tries each key of a set: both verify during a rotation.
			key = jwt.VerificationKeySet{Keys: []jwt.VerificationKey{key, append([]byte(nil), cfg.HMACPrevious...)}}
		}
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < 2048 {
			return nil, errors.New("auth: RSA public key must be at least 2048 bits")
		}
		alg, key = jwt.SigningMethodRS256.Alg(), k
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("auth: ECDSA public key must be on P-256 (ES256)")
		}
		alg, key = jwt.SigningMethodES256.Alg(), k
	default:
		return nil, fmt.Errorf("auth: unsupported public key type %T (want *rsa.PublicKey or *ecdsa.PublicKey)", cfg.PublicKey)
	}

	a := &Authenticator{
		// One alg only: this is what refuses alg=none and RS/HS confusion.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
		key:    key,
		maxTTL: cfg.MaxTTL,
		leeway: cfg.Leeway,
		now:    cfg.Now,
		log:    cfg.Logger,
	}
	if cfg.Flex != nil {
		a.flex = newFlexCache(cfg.Flex, cfg.FlexCacheSize, cfg.FlexTimeout, cfg.Now)
		a.flex.refusalTTL = cfg.FlexRefusalTTL
		a.flex.limit = rate.NewLimiter(rate.Limit(cfg.FlexRate), cfg.FlexBurst)
	}
	return a, nil
}

// Errors returned by Authenticate. The middleware maps them to HTTP answers:
// ErrNoToken and ErrInvalidToken → 401, ErrFlexUnavailable → 503.
var (
	ErrNoToken         = errors.New("missing token")
	ErrInvalidToken    = errors.New("invalid token")
	ErrTokenExpired    = fmt.Errorf("%w: expired", ErrInvalidToken)
	ErrFlexUnavailable = errors.New("flex token validation unavailable")
)

// Authenticate checks the credentials of one request. A bearer token wins
// over a Flex token; a bad bearer token never falls back to the Flex one.
func (a *Authenticator) Authenticate(ctx context.Context, bearer, flexToken string) (Principal, error) {
	switch {
	case bearer != "":
		return a.VerifyJWT(bearer)
	case flexToken != "" && a.flex != nil:
		return a.flex.principal(ctx, flexToken)
	default:
		return Principal{}, ErrNoToken
	}
}
