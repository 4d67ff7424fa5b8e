package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	twclient "github.com/twilio/twilio-go/client"

	"github.com/cityhealth/bridge/config"
)

func runInput(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runWithInput(context.Background(), args, config.MapSource(env), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpOnEveryCommandExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"serve", "-h"}, {"serve", "--help"}, {"demo", "-h"}, {"mapping", "-h"},
		{"mapping", "validate", "-h"}, {"token", "-h"}, {"backfill", "-h"}, {"twilio", "-h"}, {"twilio", "sign", "-h"},
	} {
		// No configuration at all: help must not need any.
		code, out, stderr := runInput(t, map[string]string{}, "", args...)
		if code != 0 || !strings.Contains(out, "usage") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
		if strings.Contains(out+stderr, "config") && strings.Contains(out+stderr, "is required") {
			t.Errorf("%v printed a configuration error: %s", args, out+stderr)
		}
	}
	if code, _, stderr := runInput(t, nil, "", "token", "--bogus"); code != 2 || !strings.Contains(stderr, "bogus") {
		t.Errorf("an unknown flag: exit %d %q", code, stderr)
	}
}

func TestMappingValidateGivesFileLinePathMessage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	doc := strings.Replace(config.ExampleMapping, "transform: e164, required: true}", "transform: e165, required: true}", 1)
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	wantLine := 0
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, "e165") {
			wantLine = i + 1
			break
		}
	}
	code, _, stderr := runInput(t, nil, "", "mapping", "validate", bad)
	want := bad + ":" + itoa(wantLine) + ": record_to_task.attributes.to"
	if code != 1 || !strings.HasPrefix(stderr, want) {
		t.Fatalf("want a line starting %q, got %d %q", want, code, stderr)
	}

	// A YAML syntax error names its line too, and no empty path.
	code, _, stderr = runInput(t, nil, "record_to_task:\n  object: [Contact\n", "mapping", "validate", "-")
	if code != 1 || !strings.HasPrefix(stderr, "<stdin>:3: not valid YAML") || strings.Contains(stderr, ": : ") || strings.Contains(stderr, "line 3") {
		t.Fatalf("syntax error: %d %q", code, stderr)
	}
	// - reads standard input.
	if code, out, stderr := runInput(t, nil, config.ExampleMapping, "mapping", "validate", "-"); code != 0 || out != "<stdin>: ok\n" {
		t.Fatalf("stdin: %d %q %q", code, out, stderr)
	}
	if code, _, _ := runInput(t, nil, "", "mapping", "validate"); code != 2 {
		t.Fatalf("no file: exit %d", code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTokenRefusals(t *testing.T) {
	good := map[string]string{"BRIDGE_JWT_SECRET": strings.Repeat("k", 32)}
	const wk = "WK0123456789abcdef0123456789abcdef"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"short secret", map[string]string{"BRIDGE_JWT_SECRET": "short"}, []string{"--role", "admin", "--sub", "x"}, "at least 32 bytes"},
		{"agent without worker", good, []string{"--role", "agent", "--sub", "ana"}, "--worker-sid"},
		{"malformed worker", good, []string{"--role", "agent", "--sub", "ana", "--worker-sid", "WK123"}, "--worker-sid"},
		{"uppercase worker", good, []string{"--role", "agent", "--sub", "ana", "--worker-sid", strings.ToUpper(wk)}, "--worker-sid"},
		{"ttl over the maximum", good, []string{"--role", "agent", "--sub", "ana", "--worker-sid", wk, "--ttl", "1000h"}, "BRIDGE_JWT_MAX_TTL"},
		{"negative ttl", good, []string{"--role", "admin", "--sub", "x", "--ttl", "-1h"}, "--ttl"},
	}
	for _, c := range cases {
		code, out, stderr := runInput(t, c.env, "", append([]string{"token"}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", c.name, code, out, stderr)
		}
		if strings.Contains(stderr, "short") && c.name == "short secret" && strings.Contains(stderr, "=short") {
			t.Errorf("%s: the secret was echoed", c.name)
		}
	}
	if code, out, stderr := runInput(t, good, "", "token", "--role", "agent", "--sub", "ana", "--worker-sid", wk, "--ttl", "24h"); code != 0 || out == "" {
		t.Fatalf("24h agent token: %d %q", code, stderr)
	}
}

func TestTwilioSignMatchesTwilioGoAndPosts(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	env := map[string]string{"BRIDGE_TWILIO_AUTH_TOKEN": token}
	var got url.Values
	var gotSig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got, gotSig = r.PostForm, r.Header.Get("X-Twilio-Signature")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<Response/>")
	}))
	defer srv.Close()
	target := srv.URL + "/webhooks/twilio/sms?x=1"
	code, out, stderr := runInput(t, env, "", "twilio", "sign", "--post", "--url", target, "Body=STOP now", "From=+12125550123")
	if code != 0 || !strings.HasPrefix(out, "HTTP 200\n<Response/>") {
		t.Fatalf("post: %d %q %q", code, out, stderr)
	}
	params := map[string]string{"Body": "STOP now", "From": "+12125550123"}
	rv := twclient.NewRequestValidator(token)
	if got.Get("Body") != "STOP now" || !rv.Validate(target, params, gotSig) {
		t.Fatalf("the receiver got %v with a signature twilio-go refuses", got)
	}
	// Without --post: the signature and a curl command carrying it.
	code, out, _ = runInput(t, env, "", "twilio", "sign", "--url", target, "Body=STOP now", "From=+12125550123")
	if code != 0 || !strings.Contains(out, "X-Twilio-Signature: "+gotSig) || !strings.Contains(out, "--data-urlencode 'Body=STOP now'") {
		t.Fatalf("print: %d %q", code, out)
	}
	for _, bad := range [][]string{
		{"twilio", "sign", "--url", "/relative", "a=b"},
		{"twilio", "sign", "--url", target, "novalue"},
		{"twilio", "sign", "--url", target, "a=1", "a=2"},
	} {
		if code, _, _ := runInput(t, env, "", bad...); code != 2 {
			t.Errorf("%v: exit %d", bad, code)
		}
	}
	if code, _, stderr := runInput(t, map[string]string{}, "", "twilio", "sign", "--url", target, "a=b"); code != 2 || !strings.Contains(stderr, "BRIDGE_TWILIO_AUTH_TOKEN") {
		t.Errorf("no token: %d %q", code, stderr)
	}
	// A refused post exits 1.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	if code, out, _ := runInput(t, env, "", "twilio", "sign", "--post", "--url", target, "a=b"); code != 1 || !strings.HasPrefix(out, "HTTP 403") {
		t.Errorf("403: %d %q", code, out)
	}
}

func TestEmbeddedRedisExpiresKeysOnTime(t *testing.T) {
	ctx := context.Background()
	mr, stop, err := embeddedRedis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, "k").Result(); n != 1 {
		t.Fatal("key gone at once")
	}
	// Polls rather than sleeps a fixed time; a clock that never runs fails here.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := rdb.Exists(ctx, "k").Result(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 300 ms key still exists after 5 s: the embedded Redis's clock is not running")
		}
	}
}
