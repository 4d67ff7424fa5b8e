package survey_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cityhealth/bridge/survey"
)

// FuzzVerify: no input panics, every refusal is ErrInvalid or ErrExpired,
// and whatever verifies carries well-formed claims that mint back to a
// token verifying to the same claims. Seeds: testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	clk := &clock{t: time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)}
	l := mustLinks(f, clk)
	good, err := l.Token("003RM00000Qx1a2YAB", "2026-03-02", "es", clk.t.Add(48*time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := l.Verify(tok)
		switch {
		case errors.Is(err, survey.ErrExpired):
			if c.ContactID == "" || c.Date == "" {
				t.Fatalf("expired without claims: %+v", c)
			}
			return
		case errors.Is(err, survey.ErrInvalid):
			if c.ContactID != "" {
				t.Fatalf("invalid token leaked claims %+v", c)
			}
			return
		case err != nil:
			t.Fatalf("unexpected error kind: %v", err)
		}
		if c.ContactID == "" || len(c.Date) != 10 || c.Language == "" || c.ExpiresAt == nil {
			t.Fatalf("verified claims not well formed: %+v", c)
		}
		again, err := l.Token(c.ContactID, c.Date, c.Language, c.ExpiresAt.Time)
		if err != nil {
			t.Fatalf("claims do not mint again: %v", err)
		}
		c2, err := l.Verify(again)
		if err != nil || c2.ContactID != c.ContactID || c2.Date != c.Date || c2.Language != c.Language {
			t.Fatalf("round trip: %+v %v", c2, err)
		}
	})
}
