package e2e

import (
	"fmt"
	"testing"
)

// errorsTB records Errorf instead of failing the test it wraps.
type errorsTB struct {
	testing.TB
	errs []string
}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}
func (e *errorsTB) Helper() {}

func TestLeakCheckMatchesPlantedValuesOnly(t *testing.T) {
	t.Parallel()
	check := func(log string) []string {
		var l LogBuffer
		l.Plant("Jordan Example", "(212) 555-0123")
		_, _ = l.Write([]byte(log))
		tb := &errorsTB{TB: t}
		l.MustNotLeak(tb)
		return tb.errs
	}
	// Digit runs that look like numbers but are durations, timestamps, ids.
	for _, clean := range []string{
		`{"time":"2026-11-30T13:05:55.212555012Z","msg":"twilio call failed","duration":2125550124}`,
		`{"msg":"http","ms":5550123,"first_id":"1764505200000-0","sid":"WT0f3a9c2e7b1d4f6a8c0e2b4d6f8a0c2e"}`,
	} {
		if errs := check(clean); len(errs) != 0 {
			t.Errorf("flagged a clean log %s: %v", clean, errs)
		}
	}
	for _, leak := range []string{`"to":"+12125550123"`, `"to":"2125550123"`, `(212) 555-0123`, `212-555-0123`, `"name":"Jordan Example"`} {
		if errs := check(leak); len(errs) == 0 {
			t.Errorf("missed the planted value in %s", leak)
		}
	}
}
