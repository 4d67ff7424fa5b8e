package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"sort"
	"strings"

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
// fullURL (the URL Twilio called: public base, path and query).
//
// Twilio signs every value of a repeated key: keys sorted, then each key
// followed by one of its values, values sorted and deduplicated (twilio-python
// RequestValidator.compute_signature, twilio-node getExpectedTwilioSignature).
// twilio-go's validator takes one value per key and so would sign only the
// first; it appends key+value for each sorted key, so passing the sorted
// values joined by the key itself yields key+v1+key+v2, Twilio's string,
// while twilio-go still does the hashing and the port variants.
func (v *SignatureValidator) Validate(fullURL string, params url.Values, signature string) bool {
	if signature == "" {
		return false
	}
	m := make(map[string]string, len(params))
	for k, vs := range params {
		if len(vs) > 0 {
			m[k] = strings.Join(signedValues(vs), k)
		}
	}
	for i := range v.rvs {
		if v.rvs[i].Validate(fullURL, m, signature) {
			return true
		}
	}
	return false
}

// ValidateBody checks a raw form body (every value of a repeated key, as
// Validate) or a JSON body (bodySHA256 in the URL, twilio-go's own check).
func (v *SignatureValidator) ValidateBody(fullURL string, body []byte, signature string) bool {
	if signature == "" {
		return false
	}
	if u, err := url.Parse(fullURL); err != nil || u.Query().Get("bodySHA256") != "" {
		if err != nil {
			return false
		}
		for i := range v.rvs {
			if v.rvs[i].ValidateBody(fullURL, body, signature) {
				return true
			}
		}
		return false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return false
	}
	return v.Validate(fullURL, form, signature)
}

// signedValues are a key's values as Twilio signs them: sorted, each once.
func signedValues(vs []string) []string {
	out := append([]string(nil), vs...)
	sort.Strings(out)
	return slices.Compact(out)
}

// Sign computes the X-Twilio-Signature Twilio would send: base64 of
// HMAC-SHA1(authToken, fullURL + key+value for each key in order and each of
// its values, sorted and deduplicated).
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range keys {
		for _, v := range signedValues(params[k]) {
			mac.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
