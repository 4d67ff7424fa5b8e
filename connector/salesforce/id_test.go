package salesforce

import (
	"strings"
	"testing"
)

func TestID18KnownPairs(t *testing.T) {
	cases := []struct{ in, want string }{
		// Pairs from Salesforce's documentation and the shared samples.
		{"001A0000006Vm9r", "001A0000006Vm9rIAC"},
		{"001A0000006Vm9rIAC", "001A0000006Vm9rIAC"},
		{"003RM00000Qx1a2", "003RM00000Qx1a2YAB"},
		{"003RM00000Qx1a2YAB", "003RM00000Qx1a2YAB"},
		{"003rm00000qx1a2yab", "003RM00000Qx1a2YAB"}, // case lost, restored by the suffix
		{"003RM00000QX1A2YAB", "003RM00000Qx1a2YAB"},
		{"00300000000000a", "00300000000000aAAA"},
		{"00300000000000A", "00300000000000AAAQ"},
	}
	for _, tc := range cases {
		got, err := ID18(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ID18(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "003", "003RM00000Qx1a2Y", "003RM00000Qx1a2YABC", "003RM00000Qx1a!", "003RM0000000000001", "003RM00000Qx1a2Y9B", "003RM00000Qx1a2#AB"} {
		if got, err := ID18(bad); err == nil {
			t.Errorf("ID18(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzID18: the 18-character form is a fixed point, names the same 15
// characters, survives a change of case, and two 15-character ids that
// differ only in case never collide.
func FuzzID18(f *testing.F) {
	for _, s := range []string{"001A0000006Vm9r", "003RM00000Qx1a2YAB", "003rm00000qx1a2yab", "zzzzzzzzzzzzzzz", "ZZZZZZZZZZZZZZZ555"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ID18(s)
		if err != nil {
			return
		}
		if len(id) != 18 {
			t.Fatalf("ID18(%q) = %q: not 18 characters", s, id)
		}
		again, err := ID18(id)
		if err != nil || again != id {
			t.Fatalf("ID18 not idempotent: %q -> %q -> %q, %v", s, id, again, err)
		}
		if low, err := ID18(strings.ToLower(id)); err != nil || low != id {
			t.Fatalf("lowercased %q gave %q, %v", id, low, err)
		}
		if len(s) == 15 {
			if id[:15] != s {
				t.Fatalf("ID18(%q) changed the 15 characters: %q", s, id)
			}
			if flipped := strings.ToUpper(s); flipped != s {
				if other, _ := ID18(flipped); other == id {
					t.Fatalf("%q and %q collided", s, flipped)
				}
			}
		}
	})
}
