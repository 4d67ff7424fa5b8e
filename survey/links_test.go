package survey_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cityhealth/bridge/survey"
)

const secret = "test-survey-secret-0123456789abcdef"

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func mustLinks(tb testing.TB, clk *clock) *survey.Links {
	tb.Helper()
	l, err := survey.NewLinks(survey.LinksConfig{Secret: []byte(secret), PublicURL: "https://bridge.example.org/", Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestLinkRoundTripAndExpiry(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	l := mustLinks(t, clk)
	until, err := survey.ValidUntil("2026-03-07", ny)
	if err != nil {
		t.Fatal(err)
	}
	// the end of 9 March in New York, which is in EDT by then
	if want := time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC); !until.Equal(want) {
		t.Fatalf("ValidUntil = %s, want %s", until, want)
	}
	link, err := l.Link("003RM00000Qx1a2YAB", "2026-03-07", "es-MX", until)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "https://bridge.example.org/survey/"
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("link %q", link)
	}
	tok := strings.TrimPrefix(link, prefix)
	if len(link) > 220 {
		t.Errorf("link is %d characters; keep SMS short", len(link))
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if string(header) != `{"alg":"HS256"}` {
		t.Errorf("header %s", header)
	}

	c, err := l.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.ContactID != "003RM00000Qx1a2YAB" || c.Date != "2026-03-07" || c.Language != "es-mx" {
		t.Fatalf("claims %+v", c)
	}
	if !c.IssuedAt.Time.Equal(clk.t) {
		t.Errorf("iat %s", c.IssuedAt.Time)
	}

	clk.t = until.Add(-2 * time.Minute)
	if _, err := l.Verify(tok); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clk.t = until.Add(2 * time.Minute)
	c, err = l.Verify(tok)
	if !errors.Is(err, survey.ErrExpired) || c.Language != "es-mx" {
		t.Fatalf("after expiry: %v %+v", err, c)
	}
	// not valid before it was scheduled
	clk.t = time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)
	if _, err := l.Verify(tok); !errors.Is(err, survey.ErrInvalid) {
		t.Fatalf("before iat: %v", err)
	}
}

func TestVerifyRefusesForgeries(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	l := mustLinks(t, clk)
	exp := clk.t.Add(48 * time.Hour)
	good, err := l.Token("003RM00000Qx1a2YAB", "2026-03-02", "en", exp)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(c, d, lang string, exp time.Time) survey.Claims {
		return survey.Claims{ContactID: c, Date: d, Language: lang, RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(clk.t), ExpiresAt: jwt.NewNumericDate(exp)}}
	}
	sign := func(m jwt.SigningMethod, key any, c survey.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	parts := strings.Split(good, ".")
	tests := map[string]string{
		"other secret":      sign(jwt.SigningMethodHS256, []byte("another-secret"), claims("003RM00000Qx1a2YAB", "2026-03-02", "en", exp)),
		"HS512 same secret": sign(jwt.SigningMethodHS512, []byte(secret), claims("003RM00000Qx1a2YAB", "2026-03-02", "en", exp)),
		"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("003RM00000Qx1a2YAB", "2026-03-02", "en", exp)),
		"expired forgery":   sign(jwt.SigningMethodHS256, []byte("another-secret"), claims("003RM00000Qx1a2YAB", "2026-03-02", "en", clk.t.Add(-time.Hour))),
		"no expiry":         sign(jwt.SigningMethodHS256, []byte(secret), survey.Claims{ContactID: "003RM00000Qx1a2YAB", Date: "2026-03-02", Language: "en"}),
		"bad date":          sign(jwt.SigningMethodHS256, []byte(secret), claims("003RM00000Qx1a2YAB", "2026-02-30", "en", exp)),
		"no contact":        sign(jwt.SigningMethodHS256, []byte(secret), claims("", "2026-03-02", "en", exp)),
		"odd language":      sign(jwt.SigningMethodHS256, []byte(secret), claims("003RM00000Qx1a2YAB", "2026-03-02", "<script>", exp)),
		"payload swapped":   parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"c":"003RM00000Qx1a2ZZZ","d":"2026-03-02","l":"en","iat":1772366400,"exp":1900000000}`)) + "." + parts[2],
		"signature cut":     parts[0] + "." + parts[1] + "." + parts[2][:10],
		"empty":             "",
		"garbage":           "not-a-token",
		"huge":              strings.Repeat("a", 5000),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := l.Verify(tok); !errors.Is(err, survey.ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNewLinksChecksConfig(t *testing.T) {
	for name, cfg := range map[string]survey.LinksConfig{
		"no secret": {PublicURL: "https://x.example"},
		"no url":    {Secret: []byte(secret)},
		"bad url":   {Secret: []byte(secret), PublicURL: "x.example"},
	} {
		if _, err := survey.NewLinks(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	l := mustLinks(t, &clock{t: time.Now()})
	if _, err := l.Link("003", "2026-13-01", "en", time.Now().Add(time.Hour)); err == nil {
		t.Error("bad date minted")
	}
	if _, err := l.Link("003", "2026-03-01", "en", time.Now().Add(-time.Hour)); err == nil {
		t.Error("expired link minted")
	}
}
