package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/twiliosim"
)

// The Flex plugin (flex-plugin/) against the real bridge: its bridge client
// through Jest, and the demo desktop in Chromium through Playwright. Both
// need `npm ci` in flex-plugin (./test/run does it).

func pluginDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "flex-plugin")
	if _, err := exec.LookPath("node"); err != nil {
		tb.Skip("node is not installed: skipping the Flex plugin test")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "jest")); err != nil {
		tb.Skip("flex-plugin/node_modules is missing: run `npm ci` in flex-plugin (./test/run does)")
	}
	return dir
}

// runNode runs a node program in the plugin's folder and fails the test
// with its output when it fails.
func runNode(t *testing.T, dir string, env []string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestFlexPluginBridgeClient(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "(646) 555-0175", "(917) 555-0133", "917-555-0133")
	callable := seedContact(b, "Quinn", "(646) 555-0175")
	noNumber := seedContact(b, "Luis", "")
	shared := []string{
		b.SF.AddRecord("Contact", map[string]any{"FirstName": "Rosa", "LastName": "D", "MobilePhone": "(917) 555-0133", "Index_Case_Name__c": "Jordan Example"}),
		b.SF.AddRecord("Contact", map[string]any{"FirstName": "Tomas", "LastName": "D", "Phone": "917-555-0133"}),
	}
	flex := b.Twilio.IssueFlexToken("tracer@cityhealth.example", b.WorkerSID, time.Hour)
	out := runNode(t, dir, []string{
		"BRIDGE_URL=" + b.URL, "FLEX_TOKEN=" + flex, "RECORD_ID=" + callable, "RECORD_NO_NUMBER=" + noNumber,
		"UNKNOWN_RECORD=003RM00000Zz9z9YAB", "SHARED_NUMBER=+19175550133", "SHARED_IDS=" + strings.Join(shared, ","), "CI=true",
	}, 3*time.Minute, "node_modules/.bin/jest", "-c", "jest.integration.config.js")
	t.Log(out)
	// The Flex token was checked through IAM, once per token (cached).
	if n := b.Twilio.Calls(twiliosim.OpValidateToken); n < 1 {
		t.Errorf("IAM validate calls = %d, want the bridge to have checked the Flex token", n)
	}
}

// TestFlexPluginBrowser runs `bridge demo` as a user would and plays the
// tracer's day on /demo/agent in Chromium: click-to-dial, wrap-up with a
// follow-up, an inbound caller two records share, an unknown caller.
func TestFlexPluginBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a bridge demo in Chromium")
	}
	t.Parallel()
	dir := pluginDir(t)
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Skip("chromium is not installed: skipping the browser test")
		}
		chromium = p
	}
	url := startDemo(t)
	_, file, _, _ := runtime.Caller(0)
	artifacts := filepath.Join(filepath.Dir(file), "..", "artifacts", "flex-plugin")
	out := runNode(t, dir, []string{"DEMO_URL=" + url, "CHROMIUM=" + chromium, "ARTIFACTS_DIR=" + artifacts},
		4*time.Minute, "test/browser/desk.browser.mjs")
	t.Log(out)
}

// startDemo runs `bridge demo` on a free loopback port with its embedded
// Redis and returns the bridge's URL; it is interrupted when the test ends.
func startDemo(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(BridgeBinary(t), "demo", "--addr", "127.0.0.1:0")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BRIDGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`^\s*(?:bridge\s+|export BRIDGE=)(http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(90 * time.Second):
		t.Fatal("bridge demo did not print its URL within 90 s")
	}
	return ""
}
