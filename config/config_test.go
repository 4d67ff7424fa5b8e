package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeKey(t *testing.T, pkcs8 bool) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if pkcs8 {
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	} else {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	}
	path := filepath.Join(t.TempDir(), "sf.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func validEnv(t *testing.T) map[string]string {
	return map[string]string{
		"BRIDGE_PUBLIC_URL":           "https://bridge.example.org",
		"BRIDGE_REDIS_URL":            "redis://127.0.0.1:6379/0",
		"BRIDGE_SF_CLIENT_ID":         "3MVG9client",
		"BRIDGE_SF_USERNAME":          "integration@cityhealth.example",
		"BRIDGE_SF_PRIVATE_KEY_FILE":  writeKey(t, false),
		"BRIDGE_SF_ORG_ID":            "00DRM000000AbCD2AY",
		"BRIDGE_TWILIO_ACCOUNT_SID":   "AC5ef8732a3c49700934481addd5ce1659",
		"BRIDGE_TWILIO_AUTH_TOKEN":    "0123456789abcdef0123456789abcdef",
		"BRIDGE_TWILIO_WORKSPACE_SID": "WS7a1f6a7bca0d4e0d8bd2e1c0a2f3b4c5",
		"BRIDGE_TWILIO_WORKFLOW_SID":  "WW0123456789abcdef0123456789abcdef",
		"BRIDGE_JWT_SECRET":           "jwt-secret-jwt-secret-jwt-secret-jwt",
		"BRIDGE_SURVEY_SECRET":        "survey-secret-survey-secret-survey-1",
		"BRIDGE_SF_OUTBOUND_TOKEN":    "outbound-token-outbound-token-outbound",
		"BRIDGE_PROTECTED_FIELDS":     "Index_Case_Name__c, Source_Case__c",
	}
}

