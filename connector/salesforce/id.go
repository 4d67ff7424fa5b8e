package salesforce

import (
	"errors"
	"strings"
)

// ErrMalformedID: not a 15- or 18-character Salesforce id.
var ErrMalformedID = errors.New("not a 15- or 18-character Salesforce id")

const idSuffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// ID18 returns the canonical 18-character form of a Salesforce id, so that
// the 15-character (case-sensitive) and 18-character (case-insensitive)
// spellings of one record are one key. The suffix encodes, five characters
// at a time, which of the 15 are uppercase letters (Salesforce's "Record
// IDs" documentation): it is computed for a 15-character id; for an 18, it
// restores the case of the first 15 (an id lowercased by a spreadsheet is
// still the same record), and a suffix that cannot be the id's is refused.
func ID18(id string) (string, error) {
	switch len(id) {
	case 15:
		if !alnum(id) {
			return "", ErrMalformedID
		}
		return id + idSuffix(id), nil
	case 18:
		if !alnum(id) {
			return "", ErrMalformedID
		}
		suffix := strings.ToUpper(id[15:])
		b := []byte(id[:15])
		for i := 0; i < 3; i++ {
			flags := strings.IndexByte(idSuffixAlphabet, suffix[i])
			if flags < 0 {
				return "", ErrMalformedID
			}
			for j := 0; j < 5; j++ {
				c := &b[i*5+j]
				upper := flags&(1<<j) != 0
				switch {
				case upper && *c >= 'a' && *c <= 'z':
					*c -= 'a' - 'A'
				case !upper && *c >= 'A' && *c <= 'Z':
					*c += 'a' - 'A'
				case upper && !(*c >= 'A' && *c <= 'Z'):
					return "", ErrMalformedID // a flag on a digit: not this id's suffix
				}
			}
		}
		return string(b) + suffix, nil
	}
	return "", ErrMalformedID
}

func idSuffix(id15 string) string {
	var s [3]byte
	for i := 0; i < 3; i++ {
		flags := 0
		for j := 0; j < 5; j++ {
			if c := id15[i*5+j]; c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		s[i] = idSuffixAlphabet[flags]
	}
	return string(s[:])
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
