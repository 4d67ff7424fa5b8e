package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/test/world"
)

// clients is how many HTTP clients post at once (keep-alive, loopback).
const clients = 16

// BenchmarkOutboundIntake: notifications/s through the SOAP endpoint, with
// the consumers stopped so only intake (parse, dedupe, two XADDs) counts.
func BenchmarkOutboundIntake(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("notifications=%d", n), func(b *testing.B) {
			br := startBridge(b, false)
			bodies := make([]string, b.N)
			for i := range bodies {
				bodies[i] = world.ContactsMessage(i*n, n)
			}
			url := br.URL + world.OutboundPath
			b.ResetTimer()
			elapsed, err := parallel(b.N, clients, func(i int) error {
				code, err := post(br.HTTP, url, "text/xml; charset=utf-8", bodies[i], map[string]string{"SOAPAction": `""`})
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("outbound message answered %d", code)
				}
				return err
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(b.N*n)/elapsed.Seconds(), "notifications/s")
		})
	}
}

// signedBodies are n distinct signed task.completed events.
func signedBodies(authToken string, from, n int) (bodies, sigs []string) {
	bodies, sigs = make([]string, n), make([]string, n)
	for i := range n {
		bodies[i], sigs[i] = world.SignedOutcome(authToken, from+i, world.ContactID(from+i), false)
	}
	return bodies, sigs
}

// burst posts the events on clients connections and returns requests/s.
func burst(c *http.Client, url string, bodies, sigs []string) (float64, error) {
	elapsed, err := parallel(len(bodies), clients, func(i int) error {
		code, err := postForm(c, url, bodies[i], sigs[i])
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%s answered %d", url, code)
		}
		return err
	})
	return float64(len(bodies)) / elapsed.Seconds(), err
}

// BenchmarkSignedIntake: a signed TaskRouter event through the real
// handler (form, signature, JSON, dedupe+XADD script).
func BenchmarkSignedIntake(b *testing.B) {
	br := startBridge(b, false)
	bodies, sigs := signedBodies(br.Config.Twilio.AuthToken, 0, b.N)
	b.ResetTimer()
	rate, err := burst(br.HTTP, br.URL+world.PathTaskRouter, bodies, sigs)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "req/s")
}

// bareSetNX is SPEC's baseline: a gin handler that reads the form and does
// one SET NX per request, on a client built as the bridge builds its own.
func bareSetNX(b *testing.B, redisURL string) string {
	b.Helper()
	rdb, err := redis.NewClient(redisURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rdb.Close() })
	e := gin.New()
	e.POST(world.PathTaskRouter, func(c *gin.Context) {
		if err := rdb.SetNX(c.Request.Context(), "bare:"+c.PostForm("Sid"), 1, 7*24*time.Hour).Err(); err != nil {
			c.Status(http.StatusServiceUnavailable)
			return
		}
		c.Status(http.StatusOK)
	})
	ts := httptest.NewServer(e)
	b.Cleanup(ts.Close)
	return ts.URL
}

// BenchmarkBareGinSetNX: the baseline on its own, with the same bodies.
func BenchmarkBareGinSetNX(b *testing.B) {
	br := startBridge(b, false) // for the same Redis setup and auth token
	url := bareSetNX(b, br.Redis.URL())
	bodies, sigs := signedBodies(br.Config.Twilio.AuthToken, 0, b.N)
	b.ResetTimer()
	rate, err := burst(br.HTTP, url+world.PathTaskRouter, bodies, sigs)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "req/s")
}

// BenchmarkIntakeRatio alternates bursts of the two handlers on the same
// Redis so both see the same machine load, and reports the median of the
// per-round ratios (SPEC: signed/bare ≥ 0.5). Each op is one round of
// perBurst requests each, after a warm-up round; use -benchtime 5x or more.
func BenchmarkIntakeRatio(b *testing.B) {
	const perBurst = 8000
	br := startBridge(b, false)
	bare := bareSetNX(b, br.Redis.URL()) + world.PathTaskRouter
	signed := br.URL + world.PathTaskRouter
	var bareRates, signedRates, ratios []float64
	round := 1 // round 0 warms both up: connections, Lua script, pools
	{
		bodies, sigs := signedBodies(br.Config.Twilio.AuthToken, 0, perBurst)
		_, err1 := burst(br.HTTP, bare, bodies, sigs)
		_, err2 := burst(br.HTTP, signed, bodies, sigs)
		if err1 != nil || err2 != nil {
			b.Fatal(err1, err2)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		bodies, sigs := signedBodies(br.Config.Twilio.AuthToken, round*perBurst, perBurst)
		var rs, rb float64
		var err1, err2 error
		if round%2 == 0 { // alternate who goes first
			rb, err1 = burst(br.HTTP, bare, bodies, sigs)
			rs, err2 = burst(br.HTTP, signed, bodies, sigs)
		} else {
			rs, err2 = burst(br.HTTP, signed, bodies, sigs)
			rb, err1 = burst(br.HTTP, bare, bodies, sigs)
		}
		if err1 != nil || err2 != nil {
			b.Fatal(err1, err2)
		}
		b.Logf("round %d: bare %.0f req/s, signed %.0f req/s, ratio %.2f", round, rb, rs, rs/rb)
		bareRates, signedRates, ratios = append(bareRates, rb), append(signedRates, rs), append(ratios, rs/rb)
		round++
	}
	b.ReportMetric(median(bareRates), "bare_req/s")
	b.ReportMetric(median(signedRates), "signed_req/s")
	b.ReportMetric(median(ratios), "ratio")
	if r := median(ratios); r < 0.5 {
		b.Logf("signed intake is %.2f of the bare handler; SPEC requires ≥ 0.5", r)
	}
	// The bridge's queue really holds every event once.
	q, err := redis.NewQueue(br.RDB, redis.QueueConfig{Name: event.QueueWriteback})
	if err != nil {
		b.Fatal(err)
	}
	if st, err := q.Stats(context.Background()); err != nil || int(st.Length) != round*perBurst {
		b.Fatalf("writeback queue holds %d entries after %d distinct events (%v)", st.Length, round*perBurst, err)
	}
}