func TestLoadValid(t *testing.T) {
	env := validEnv(t)
	env["BRIDGE_SF_PRIVATE_KEY_FILE"] = writeKey(t, true)
	c, err := Load(MapSource(env), ModeServe)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Salesforce.APIVersion != "62.0" || c.Salesforce.LoginURL != "https://login.salesforce.com" ||
		c.JWT.Issuer != "bridge" || c.JWT.Audience != "bridge" || c.Timezone.String() != "America/New_York" ||
		c.ReconcileInterval != time.Minute {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.Salesforce.PrivateKey == nil {
		t.Fatal("PKCS#8 key not parsed")
	}
	if c.JWT.MaxTTL.String() != "24h0m0s" {
		t.Fatalf("BRIDGE_JWT_MAX_TTL default = %s, want 24h", c.JWT.MaxTTL)
	}
	if strings.Join(c.ProtectedFields, ",") != "Index_Case_Name__c,Source_Case__c" {
		t.Fatalf("BRIDGE_PROTECTED_FIELDS = %q", c.ProtectedFields)
	}
	if c.Retention != 336*time.Hour {
		t.Fatalf("BRIDGE_RETENTION default %s, want 336h", c.Retention)
	}
}

func TestChannelSettings(t *testing.T) {
	env := validEnv(t)
	env["BRIDGE_TWILIO_CALLER_ID"] = "+12125550100"
	c, err := Load(MapSource(env), ModeServe)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReminderHorizon != 48*time.Hour || c.Twilio.VoiceFrom != "+12125550100" || c.Twilio.CallsPerSecond != 1 || c.SendGrid.APIKey != "" {
		t.Fatalf("defaults: horizon %v voice from %q cps %v", c.ReminderHorizon, c.Twilio.VoiceFrom, c.Twilio.CallsPerSecond)
	}
	env["BRIDGE_SENDGRID_API_KEY"] = "SG.key"
	if _, err := Load(MapSource(env), ModeServe); err == nil || !strings.HasPrefix(err.Error(), "BRIDGE_EMAIL_FROM:") || strings.Contains(err.Error(), "SG.key") {
		t.Fatalf("a SendGrid key without a sender: %v", err)
	}
	env["BRIDGE_EMAIL_FROM"] = "checks@health.example.gov"
	env["BRIDGE_TWILIO_CALLS_PER_SECOND"] = "2.5"
	if c, err = Load(MapSource(env), ModeServe); err != nil || c.SendGrid.From != "checks@health.example.gov" || c.Twilio.CallsPerSecond != 2.5 {
		t.Fatalf("%v %+v", err, c.SendGrid)
	}
}

func TestLoadNamesTheVariable(t *testing.T) {
	cases := []struct {
		name, variable, value string
	}{
		{"missing redis", "BRIDGE_REDIS_URL", ""},
		{"bad redis", "BRIDGE_REDIS_URL", "http://x"},
		{"missing public url", "BRIDGE_PUBLIC_URL", ""},
		{"public url with path", "BRIDGE_PUBLIC_URL", "https://x.example/bridge"},
		{"bad account sid", "BRIDGE_TWILIO_ACCOUNT_SID", "ACnothex"},
		{"bad auth token", "BRIDGE_TWILIO_AUTH_TOKEN", "abc-def"},
		{"bad workspace", "BRIDGE_TWILIO_WORKSPACE_SID", "WW0123456789abcdef0123456789abcdef"},
		{"bad caller id", "BRIDGE_TWILIO_CALLER_ID", "212-555-0100"},
		{"bad org id", "BRIDGE_SF_ORG_ID", "00Dshort"},
		{"missing key file", "BRIDGE_SF_PRIVATE_KEY_FILE", "/nonexistent/key.pem"},
		{"bad timezone", "BRIDGE_TIMEZONE", "Mars/Olympus"},
		{"missing survey secret", "BRIDGE_SURVEY_SECRET", ""},
		{"bad api version", "BRIDGE_SF_API_VERSION", "latest"},
		{"bad addr", "BRIDGE_ADDR", "8080"},
		{"bad reconcile interval", "BRIDGE_RECONCILE_INTERVAL", "often"},
		{"reconcile interval too short", "BRIDGE_RECONCILE_INTERVAL", "100ms"},
		{"reconcile interval too long", "BRIDGE_RECONCILE_INTERVAL", "2h"},
		{"horizon too long for Twilio", "BRIDGE_REMINDER_HORIZON", "900h"},
		{"horizon too short", "BRIDGE_REMINDER_HORIZON", "10m"},
		{"bad horizon", "BRIDGE_REMINDER_HORIZON", "two days"},
		{"bad voice from", "BRIDGE_TWILIO_VOICE_FROM", "212-555-0100"},
		{"bad calls per second", "BRIDGE_TWILIO_CALLS_PER_SECOND", "fast"},
		{"zero calls per second", "BRIDGE_TWILIO_CALLS_PER_SECOND", "0"},
		{"bad sendgrid url", "BRIDGE_SENDGRID_API_URL", "ftp://x"},
		{"missing outbound token", "BRIDGE_SF_OUTBOUND_TOKEN", ""},
		{"short outbound token", "BRIDGE_SF_OUTBOUND_TOKEN", "only-31-characters-long-token-x"},
		{"missing protected fields", "BRIDGE_PROTECTED_FIELDS", ""},
		{"bad protected fields", "BRIDGE_PROTECTED_FIELDS", "Name; DROP"},
		{"short jwt secret", "BRIDGE_JWT_SECRET", "short-jwt-secret"},
		{"short previous jwt secret", "BRIDGE_JWT_SECRET_PREVIOUS", "short-previous"},
		{"short survey secret", "BRIDGE_SURVEY_SECRET", "short-survey-secret"},
		{"short previous survey secret", "BRIDGE_SURVEY_SECRET_PREVIOUS", "short-previous"},
		{"bad previous auth token", "BRIDGE_TWILIO_AUTH_TOKEN_PREVIOUS", "abc-def"},
		{"bad max ttl", "BRIDGE_JWT_MAX_TTL", "forever"},
		{"zero max ttl", "BRIDGE_JWT_MAX_TTL", "0s"},
		{"bad retention", "BRIDGE_RETENTION", "two weeks"},
		{"retention too short", "BRIDGE_RETENTION", "1s"},
		{"bad twilio region", "BRIDGE_TWILIO_REGION", "ie1.example.com"},
		{"bad sf audience", "BRIDGE_SF_AUDIENCE", "login.salesforce.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv(t)
			env[tc.variable] = tc.value
			_, err := Load(MapSource(env), ModeServe)
			if err == nil {
				t.Fatal("want error")
			}
			if !strings.HasPrefix(err.Error(), tc.variable+":") {
				t.Fatalf("error %q does not name %s", err, tc.variable)
			}
			if tc.value != "" && strings.Contains(err.Error(), tc.value) && len(tc.value) > 6 {
				t.Fatalf("error echoes the value: %q", err)
			}
		})
	}
}

