package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	usage       prometheus.Gauge
	limit       prometheus.Gauge
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lockResends prometheus.Counter

	used, limitSeen atomic.Int64 // for APIUsage; gauges can't be read back
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		usage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salesforce_api_usage",
			Help: "API calls used in the last 24 h, from the Sforce-Limit-Info header.",
		}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salesforce_api_limit",
			Help: "Daily API call limit, from the Sforce-Limit-Info header.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesforce_api_requests_total",
			Help: "Salesforce requests by operation and final HTTP status (transport retries not counted).",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "salesforce_api_request_duration_seconds",
			Help:    "Salesforce request latency by operation, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.025, 2, 10),
		}, []string{"operation"}),
		lockResends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salesforce_locked_rows_resent_total",
			Help: "Collections rows re-sent after UNABLE_TO_LOCK_ROW.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.usage, m.limit, m.requests, m.duration, m.lockResends} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("salesforce: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

type opKey struct{}

func withOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// meteredTransport counts calls and reads Sforce-Limit-Info; it sits outside the retry transport.
type meteredTransport struct {
	next http.RoundTripper
	c    *Client
}

func (t *meteredTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op, _ := req.Context().Value(opKey{}).(string)
	if op == "" {
		op = "other"
	}
	if op != "token" {
		t.c.calls.Add(1)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.c.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
		if used, limit, ok := parseLimitInfo(resp.Header.Get("Sforce-Limit-Info")); ok {
			m := t.c.m
			m.used.Store(used)
			m.limitSeen.Store(limit)
			m.usage.Set(float64(used))
			m.limit.Set(float64(limit))
		}
	}
	t.c.m.requests.WithLabelValues(op, status).Inc()
	return resp, err
}

// parseLimitInfo reads "api-usage=N/LIMIT" from a header that may carry other parts,
// e.g. "api-usage=18/15000, per-app-api-usage=17/250(appName=x)".
func parseLimitInfo(h string) (used, limit int64, ok bool) {
	for _, part := range strings.Split(h, ",") {
		v, found := strings.CutPrefix(strings.TrimSpace(part), "api-usage=")
		if !found {
			continue
		}
		a, b, found := strings.Cut(v, "/")
		if !found {
			return 0, 0, false
		}
		u, err1 := strconv.ParseInt(a, 10, 64)
		l, err2 := strconv.ParseInt(b, 10, 64)
		return u, l, err1 == nil && err2 == nil
	}
	return 0, 0, false
}
