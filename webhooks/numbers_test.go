package webhooks

import "testing"

func TestStrictUint(t *testing.T) {
	good := map[string]int64{"0": 0, "412": 412, "1591106591234": 1591106591234}
	for s, want := range good {
		if got, err := StrictUint(s); err != nil || got != want {
			t.Errorf("StrictUint(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", " 1", "1 ", "+1", "-1", "1e3", "0x10", "412abc", "1.0", "1234567890123456789"} {
		if got, err := StrictUint(s); err == nil {
			t.Errorf("StrictUint(%q) = %d, want an error", s, got)
		}
	}
}
