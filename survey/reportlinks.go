package survey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ReportValidFor is how long a self-report link works.
const ReportValidFor = 72 * time.Hour

// reportPurpose separates report links from survey links twice over: the
// signing key is derived from BRIDGE_SURVEY_SECRET under this label, and
// the token says it in its "p" claim.
const reportPurpose = "report"

var jtiRe = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// ReportClaims is what a self-report link proves: which case, in which
// language, and which link (jti), so each link is used once.
type ReportClaims struct {
	CaseID   string `json:"r"`
	Language string `json:"l"`
	Purpose  string `json:"p"`
	jwt.RegisteredClaims
}

// LinkID is the link's jti.
func (c ReportClaims) LinkID() string { return c.ID }

// ReportLinks mints and verifies self-report link tokens.
type ReportLinks struct {
	key    []byte
	keys   any // the key, and during a rotation the previous secret's
	base   string
	now    func() time.Time
	parser *jwt.Parser
}

// NewReportLinks checks cfg (the same secret and URL as survey links).
func NewReportLinks(cfg LinksConfig) (*ReportLinks, error) {
	if err := checkLinksConfig(&cfg); err != nil {
		return nil, err
	}
	l := &ReportLinks{key: purposeKey(cfg.Secret), base: strings.TrimRight(cfg.PublicURL, "/"), now: cfg.Now}
	var previous []byte
	if len(cfg.Previous) > 0 {
		previous = purposeKey(cfg.Previous)
	}
	l.keys = verificationKeys(l.key, previous)
	l.parser = linkParser(cfg.Leeway, l.now)
	return l, nil
}

// purposeKey derives the report links' key from the survey secret, so a
// survey token can never verify here, nor the reverse.
func purposeKey(secret []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("bridge link purpose: " + reportPurpose))
	return mac.Sum(nil)
}

// Mint makes a fresh link token for a case; linkID is its jti.
func (l *ReportLinks) Mint(caseID, lang string) (token, linkID string, err error) {
	if !idRe.MatchString(caseID) {
		return "", "", errors.New("survey: case id is not an id")
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", "", err
	}
	linkID = base64.RawURLEncoding.EncodeToString(nonce[:])
	now := l.now()
	t := jwt.NewWithClaims(method, ReportClaims{
		CaseID: caseID, Language: NormalizeLanguage(lang), Purpose: reportPurpose,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        linkID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ReportValidFor)),
		},
	})
	delete(t.Header, "typ")
	token, err = t.SignedString(l.key)
	return token, linkID, err
}

// URL is PublicURL/report/<token>.
func (l *ReportLinks) URL(token string) string { return l.base + "/report/" + token }

// Language is the page language a record's language value selects.
func (l *ReportLinks) Language(tag string) string { return NormalizeLanguage(tag) }

// ValidFor is a link's lifetime.
func (l *ReportLinks) ValidFor() time.Duration { return ReportValidFor }

// Verify checks a token: ErrInvalid for a forged, malformed or survey token;
// ErrExpired (with the claims, for the page's language) past its 72 hours.
func (l *ReportLinks) Verify(token string) (ReportClaims, error) {
	var c ReportClaims
	if len(token) > 1024 {
		return ReportClaims{}, ErrInvalid
	}
	_, err := l.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return l.keys, nil })
	if err != nil && errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) && c.wellFormed() {
		return c, ErrExpired
	}
	if err != nil || !c.wellFormed() {
		return ReportClaims{}, ErrInvalid
	}
	return c, nil
}

func (c ReportClaims) wellFormed() bool {
	return c.Purpose == reportPurpose && idRe.MatchString(c.CaseID) && langRe.MatchString(c.Language) &&
		jtiRe.MatchString(c.ID) && c.IssuedAt != nil && c.ExpiresAt != nil
}
