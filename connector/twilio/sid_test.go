package twilio

import (
	"errors"
	"net/url"
	"testing"
)

func TestValidSID(t *testing.T) {
	hex := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		s        string
		prefixes []string
		ok       bool
	}{
		{"SM" + hex, nil, true},
		{"SM" + hex, []string{"SM", "MM"}, true},
		{"MM" + hex, []string{"SM", "MM"}, true},
		{"WT" + hex, []string{"SM", "MM"}, false},
		{"SM" + hex[:31], nil, false},
		{"SM" + hex + "0", nil, false},
		{"SM" + hex + "MessagingServiceSidMG" + hex, nil, false}, // a regrouped value
		{"SM0123456789ABCDEF0123456789abcdef", nil, false},       // uppercase hex: not Twilio's
		{"sm" + hex, nil, false},
		{"S1" + hex, nil, false},
		{"", nil, false},
	}
	for _, tc := range cases {
		if got := ValidSID(tc.s, tc.prefixes...); got != tc.ok {
			t.Errorf("ValidSID(%q, %v) = %v, want %v", tc.s, tc.prefixes, got, tc.ok)
		}
	}
}

func TestCheckSIDs(t *testing.T) {
	ac, sm := "AC0123456789abcdef0123456789abcdef", "SM0123456789abcdef0123456789abcdef"
	req := map[string][]string{"MessageSid": {"SM", "MM"}}
	cases := []struct {
		name  string
		form  url.Values
		param string // "" = ok
	}{
		{"good", url.Values{"AccountSid": {ac}, "MessageSid": {sm}, "WorkerSid": {""}}, ""},
		{"no account", url.Values{"MessageSid": {sm}}, "AccountSid"},
		{"another account", url.Values{"AccountSid": {"ACffffffffffffffffffffffffffffffff"}, "MessageSid": {sm}}, "AccountSid"},
		{"wrong prefix", url.Values{"AccountSid": {ac}, "MessageSid": {"WT" + sm[2:]}}, "MessageSid"},
		{"junk in another Sid", url.Values{"AccountSid": {ac}, "MessageSid": {sm}, "MessagingServiceSid": {"MG1"}}, "MessagingServiceSid"},
		{"missing required", url.Values{"AccountSid": {ac}}, "MessageSid"},
	}
	for _, tc := range cases {
		err := CheckSIDs(tc.form, ac, req, "MessageSid")
		var se *SIDError
		switch {
		case tc.param == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.param != "" && (!errors.As(err, &se) || se.Param != tc.param):
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.param)
		}
	}
}