func TestSalesforceAudienceAndTwilioRegion(t *testing.T) {
	cases := []struct {
		login, audience, region string
		wantAud, wantRegion     string
	}{
		{"", "", "", "https://login.salesforce.com", "us1"},
		{"https://test.salesforce.com", "", "", "https://test.salesforce.com", "us1"},
		{"https://cityhealth--uat.sandbox.my.salesforce.com", "", "IE1", "https://test.salesforce.com", "ie1"},
		{"https://cityhealth.my.salesforce.com", "", "au1", "https://login.salesforce.com", "au1"},
		{"https://cityhealth.my.salesforce.com", "https://test.salesforce.com/", "", "https://test.salesforce.com", "us1"},
	}
	for _, tc := range cases {
		env := validEnv(t)
		for k, v := range map[string]string{"BRIDGE_SF_LOGIN_URL": tc.login, "BRIDGE_SF_AUDIENCE": tc.audience, "BRIDGE_TWILIO_REGION": tc.region} {
			if v != "" {
				env[k] = v
			}
		}
		c, err := Load(MapSource(env), ModeServe)
		if err != nil {
			t.Fatal(err)
		}
		if c.Salesforce.Audience != tc.wantAud || c.Twilio.Region != tc.wantRegion {
			t.Errorf("%+v: audience %q region %q", tc, c.Salesforce.Audience, c.Twilio.Region)
		}
	}
}

func TestSecretNeverEchoed(t *testing.T) {
	env := validEnv(t)
	env["BRIDGE_SURVEY_SECRET"] = env["BRIDGE_JWT_SECRET"]
	_, err := Load(MapSource(env), ModeServe)
	if err == nil || strings.Contains(err.Error(), env["BRIDGE_JWT_SECRET"]) {
		t.Fatalf("want an error that does not echo the secret, got %v", err)
	}
}

func TestYAMLFileEnvWins(t *testing.T) {
	env := validEnv(t)
	file := filepath.Join(t.TempDir(), "bridge.yaml")
	yml := "BRIDGE_ADDR: \":9090\"\nBRIDGE_TIMEZONE: America/Chicago\nbridge_sf_api_version: \"61.0\"\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	env["BRIDGE_CONFIG"] = file
	env["BRIDGE_TIMEZONE"] = "America/Denver"
	c, err := Load(MapSource(env), ModeServe)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9090" || c.Salesforce.APIVersion != "61.0" || c.Timezone.String() != "America/Denver" {
		t.Fatalf("file or precedence wrong: addr=%s api=%s tz=%s", c.Addr, c.Salesforce.APIVersion, c.Timezone)
	}

	os.WriteFile(file, []byte("BRIDGE_NOPE: 1\n"), 0o600)
	if _, err := Load(MapSource(env), ModeServe); err == nil || !strings.Contains(err.Error(), "BRIDGE_NOPE") {
		t.Fatalf("unknown key not refused: %v", err)
	}
}

func TestDemoModeNeedsNothing(t *testing.T) {
	if _, err := Load(MapSource(map[string]string{}), ModeDemo); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyEnvironmentNamesRedisFirstAndListsTheRest(t *testing.T) {
	_, err := Load(MapSource(map[string]string{}), ModeServe)
	if err == nil {
		t.Fatal("serve started with no configuration")
	}
	line := err.Error()
	if !strings.HasPrefix(line, "BRIDGE_REDIS_URL: is required") || strings.Contains(line, "\n") {
		t.Fatalf("want one line starting with BRIDGE_REDIS_URL, got %q", line)
	}
	for _, v := range []string{"BRIDGE_PUBLIC_URL", "BRIDGE_SF_ORG_ID", "BRIDGE_TWILIO_AUTH_TOKEN", "BRIDGE_SURVEY_SECRET"} {
		if !strings.Contains(line, v) {
			t.Errorf("the line does not list %s: %q", v, line)
		}
	}
}
