package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityhealth/bridge/test/world"
)

// job is one request the load sends: a signed outcome or an Outbound
// Message. A re-delivery repeats an earlier job's body.
type job struct {
	outbound bool
	body     string
	sig      string
	outcome  int   // TaskRouter: the outcome number
	records  []int // Outbound: the record numbers it carries
}

// plan builds the requests: every outcome once, the records in messages of
// batch notifications, then dup of them again, all shuffled together
// (fixed seed, so runs compare).
func plan(authToken string, outcomes, records, batch int, dup float64) []job {
	var jobs []job
	for i := range outcomes {
		body, sig := world.SignedOutcome(authToken, i, world.ContactID(1_000_000+i), false)
		jobs = append(jobs, job{body: body, sig: sig, outcome: i})
	}
	for first := 0; first < records; first += batch {
		n := min(batch, records-first)
		j := job{outbound: true, body: world.ContactsMessage(first, n)}
		for r := first; r < first+n; r++ {
			j.records = append(j.records, r)
		}
		jobs = append(jobs, j)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, j := range slices.Clone(jobs) {
		if rng.Float64() < dup {
			jobs = append(jobs, j)
		}
	}
	rng.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	return jobs
}

// result is what the drive saw.
type result struct {
	sent, failedJobs      int
	retries               int64
	wall                  time.Duration
	outcomeLat, soapLat   []time.Duration
	notifications         int
	acceptedOutcome       map[int]time.Time // first acceptance of each outcome
	acceptedRecord        map[int]time.Time // first acceptance of each record
	outcomesSent, soapReq int
}

// drive posts jobs round-robin over urls from clients goroutines, at most
// rate requests/s (0: as fast as they go), until the jobs or the time run
// out. A refused or failed post is retried on the next instance, as the
// vendors retry, until the deadline.
func drive(urls []string, jobs []job, clients, rate int, duration time.Duration) *result {
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 512, DisableCompression: true,
	}}
	res := &result{acceptedOutcome: map[int]time.Time{}, acceptedRecord: map[int]time.Time{}}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(duration)
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				if rate > 0 {
					at := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))
					if at.After(deadline) {
						return
					}
					time.Sleep(time.Until(at))
				} else if time.Now().After(deadline) {
					return
				}
				j := jobs[i]
				lat, tries, ok := send(hc, urls, i, j, deadline.Add(30*time.Second))
				now := time.Now()
				mu.Lock()
				res.sent++
				res.retries += int64(tries - 1)
				if !ok {
					res.failedJobs++
					mu.Unlock()
					continue
				}
				if j.outbound {
					res.soapLat = append(res.soapLat, lat)
					res.soapReq++
					res.notifications += len(j.records)
					for _, r := range j.records {
						if _, seen := res.acceptedRecord[r]; !seen {
							res.acceptedRecord[r] = now
						}
					}
				} else {
					res.outcomeLat = append(res.outcomeLat, lat)
					res.outcomesSent++
					if _, seen := res.acceptedOutcome[j.outcome]; !seen {
						res.acceptedOutcome[j.outcome] = now
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	return res
}

// send posts one job until it is acknowledged or giveUp passes; it returns
// the latency of the acknowledged attempt and the number of attempts.
func send(hc *http.Client, urls []string, i int, j job, giveUp time.Time) (time.Duration, int, bool) {
	for try := 1; ; try++ {
		u := urls[(i+try-1)%len(urls)]
		var req *http.Request
		if j.outbound {
			req, _ = http.NewRequest(http.MethodPost, u+world.OutboundPath, strings.NewReader(j.body))
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.Header.Set("SOAPAction", `""`)
		} else {
			req, _ = http.NewRequest(http.MethodPost, u+world.PathTaskRouter, strings.NewReader(j.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", j.sig)
		}
		t0 := time.Now()
		resp, err := hc.Do(req)
		lat := time.Since(t0)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return lat, try, true
			}
		}
		if time.Now().After(giveUp) {
			return 0, try, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pct is the p-th percentile of ds (sorted in place), in milliseconds.
func pct(ds []time.Duration, p float64) string {
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%.1f ms", float64(ds[int(float64(len(ds)-1)*p)])/float64(time.Millisecond))
}
