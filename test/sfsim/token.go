package sfsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxAssertionLife is how far ahead exp may be: Salesforce wants at most 3 minutes (plus skew).
const maxAssertionLife = 3*time.Minute + 30*time.Second

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// serveToken is POST /services/oauth2/token with the JWT bearer grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.tokenCalls.Add(1)
	if r.Method != http.MethodPost {
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP POST")
		return
	}
	s.mu.Lock()
	if len(s.tokenFaults) > 0 {
		f := &s.tokenFaults[0]
		f.n--
		code, desc := f.code, f.desc
		if f.n <= 0 {
			s.tokenFaults = s.tokenFaults[1:]
		}
		s.mu.Unlock()
		tokenError(w, http.StatusBadRequest, code, desc)
		return
	}
	s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "invalid request body")
		return
	}
	if r.PostForm.Get("grant_type") != jwtBearerGrant {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
		return
	}
	assertion := r.PostForm.Get("assertion")
	var unverified jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &unverified); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
		return
	}
	if unverified.Issuer != s.ClientID {
		tokenError(w, http.StatusBadRequest, "invalid_client_id", "client identifier invalid")
		return
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now), jwt.WithLeeway(30*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "expired authorization code")
		return
	case err != nil:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
		return
	case claims.ExpiresAt.Time.After(s.now().Add(maxAssertionLife)):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
		return
	case !s.audienceOK(assertion):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "audience is invalid")
		return
	case claims.Subject != s.Username:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "user hasn't approved this consumer")
		return
	}
	s.mu.Lock()
	tok := s.newTokenLocked()
	s.mu.Unlock()
	issued := strconv.FormatInt(s.now().UnixMilli(), 10)
	id := s.URL + "/id/" + s.OrgID + "/0055g00000SimUsrAAA"
	mac := hmac.New(sha256.New, []byte(s.ClientID))
	mac.Write([]byte(id + issued))
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": tok,
		"scope":        "api",
		"instance_url": s.URL,
		"id":           id,
		"token_type":   "Bearer",
		"issued_at":    issued,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
	})
}

// audienceOK wants aud to be the one string https://login.salesforce.com (or
// https://test.salesforce.com for a sandbox), whatever host the request came
// to, My Domain included (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for
// Server-to-Server Integration": "aud: ... https://login.salesforce.com,
// https://test.salesforce.com, or https://site.force.com/customers if
// implementing for an Experience Cloud site"). An array is refused.
func (s *Server) audienceOK(assertion string) bool {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var payload struct {
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(raw, &payload) != nil {
		return false
	}
	var aud string
	if json.Unmarshal(payload.Aud, &aud) != nil {
		return false
	}
	want := "https://login.salesforce.com"
	if s.opts.Sandbox {
		want = "https://test.salesforce.com"
	}
	return aud == want
}
