package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type claims struct {
	Role      string `json:"role"`
	WorkerSID string `json:"worker_sid,omitempty"`
	jwt.RegisteredClaims
}

// VerifyJWT checks a bearer token and returns its principal. Errors wrap
// ErrInvalidToken (ErrTokenExpired for an expired one); their text names the
// failed check but never contains the token.
func (a *Authenticator) VerifyJWT(token string) (Principal, error) {
	var c claims
	_, err := a.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		// The parser has already refused any alg other than the pinned one.
		return a.key, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, ErrTokenExpired
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// A token minted to outlive policy, or dated in the future (a clock
	// trick to stretch its life), is refused however it is signed.
	now := a.now()
	if c.ExpiresAt == nil {
		return Principal{}, fmt.Errorf("%w: missing exp", ErrInvalidToken)
	}
	if c.IssuedAt != nil {
		if c.IssuedAt.After(now.Add(a.leeway)) {
			return Principal{}, fmt.Errorf("%w: issued in the future", ErrInvalidToken)
		}
		if c.ExpiresAt.Sub(c.IssuedAt.Time) > a.maxTTL {
			return Principal{}, fmt.Errorf("%w: lifetime exceeds BRIDGE_JWT_MAX_TTL", ErrInvalidToken)
		}
	} else if c.ExpiresAt.Sub(now) > a.maxTTL+a.leeway {
		return Principal{}, fmt.Errorf("%w: lifetime exceeds BRIDGE_JWT_MAX_TTL", ErrInvalidToken)
	}
	role := Role(c.Role)
	if !role.Valid() {
		return Principal{}, fmt.Errorf("%w: unknown role", ErrInvalidToken)
	}
	if c.Subject == "" {
		return Principal{}, fmt.Errorf("%w: missing sub", ErrInvalidToken)
	}
	return Principal{Subject: c.Subject, Role: role, WorkerSID: c.WorkerSID, Source: SourceJWT}, nil
}

// MintClaims describes a token to mint.
type MintClaims struct {
	Subject   string
	Role      Role
	WorkerSID string        // the agent's TaskRouter worker; needed for click-to-call
	Issuer    string        // default "bridge"
	Audience  string        // default "bridge"
	TTL       time.Duration // required, > 0
	Now       time.Time     // default time.Now()
}

// Mint signs an HS256 token for `bridge token` and the demo.
func Mint(secret []byte, mc MintClaims) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("mint token: empty secret")
	}
	if mc.Subject == "" {
		return "", errors.New("mint token: subject is required")
	}
	if !mc.Role.Valid() {
		return "", fmt.Errorf("mint token: role must be %q or %q", RoleAgent, RoleAdmin)
	}
	if mc.TTL <= 0 {
		return "", errors.New("mint token: TTL must be positive")
	}
	if mc.Issuer == "" {
		mc.Issuer = DefaultIssuer
	}
	if mc.Audience == "" {
		mc.Audience = DefaultAudience
	}
	if mc.Now.IsZero() {
		mc.Now = time.Now()
	}
	c := claims{
		Role:      string(mc.Role),
		WorkerSID: mc.WorkerSID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   mc.Subject,
			Issuer:    mc.Issuer,
			Audience:  jwt.ClaimStrings{mc.Audience},
			IssuedAt:  jwt.NewNumericDate(mc.Now),
			ExpiresAt: jwt.NewNumericDate(mc.Now.Add(mc.TTL)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// ParsePublicKey reads a PEM public key for Config.PublicKey: PKIX
// ("PUBLIC KEY"), PKCS#1 ("RSA PUBLIC KEY") or the key of a "CERTIFICATE",
// as SSO providers publish any of them.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parse public key: no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return cert.PublicKey, nil
	default:
		return nil, fmt.Errorf("parse public key: unsupported PEM block %q", block.Type)
	}
}
