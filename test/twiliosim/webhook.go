package twiliosim

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Sign computes X-Twilio-Signature for a form posted to fullURL with the
// sim's auth token: base64(HMAC-SHA1(token, URL + sorted key/value pairs)).
func (s *Server) Sign(fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		// Every value of a repeated key, sorted and each once, as Twilio
		// signs (Twilio's webhook security docs; twilio-python
		// RequestValidator.compute_signature sorts set(values)).
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range slices.Compact(vals) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(s.AuthToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignedPost posts params to url as Twilio posts a webhook: form-encoded,
// signed with the sim's auth token. client nil = http.DefaultClient.
func (s *Server) SignedPost(ctx context.Context, client *http.Client, url string, params url.Values) (*http.Response, error) {
	return s.post(ctx, client, url, params, "")
}

func (s *Server) post(ctx context.Context, client *http.Client, url string, params url.Values, idempotencyToken string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", s.Sign(url, params))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if idempotencyToken != "" {
		req.Header.Set("I-Twilio-Idempotency-Token", idempotencyToken)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return client.Do(req)
}

// InboundSMSForm builds the form of an inbound SMS webhook from `from` to
// the sim's messaging service, like the sample; optOutType is STOP, START,
// HELP or "" (Advanced Opt-Out adds it to keyword messages).
func (s *Server) InboundSMSForm(from, to, body, optOutType string) url.Values {
	sid := newSID("SM")
	v := url.Values{}
	v.Set("AccountSid", s.AccountSID)
	v.Set("ApiVersion", "2010-04-01")
	v.Set("MessagingServiceSid", s.MessagingServiceSID)
	v.Set("MessageSid", sid)
	v.Set("SmsMessageSid", sid)
	v.Set("SmsSid", sid)
	v.Set("SmsStatus", "received")
	v.Set("From", from)
	v.Set("To", to)
	v.Set("Body", body)
	v.Set("NumMedia", "0")
	v.Set("NumSegments", "1")
	if optOutType != "" {
		v.Set("OptOutType", optOutType)
	}
	return v
}
