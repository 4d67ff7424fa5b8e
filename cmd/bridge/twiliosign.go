package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/cityhealth/bridge/config"
)

const twilioSignSynopsis = "bridge twilio sign --url URL [--post] key=value …"

func twilioCmd(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	c := newCommand("twilio", twilioSignSynopsis,
		"Signs a form for URL as Twilio signs its webhooks (X-Twilio-Signature, with\n"+
			"BRIDGE_TWILIO_AUTH_TOKEN), prints the signature and the curl command that\n"+
			"posts it, and with --post posts it and prints the answer. URL is the full\n"+
			"address Twilio would call: BRIDGE_PUBLIC_URL plus path and query.\n\n"+
			"example:\n"+
			"  bridge twilio sign --post --url https://bridge.example.org/webhooks/twilio/sms \\\n"+
			"    AccountSid=AC… MessageSid=SM… From=+12125550123 To=+12125550100 Body=STOP")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if c.fs.NArg() == 0 || c.fs.Arg(0) != "sign" {
		return c.usageError(stderr, "want the subcommand sign")
	}
	s := newCommand("twilio sign", c.synopsis, c.about)
	rawURL := s.fs.String("url", "", "the full URL Twilio would post to (BRIDGE_PUBLIC_URL + path + query)")
	post := s.fs.Bool("post", false, "post the signed form and print the answer")
	if code, ok := s.parse(c.fs.Args()[1:], stdout, stderr); !ok {
		return code
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s.usageError(stderr, "--url must be an absolute http(s) URL")
	}
	form := url.Values{}
	for _, kv := range s.fs.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return s.usageError(stderr, "%q is not key=value", kv)
		}
		if form.Has(k) {
			// Twilio's validator signs one value per key.
			return s.usageError(stderr, "%s is given twice", k)
		}
		form.Set(k, v)
	}
	cfg, err := config.Load(getenv, config.ModeTool)
	if err != nil {
		fmt.Fprintf(stderr, "bridge: config: %v\n", err)
		return 2
	}
	if cfg.Twilio.AuthToken == "" {
		fmt.Fprintln(stderr, "bridge: config: BRIDGE_TWILIO_AUTH_TOKEN: is required to sign")
		return 2
	}
	sig, err := signTwilio(cfg.Twilio.AuthToken, *rawURL, form)
	if err != nil {
		fmt.Fprintf(stderr, "bridge twilio sign: %v\n", err)
		return 1
	}
	if !*post {
		fmt.Fprintf(stdout, "X-Twilio-Signature: %s\n\n%s\n", sig, curlCommand(*rawURL, sig, form))
		return 0
	}
	return postSigned(ctx, *rawURL, sig, form, stdout, stderr)
}

// signTwilio computes X-Twilio-Signature as Twilio documents it
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
// base64(HMAC-SHA1(token, URL + each key and value, keys sorted)), and
// checks it with twilio-go's RequestValidator, the validator the bridge uses.
func signTwilio(token, fullURL string, form url.Values) (string, error) {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(fullURL))
	params := make(map[string]string, len(form))
	for _, k := range keys {
		mac.Write([]byte(k + form.Get(k)))
		params[k] = form.Get(k)
	}
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	rv := twclient.NewRequestValidator(token)
	if !rv.Validate(fullURL, params, sig) {
		return "", fmt.Errorf("twilio-go's validator does not accept the signature for %s", fullURL)
	}
	return sig, nil
}

func curlCommand(fullURL, sig string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "curl -sS -X POST %s \\\n  -H %s", shellQuote(fullURL), shellQuote("X-Twilio-Signature: "+sig))
	for _, k := range keys {
		fmt.Fprintf(&b, " \\\n  --data-urlencode %s", shellQuote(k+"="+form.Get(k)))
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func postSigned(ctx context.Context, fullURL, sig string, form url.Values, stdout, stderr io.Writer) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		fmt.Fprintf(stderr, "bridge twilio sign: %v\n", err)
		return 1
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	client := &http.Client{Timeout: 15 * time.Second} // Twilio waits 15 s for a webhook
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "bridge twilio sign: post: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(stdout, "HTTP %d\n%s", resp.StatusCode, body)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 1
	}
	return 0
}
