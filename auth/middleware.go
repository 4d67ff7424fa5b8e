package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// HeaderFlexToken carries the Flex UI's user token.
const HeaderFlexToken = "X-Flex-Token"

const ginPrincipalKey = "github.com/cityhealth/bridge/auth.principal"

// Require authenticates the request and admits principals allowed any of
// roles (none = any authenticated principal; admin ⊇ agent). It answers
//   - 401 without a token or with an invalid one (WWW-Authenticate: Bearer),
//   - 403 for a valid token of the wrong role,
//   - 503 when the Flex validator cannot be reached,
//
// with a JSON {"error": "..."} body that never echoes the token. A Flex token
// is checked on any route, so that a Flex user on an admin route gets 403
// rather than 401; it only ever yields the agent role.
func (a *Authenticator) Require(roles ...Role) gin.HandlerFunc {
	roles = append([]Role(nil), roles...)
	return func(c *gin.Context) {
		p, err := a.Authenticate(c.Request.Context(), bearerToken(c.Request), c.GetHeader(HeaderFlexToken))
		if err != nil {
			a.refuse(c, err)
			return
		}
		if !allowed(p, roles) {
			a.log.Info("auth: role refused", "source", p.Source, "role", string(p.Role), "path", c.FullPath())
			c.Header("WWW-Authenticate", `Bearer realm="bridge", error="insufficient_scope"`)
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "forbidden: role not allowed"})
			return
		}
		c.Set(ginPrincipalKey, p)
		c.Next()
	}
}

// PrincipalFrom returns the Principal that Require put in c.
func PrincipalFrom(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(ginPrincipalKey)
	if !ok {
		return Principal{}, false
	}
	p, ok := v.(Principal)
	return p, ok
}

func allowed(p Principal, roles []Role) bool {
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if p.Allows(r) {
			return true
		}
	}
	return false
}

func (a *Authenticator) refuse(c *gin.Context, err error) {
	switch {
	case errors.Is(err, ErrFlexUnavailable):
		// Logged: an IAM outage is an operator's problem. The validator's error
		// text carries no token.
		a.log.Warn("auth: flex validation unavailable", "err", err)
		c.Header("Retry-After", "5")
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "token validation unavailable, retry later"})
	case errors.Is(err, ErrNoToken):
		c.Header("WWW-Authenticate", `Bearer realm="bridge"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "missing bearer token"})
	default:
		a.log.Info("auth: token refused", "err", err, "path", c.FullPath())
		msg := "invalid token"
		if errors.Is(err, ErrTokenExpired) {
			msg = "token expired" // lets a client know to refresh
		}
		c.Header("WWW-Authenticate", `Bearer realm="bridge", error="invalid_token"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": msg})
	}
}

// bearerToken returns the token of an "Authorization: Bearer" header, or ""
// (other schemes are ignored). The scheme is case-insensitive (RFC 7235).
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
