package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/world"
)

// postOutcomes posts outcomes from..from+n-1 (then the first dup of them
// again, as TaskRouter re-delivers), retrying a refused post as Twilio does.
func postOutcomes(b *testing.B, br *bridge, from, n, dup int, followUp bool) {
	b.Helper()
	url := br.URL + world.PathTaskRouter
	_, err := parallel(n+dup, clients, func(i int) error {
		k := from + i
		if i >= n {
			k = from + i - n
		}
		body, sig := world.SignedOutcome(br.Config.Twilio.AuthToken, k, world.ContactID(k), followUp)
		for try := 0; ; try++ {
			code, err := postForm(br.HTTP, url, body, sig)
			if err == nil && code == http.StatusOK {
				return nil
			}
			if try == 200 {
				return fmt.Errorf("outcome %d: %d %v", k, code, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWritebackCalls: Salesforce API calls per 1000 outcomes, posted as
// a burst of signed events against a bridge with production timings (SPEC:
// ≤ 25, aim 6). Each op is one burst of 1000 on the same bridge.
func BenchmarkWritebackCalls(b *testing.B) {
	cases := []struct {
		name     string
		dup      int
		followUp bool
	}{
		{"outcomes", 0, false},
		{"outcomes+333-redeliveries", 333, false},
		{"outcomes-with-follow-ups", 0, true}, // two rows per outcome
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			const n = 1000
			rowsPer := 1
			if tc.followUp {
				rowsPer = 2
			}
			br := startBridge(b, true)
			var calls, land []float64
			round := 0
			for b.Loop() {
				sf0 := br.SF.APICalls()
				start := time.Now()
				postOutcomes(b, br, round*n, n, tc.dup, tc.followUp)
				// Redis, not sfsim, is polled: copying its rows would slow it.
				waitFor(b, 60*time.Second, "queues to drain", br.settled)
				land = append(land, time.Since(start).Seconds())
				calls = append(calls, float64(br.SF.APICalls()-sf0))
				round++
			}
			rows := taskRows(br.SF)
			if len(rows) != round*n*rowsPer || len(br.SF.Records("Task")) != round*n*rowsPer {
				b.Fatalf("%d distinct rows, %d rows, want %d", len(rows), len(br.SF.Records("Task")), round*n*rowsPer)
			}
			b.ReportMetric(median(calls), "sf_calls/1000outcomes")
			b.ReportMetric(median(land), "s_to_drained")
		})
	}
}

// BenchmarkWritebackDrain: 10,000 outcomes accepted during a Salesforce
// outage, then the outage ends; the figure is the time from the end of the
// outage until every row exists, with production retry timings.
func BenchmarkWritebackDrain(b *testing.B) {
	const n = 10000
	var drains, calls, half []float64
	round := 0
	for b.Loop() {
		b.StopTimer()
		// A fresh world each round: sfsim's upsert scans every row, so a
		// fuller stand-in would slow later rounds.
		br := startBridge(b, true)
		br.SF.SetOutage(true)
		postOutcomes(b, br, 0, n, 0, false)
		time.Sleep(2 * time.Second) // let the consumers fail and back off
		sf0 := br.SF.APICalls()
		want := n
		b.StartTimer()
		start := time.Now()
		br.SF.SetOutage(false)
		// Redis, not sfsim, is polled: copying its rows would slow it.
		last := time.Now()
		waitFor(b, 3*time.Minute, "the backlog to drain", func() bool {
			backlog, err := world.Backlog(context.Background(), br.RDB)
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				b.Logf("round %d: %d entries queued after %.0f s; %d Salesforce calls",
					round, backlog, time.Since(start).Seconds(), br.SF.APICalls()-sf0)
			}
			return err == nil && backlog == 0
		})
		drains = append(drains, time.Since(start).Seconds())
		b.StopTimer()
		half = append(half, landedAfter(br, start, 0, n, 0.5))
		waitFor(b, 60*time.Second, "queues to settle", br.settled)
		calls = append(calls, float64(br.SF.APICalls()-sf0))
		if rows := taskRows(br.SF); len(rows) != want || len(br.SF.Records("Task")) != want {
			b.Fatalf("%d distinct rows, %d rows, want %d", len(rows), len(br.SF.Records("Task")), want)
		}
		round++
		b.StartTimer()
	}
	b.ReportMetric(median(drains), "drain_s")
	b.ReportMetric(median(half), "half_drained_s")
	b.ReportMetric(median(calls)*1000/n, "sf_calls/1000outcomes")
}

// landedAfter is when the given fraction of outcomes from..from+n-1 had its
// row, in seconds after since (from the rows' CreatedDate, ms precision).
func landedAfter(br *bridge, since time.Time, from, n int, fraction float64) float64 {
	want := map[string]bool{}
	for i := from; i < from+n; i++ {
		want[world.TaskSID(i)] = true
	}
	var ds []time.Duration
	for _, r := range br.SF.Records("Task") {
		ext, _ := r["Twilio_Task_Sid__c"].(string)
		created, err := time.Parse(sfTime, fmt.Sprint(r["CreatedDate"]))
		if want[ext] && err == nil {
			ds = append(ds, created.Sub(since))
		}
	}
	slices.Sort(ds)
	return percentile(ds, fraction) / 1000
}

// sfTime is how sfsim (and Salesforce) writes CreatedDate.
const sfTime = "2006-01-02T15:04:05.000-0700"
