package twilio

import (
	"net/url"
	"strings"
)

// ValidSID reports whether s is a Twilio SID: a two-letter uppercase prefix
// and 32 lowercase hex digits, 34 characters in all, as Twilio's OpenAPI
// describes every `*_sid` (pattern ^XX[0-9a-fA-F]{32}$; Twilio itself emits
// lowercase). With prefixes, the prefix must be one of them.
//
// A webhook signature covers keys and values concatenated with no
// separator, so a sender holding one signed request can move a key/value
// boundary and keep the signature; a fixed-length SID cannot absorb a
// moved boundary, which is why webhooks accept only well-formed ones.
func ValidSID(s string, prefixes ...string) bool {
	if len(s) != 34 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return false
	}
	for i := 2; i < 34; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if s[:2] == p {
			return true
		}
	}
	return false
}

// SIDError names the form parameter that failed CheckSIDs (never its value).
type SIDError struct{ Param string }

func (e *SIDError) Error() string { return e.Param + " is not a well-formed Twilio SID" }

// CheckSIDs checks a signed webhook form: every parameter whose name ends in
// "Sid" must be a well-formed SID (with the prefix required names, when
// given), the required ones must be present, and AccountSid must be account.
func CheckSIDs(form url.Values, account string, required map[string][]string, present ...string) error {
	if got := form.Get("AccountSid"); got != account || !ValidSID(got, "AC") {
		return &SIDError{Param: "AccountSid"}
	}
	for k, vs := range form {
		if !strings.HasSuffix(k, "Sid") {
			continue
		}
		for _, v := range vs {
			if v == "" {
				continue // Twilio sends some (e.g. an unset WorkerSid) empty
			}
			if !ValidSID(v, required[k]...) {
				return &SIDError{Param: k}
			}
		}
	}
	for _, k := range present {
		if form.Get(k) == "" {
			return &SIDError{Param: k}
		}
	}
	return nil
}
