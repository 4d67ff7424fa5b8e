package twiliosim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

type flexToken struct {
	identity, workerSID string
	roles               []string
	expires             time.Time
}

// IssueFlexToken registers a Flex user token valid for ttl by the sim's
// clock and returns it: an opaque five-part string shaped like a JWE.
func (s *Server) IssueFlexToken(identity, workerSID string, ttl time.Duration) string {
	return s.IssueFlexTokenWithRoles(identity, workerSID, []string{"agent"}, ttl)
}

// IssueFlexTokenWithRoles is IssueFlexToken with other roles (supervisor, admin).
func (s *Server) IssueFlexTokenWithRoles(identity, workerSID string, roles []string, ttl time.Duration) string {
	part := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","kid":"sim"}`))
	tok := header + ".." + part(12) + "." + part(96) + "." + part(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = flexToken{identity: identity, workerSID: workerSID, roles: append([]string(nil), roles...), expires: s.now().Add(ttl)}
	return tok
}

// validateToken answers like IAM's Tokens/validate.
func (s *Server) validateToken(w http.ResponseWriter, r *http.Request) {
	if !s.checkAccount(w, r) || !s.begin(w, r, OpValidateToken) {
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, 400, 20001, "Request body must be JSON {\"token\": …}")
		return
	}
	s.mu.Lock()
	t, ok := s.tokens[req.Token]
	now := s.now()
	s.mu.Unlock()
	s.finish(r, OpValidateToken)
	switch {
	case !ok:
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "code": 20101, "message": "Invalid Access Token", "expiration": nil})
	case !now.Before(t.expires):
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "code": 20104, "message": "Access Token expired or expiration date invalid", "expiration": t.expires.Format("2006-01-02T15:04:05.000Z")})
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"valid": true, "code": 0, "message": nil,
			"expiration":    t.expires.Format("2006-01-02T15:04:05.000Z"),
			"realm_user_id": "US" + randHex(16),
			"identity":      t.identity,
			"roles":         t.roles,
			"worker_sid":    t.workerSID,
		})
	}
}
