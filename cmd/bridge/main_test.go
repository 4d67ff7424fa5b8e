package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/test/sfsim"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, config.MapSource(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

func serveEnv(t *testing.T) map[string]string {
	sf := sfsim.New(sfsim.Options{})
	t.Cleanup(sf.Close)
	key := filepath.Join(t.TempDir(), "sf.pem")
	if err := os.WriteFile(key, sf.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"BRIDGE_PUBLIC_URL": "https://bridge.example.org", "BRIDGE_REDIS_URL": "redis://127.0.0.1:1/0",
		"BRIDGE_SF_CLIENT_ID": "c", "BRIDGE_SF_USERNAME": "u", "BRIDGE_SF_PRIVATE_KEY_FILE": key,
		"BRIDGE_SF_ORG_ID": "00DRM000000AbCD2AY", "BRIDGE_TWILIO_ACCOUNT_SID": "AC5ef8732a3c49700934481addd5ce1659",
		"BRIDGE_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef", "BRIDGE_TWILIO_WORKSPACE_SID": "WS7a1f6a7bca0d4e0d8bd2e1c0a2f3b4c5",
		"BRIDGE_TWILIO_WORKFLOW_SID": "WW0123456789abcdef0123456789abcdef", "BRIDGE_JWT_SECRET": "a-jwt-secret-a-jwt-secret-a-jwt-secret",
		"BRIDGE_SURVEY_SECRET": "a-survey-secret-a-survey-secret-a-survey",
	}
}

func TestServeWithoutRedisURLNamesIt(t *testing.T) {
	env := serveEnv(t)
	delete(env, "BRIDGE_REDIS_URL")
	code, _, stderr := runCmd(t, env, "serve")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "BRIDGE_REDIS_URL") {
		t.Fatalf("want one line naming BRIDGE_REDIS_URL and a non-zero exit, got %d %q", code, stderr)
	}
}

func TestServeMalformedSettingNamesIt(t *testing.T) {
	env := serveEnv(t)
	env["BRIDGE_TWILIO_AUTH_TOKEN"] = "not/a-token"
	code, _, stderr := runCmd(t, env, "serve")
	if code == 0 || !strings.Contains(stderr, "BRIDGE_TWILIO_AUTH_TOKEN") || strings.Contains(stderr, "not/a-token") {
		t.Fatalf("got %d %q", code, stderr)
	}
}

func TestTokenMintsAVerifiableToken(t *testing.T) {
	env := map[string]string{"BRIDGE_JWT_SECRET": "a-jwt-secret-a-jwt-secret-a-jwt-secret"}
	code, out, stderr := runCmd(t, env, "token", "--role", "agent", "--sub", "ana", "--worker-sid", "WK0123456789abcdef0123456789abcdef", "--ttl", "8h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, err := auth.New(auth.Config{HMACSecret: []byte(env["BRIDGE_JWT_SECRET"])})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.VerifyJWT(strings.TrimSpace(out))
	if err != nil || p.Subject != "ana" || p.Role != auth.RoleAgent || p.WorkerSID != "WK0123456789abcdef0123456789abcdef" {
		t.Fatalf("minted token: %+v %v", p, err)
	}
	if code, _, _ := runCmd(t, env, "token", "--role", "root", "--sub", "x"); code == 0 {
		t.Fatal("an unknown role was minted")
	}
	if code, _, stderr := runCmd(t, map[string]string{}, "token", "--role", "admin", "--sub", "x"); code == 0 || !strings.Contains(stderr, "BRIDGE_JWT_SECRET") {
		t.Fatalf("minting without a secret: %d %q", code, stderr)
	}
}

func TestMappingValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(config.ExampleMapping), 0o600)
	if code, out, stderr := runCmd(t, nil, "mapping", "validate", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("example mapping refused: %d %s %s", code, out, stderr)
	}
	bad := filepath.Join(dir, "bad.yaml")
	doc := strings.Replace(config.ExampleMapping, "transform: e164, required: true}", "transform: e165, required: true}", 1)
	doc = strings.Replace(doc, "case_number: {field: Case_Number__c}", "case_number: {field: Index_Case_Name__c}", 1)
	os.WriteFile(bad, []byte(doc), 0o600)
	code, _, stderr := runCmd(t, nil, "mapping", "validate", bad)
	if code == 0 || !strings.Contains(stderr, "record_to_task.attributes.to") || !strings.Contains(stderr, "record_to_task.attributes.case_number") {
		t.Fatalf("want errors at both paths, got %d %q", code, stderr)
	}
}
