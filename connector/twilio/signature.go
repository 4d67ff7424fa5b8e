package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"

	twclient "github.com/twilio/twilio-go/client"
)

// SignatureValidator checks X-Twilio-Signature with twilio-go's validator.
type SignatureValidator struct {
	rvs []twclient.RequestValidator // pointer-receiver methods: index, don't copy
}

// NewSignatureValidator builds a validator keyed by the account's auth
// token and, during a rotation, the previous one
// (BRIDGE_TWILIO_AUTH_TOKEN_PREVIOUS): Twilio signs with whichever token is
// primary, so both are accepted until the old one is dropped.
func NewSignatureValidator(authToken string, previous ...string) *SignatureValidator {
	v := &SignatureValidator{rvs: []twclient.RequestValidator{twclient.NewRequestValidator(authToken)}}
	for _, p := range previous {
		if p != "" {
			v.rvs = append(v.rvs, twclient.NewRequestValidator(p))
		}
	}
	return v
}

// Validate reports whether signature matches the form params posted to
// fullURL (the URL Twilio called: public base, path and query). twilio-go
// signs the first value of a repeated key, so only that one counts.
func (v *SignatureValidator) Validate(fullURL string, params url.Values, signature string) bool {
	if signature == "" {
		return false
	}
	m := make(map[string]string, len(params))
	for k, vs := range params {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	for i := range v.rvs {
		if v.rvs[i].Validate(fullURL, m, signature) {
			return true
		}
	}
	return false
}

// ValidateBody checks a raw form or JSON (bodySHA256) body.
func (v *SignatureValidator) ValidateBody(fullURL string, body []byte, signature string) bool {
	if signature == "" {
		return false
	}
	for i := range v.rvs {
		if v.rvs[i].ValidateBody(fullURL, body, signature) {
			return true
		}
	}
	return false
}

// Sign computes the X-Twilio-Signature Twilio would send: base64 of
// HMAC-SHA1(authToken, fullURL + each key and its first value, keys sorted).
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range keys {
		if len(params[k]) > 0 {
			mac.Write([]byte(k + params[k][0]))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
