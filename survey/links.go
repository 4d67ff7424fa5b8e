// Package survey mints the signed, single-use links that reminder SMS carry
// and serves the symptom-survey page behind them.
package survey

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verification failures. Pages answer 404 for ErrInvalid and 410 for ErrExpired.
var (
	ErrInvalid = errors.New("survey link invalid")
	ErrExpired = errors.New("survey link expired")
)

// LinkValidDays: a link works until the end of the second day after its day.
const LinkValidDays = 2

// method is the only algorithm minted and accepted.
var method = jwt.SigningMethodHS256

var (
	dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	langRe = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$`)
	// Salesforce ids, and anything id-like a test or another CRM object uses.
	idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// LinksConfig configures Links.
type LinksConfig struct {
	Secret []byte // BRIDGE_SURVEY_SECRET
	// Previous (BRIDGE_SURVEY_SECRET_PREVIOUS) still verifies links minted
	// before a rotation; new links are signed with Secret only.
	Previous  []byte
	PublicURL string // BRIDGE_PUBLIC_URL, scheme://host[:port]
	Now       func() time.Time
	// Leeway absorbs clock skew between instances; default 1 minute.
	Leeway time.Duration
}

// Links mints and verifies survey link tokens.
type Links struct {
	secret []byte
	keys   any // what Verify checks against: the secret, or both during a rotation
	base   string
	now    func() time.Time
	parser *jwt.Parser
}

// Claims is what a link proves. Short JSON names keep the SMS short.
type Claims struct {
	ContactID string `json:"c"`
	Date      string `json:"d"` // YYYY-MM-DD, the reminder's day
	Language  string `json:"l"`
	// iat doubles as not-before: a link is valid from when it was scheduled.
	jwt.RegisteredClaims
}

// NewLinks checks cfg.
func NewLinks(cfg LinksConfig) (*Links, error) {
	if err := checkLinksConfig(&cfg); err != nil {
		return nil, err
	}
	l := &Links{
		secret: append([]byte(nil), cfg.Secret...),
		base:   strings.TrimRight(cfg.PublicURL, "/"),
		now:    cfg.Now,
	}
	l.keys = verificationKeys(l.secret, cfg.Previous)
	l.parser = linkParser(cfg.Leeway, l.now)
	return l, nil
}

// verificationKeys is what Verify accepts: the current key, and during a
// rotation the previous one too (never used to sign).
func verificationKeys(current, previous []byte) any {
	if len(previous) == 0 {
		return current
	}
	return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{current, append([]byte(nil), previous...)}}
}

// linkParser accepts only what the bridge mints: HS256, exp required, iat
// not in the future, strict base64.
func linkParser(leeway time.Duration, now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{method.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now() }),
		jwt.WithStrictDecoding(),
	)
}

// checkLinksConfig validates cfg and fills its defaults.
func checkLinksConfig(cfg *LinksConfig) error {
	if len(cfg.Secret) == 0 {
		return errors.New("survey: BRIDGE_SURVEY_SECRET is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("survey: BRIDGE_PUBLIC_URL %q is not scheme://host[:port]", cfg.PublicURL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = time.Minute
	}
	return nil
}

// ValidUntil is when a link for date stops working: the end of the day
// LinkValidDays after it, in the reminders' zone (midnight that starts the
// day after, so "2 days after its day" holds whatever the hour of the SMS).
func ValidUntil(date string, loc *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", date, loc)
	if err != nil || !dateRe.MatchString(date) {
		return time.Time{}, fmt.Errorf("survey: date %q is not YYYY-MM-DD", date)
	}
	return d.AddDate(0, 0, LinkValidDays+1), nil
}

// Token mints the token of a link for one contact and day.
func (l *Links) Token(contactID, date, lang string, validUntil time.Time) (string, error) {
	if !idRe.MatchString(contactID) {
		return "", errors.New("survey: contact id is not an id")
	}
	if _, err := time.Parse("2006-01-02", date); err != nil || !dateRe.MatchString(date) {
		return "", fmt.Errorf("survey: date %q is not YYYY-MM-DD", date)
	}
	lang = NormalizeLanguage(lang)
	now := l.now()
	if !validUntil.After(now) {
		return "", errors.New("survey: link would be expired already")
	}
	t := jwt.NewWithClaims(method, Claims{
		ContactID: contactID, Date: date, Language: lang,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(validUntil),
		},
	})
	delete(t.Header, "typ") // 16 characters fewer in every SMS
	return t.SignedString(l.secret)
}

// NormalizeLanguage lower-cases a language tag; anything that is not one
// (a picklist value the mapping did not translate, say) becomes "en".
func NormalizeLanguage(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(lang, "_", "-")))
	if !langRe.MatchString(lang) {
		return "en"
	}
	return lang
}

// Link is PublicURL/survey/<token>.
func (l *Links) Link(contactID, date, lang string, validUntil time.Time) (string, error) {
	tok, err := l.Token(contactID, date, lang, validUntil)
	if err != nil {
		return "", err
	}
	return l.base + "/survey/" + tok, nil
}

// DayLink is Link for a contact's monitoring day, valid until
// ValidUntil(date, loc) (flow/monitoring's Links).
func (l *Links) DayLink(contactID, date, lang string, loc *time.Location) (string, error) {
	until, err := ValidUntil(date, loc)
	if err != nil {
		return "", err
	}
	return l.Link(contactID, date, lang, until)
}

// Language is NormalizeLanguage, for flows that mint links through an
// interface.
func (l *Links) Language(tag string) string { return NormalizeLanguage(tag) }

// Verify checks a token. A forged, malformed or not-yet-valid token gives
// ErrInvalid; a genuine one past its expiry gives ErrExpired together with
// its claims, so the 410 page can speak the contact's language.
func (l *Links) Verify(token string) (Claims, error) {
	var c Claims
	if len(token) > 1024 {
		return Claims{}, ErrInvalid
	}
	_, err := l.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return l.keys, nil })
	// The signature is checked before the claims, so "expired" is only
	// reported for tokens this bridge minted.
	if err != nil && errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) && wellFormed(c) {
		return c, ErrExpired
	}
	if err != nil || !wellFormed(c) {
		return Claims{}, ErrInvalid
	}
	return c, nil
}

func wellFormed(c Claims) bool {
	if !idRe.MatchString(c.ContactID) || !dateRe.MatchString(c.Date) || !langRe.MatchString(c.Language) {
		return false
	}
	if _, err := time.Parse("2006-01-02", c.Date); err != nil {
		return false
	}
	return c.IssuedAt != nil && c.ExpiresAt != nil
}
