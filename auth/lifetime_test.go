package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenLifetimes(t *testing.T) {
	clk := newClock()
	a := MustNew(t, Config{HMACSecret: testSecret, MaxTTL: 8 * time.Hour, Now: clk.Now})
	cases := []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"an hour", baseClaims("agent"), true},
		{"exactly the max", with(baseClaims("agent"), "exp", testNow.Add(8*time.Hour).Unix()), true},
		{"longer than the max", with(baseClaims("agent"), "exp", testNow.Add(8*time.Hour+time.Second).Unix()), false},
		{"a year", with(baseClaims("admin"), "exp", testNow.Add(365*24*time.Hour).Unix()), false},
		{"iat within the leeway", with(baseClaims("agent"), "iat", testNow.Add(20*time.Second).Unix()), true},
		{"iat in the future", with(baseClaims("agent"), "iat", testNow.Add(time.Hour).Unix(), "exp", testNow.Add(2*time.Hour).Unix()), false},
		{"no iat, near exp", with(baseClaims("agent"), "iat", nil), true},
		{"no iat, far exp", with(baseClaims("agent"), "iat", nil, "exp", testNow.Add(48*time.Hour).Unix()), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.claims {
				if v == nil {
					delete(tc.claims, k)
				}
			}
			_, err := a.VerifyJWT(MustSign(t, jwt.SigningMethodHS256, testSecret, tc.claims))
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestPreviousSecretDuringRotation(t *testing.T) {
	old, cur := []byte("old-secret-old-secret-old-secret-01"), []byte("new-secret-new-secret-new-secret-01")
	rotating := MustNew(t, Config{HMACSecret: cur, HMACPrevious: old, Now: newClock().Now})
	done := MustNew(t, Config{HMACSecret: cur, Now: newClock().Now})
	oldTok := MustSign(t, jwt.SigningMethodHS256, old, baseClaims("agent"))
	newTok := MustSign(t, jwt.SigningMethodHS256, cur, baseClaims("agent"))
	other := MustSign(t, jwt.SigningMethodHS256, []byte("some-other-secret-some-other-secret"), baseClaims("agent"))
	if _, err := rotating.VerifyJWT(oldTok); err != nil {
		t.Fatalf("old-key token refused during the rotation: %v", err)
	}
	if _, err := rotating.VerifyJWT(newTok); err != nil {
		t.Fatalf("new-key token refused: %v", err)
	}
	if _, err := rotating.VerifyJWT(other); err == nil {
		t.Fatal("a token under a third key was accepted")
	}
	if _, err := done.VerifyJWT(oldTok); err == nil {
		t.Fatal("old-key token accepted after the rotation ended")
	}
}

// Fresh random tokens (an anonymous flood) cost at most the burst in IAM
// calls; the rest get 503 (ErrFlexUnavailable) without a call.
func TestFlexIAMCallsRateLimited(t *testing.T) {
	flex := &fakeFlex{ValidateFn: func(context.Context, string) (FlexIdentity, error) { return FlexIdentity{}, ErrFlexTokenInvalid }}
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex, FlexRate: 0.001, FlexBurst: 5, Now: newClock().Now})
	unavailable := 0
	for i := range 50 {
		_, err := a.Authenticate(context.Background(), "", fmt.Sprintf("random-%d", i))
		if errors.Is(err, ErrFlexUnavailable) {
			unavailable++
		}
	}
	if n := flex.calls.Load(); n != 5 {
		t.Fatalf("IAM calls = %d, want 5 (the burst)", n)
	}
	if unavailable != 45 {
		t.Fatalf("%d answered unavailable, want 45", unavailable)
	}
}
