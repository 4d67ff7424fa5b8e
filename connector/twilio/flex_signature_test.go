package twilio_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/test/twiliosim"
)

func TestValidateFlexToken(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	good := e.sim.IssueFlexToken("ana@cityhealth.org", "WK0123456789abcdef0123456789abcdef", time.Hour)
	short := e.sim.IssueFlexToken("bo", "WK1", time.Minute)
	e.clock.Add(2 * time.Minute)

	tests := []struct {
		name     string
		token    string
		wantCode int // 0 = valid
	}{
		{"valid", good, 0},
		{"unknown", "eyJhbGciOiJkaXIifQ..a.b.c", twilio.CodeTokenInvalid},
		{"expired", short, twilio.CodeTokenExpired},
		{"empty", "", twilio.CodeTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := e.c.ValidateFlexToken(ctx, tt.token)
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatal(err)
				}
				want := twilio.FlexIdentity{Identity: "ana@cityhealth.org", WorkerSID: "WK0123456789abcdef0123456789abcdef",
					Roles: []string{"agent"}, Expiration: e.clock.Now().Add(time.Hour - 2*time.Minute)}
				if !reflect.DeepEqual(id, want) {
					t.Fatalf("got %+v, want %+v", id, want)
				}
				return
			}
			var fe *twilio.FlexTokenError
			if !errors.Is(err, twilio.ErrFlexTokenInvalid) || !errors.As(err, &fe) || fe.Code != tt.wantCode {
				t.Fatalf("want invalid token code %d, got %v", tt.wantCode, err)
			}
		})
	}
	if n := e.sim.Calls(twiliosim.OpValidateToken); n != 3 {
		t.Errorf("%d IAM calls, want 3 (the empty token is refused locally)", n)
	}

	t.Run("IAM down", func(t *testing.T) {
		e.sim.FailNext(twiliosim.OpValidateToken, 1, 503)
		_, err := e.c.ValidateFlexToken(ctx, good)
		if errors.Is(err, twilio.ErrFlexTokenInvalid) || !retried(err) {
			t.Fatalf("got %v", err)
		}
	})
}

// sampleEvent reads the TaskRouter event fixture: name=value lines, # comments.
func sampleEvent(tb testing.TB) url.Values {
	tb.Helper()
	f, err := os.Open("testdata/twilio-taskrouter-event.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	v := url.Values{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			tb.Fatalf("bad fixture line %q", line)
		}
		v.Set(k, val)
	}
	if v.Get("EventType") != "task.completed" || !strings.HasPrefix(v.Get("TaskAttributes"), "{") {
		tb.Fatalf("fixture not parsed: %v", v)
	}
	return v
}

func TestSignValidateRoundTrip(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	params := sampleEvent(t)
	urls := []string{
		"https://bridge.cityhealth.org/webhooks/twilio/taskrouter",
		"https://bridge.cityhealth.org:8443/webhooks/twilio/taskrouter?tenant=nyc&v=2",
		"http://127.0.0.1:38211/webhooks/twilio/taskrouter?token=a%20b",
	}
	v := twilio.NewSignatureValidator(token)
	sim := twiliosim.New(twiliosim.Options{AuthToken: token})
	defer sim.Close()
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			sig := twilio.Sign(token, u, params)
			if !v.Validate(u, params, sig) {
				t.Fatal("own signature rejected")
			}
			// twilio-go's validator, used directly, agrees
			rv := twclient.NewRequestValidator(token)
			if !rv.ValidateBody(u, []byte(params.Encode()), sig) {
				t.Fatal("twilio-go rejects Sign's signature")
			}
			if !v.ValidateBody(u, []byte(params.Encode()), sig) {
				t.Fatal("ValidateBody rejects")
			}
			if got := sim.Sign(u, params); got != sig {
				t.Fatalf("sim signs %s, connector %s", got, sig)
			}

			tampered := url.Values{}
			for k, vs := range params {
				tampered[k] = append([]string(nil), vs...)
			}
			tampered.Set("TaskAttributes", strings.Replace(params.Get("TaskAttributes"), "quarantine", "nothing", 1))
			cases := map[string]bool{
				"tampered params": v.Validate(u, tampered, sig),
				"other token":     twilio.NewSignatureValidator("ffffffffffffffffffffffffffffffff").Validate(u, params, sig),
				"other url":       v.Validate(u+"x", params, sig),
				"empty signature": v.Validate(u, params, ""),
			}
			for name, ok := range cases {
				if ok {
					t.Errorf("%s accepted", name)
				}
			}
		})
	}

	// Twilio signs every value of a repeated key (sorted, each once), as its
	// libraries validate; a second value changed in transit is refused.
	t.Run("repeated keys", func(t *testing.T) {
		u := "https://bridge.cityhealth.org/webhooks/twilio/sms"
		form := url.Values{"MessageSid": {"SM" + strings.Repeat("0", 32)}, "MediaUrl": {"https://b.example/2", "https://a.example/1", "https://a.example/1"}}
		sig := sim.Sign(u, form)
		if sig != twilio.Sign(token, u, form) {
			t.Fatal("sim and connector sign repeated keys differently")
		}
		// The string Twilio's libraries sign: key+value for each sorted, unique value.
		mac := hmac.New(sha1.New, []byte(token))
		mac.Write([]byte(u + "MediaUrlhttps://a.example/1MediaUrlhttps://b.example/2MessageSidSM" + strings.Repeat("0", 32)))
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); sig != want {
			t.Fatalf("signature %s, want %s (every value signed)", sig, want)
		}
		if !v.Validate(u, form, sig) || !v.ValidateBody(u, []byte(form.Encode()), sig) {
			t.Fatal("a signature over every value is refused")
		}
		tampered := url.Values{"MessageSid": form["MessageSid"], "MediaUrl": {"https://a.example/1", "https://evil.example/2"}}
		if v.Validate(u, tampered, sig) || v.ValidateBody(u, []byte(tampered.Encode()), sig) {
			t.Fatal("a changed second value is accepted")
		}
		firstOnly := twclient.NewRequestValidator(token)
		if firstOnly.Validate(u, map[string]string{"MediaUrl": "https://a.example/1", "MessageSid": form.Get("MessageSid")}, sig) {
			t.Fatal("test is vacuous: twilio-go's first-value check agrees")
		}
	})

	t.Run("port variants", func(t *testing.T) {
		// Twilio may sign with or without the default port; the validator tries both.
		sig := twilio.Sign(token, "https://bridge.cityhealth.org/webhooks/twilio/sms", params)
		if !v.Validate("https://bridge.cityhealth.org:443/webhooks/twilio/sms", params, sig) {
			t.Error("explicit :443 not accepted")
		}
	})
}
