package bench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkCallerLookup: the bridge's latency for GET /v1/callers/{phone}
// (inbound screen pop) with a warm cache: the number was looked up moments
// ago, so the answer comes from Redis with no Salesforce call. Sub-benchmark
// cold: every number is new (one SOQL query to a zero-latency stand-in).
func BenchmarkCallerLookup(b *testing.B) {
	for _, warm := range []bool{true, false} {
		name := "cold"
		if warm {
			name = "warm-cache"
		}
		b.Run(name, func(b *testing.B) {
			br := startBridge(b, false)
			tok := agentToken(b, br, 0)
			const numbers = 64
			for i := range numbers {
				br.SF.AddRecord("Contact", map[string]any{"FirstName": "Quinn", "LastName": "Tester", "MobilePhone": fmt.Sprintf("(646) 555-%04d", i)})
			}
			phone := func(i int) string {
				if warm {
					return fmt.Sprintf("+1646555%04d", i%numbers)
				}
				return fmt.Sprintf("+1917%07d", i)
			}
			if warm {
				for i := range numbers {
					mustLookup(b, br, tok, phone(i))
				}
			}
			sf0 := br.SF.APICalls()
			durations := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				mustLookup(b, br, tok, phone(i))
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(durations)
			b.ReportMetric(percentile(durations, 0.50), "p50_ms")
			b.ReportMetric(percentile(durations, 0.99), "p99_ms")
			b.ReportMetric(float64(br.SF.APICalls()-sf0)/float64(b.N), "sf_calls/op")
		})
	}
}

func mustLookup(b *testing.B, br *bridge, token, phone string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, br.URL+"/v1/callers/"+phone, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := br.HTTP.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("lookup: %d", resp.StatusCode)
	}
}
