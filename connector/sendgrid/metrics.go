package sendgrid

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the client's collectors; a nil *metrics records nothing.
type metrics struct {
	calls   *prometheus.CounterVec
	latency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bridge_sendgrid_calls_total",
		Help: "SendGrid mail send calls by outcome (HTTP status or transport).",
	}, []string{"status"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bridge_sendgrid_call_duration_seconds",
		Help:    "SendGrid mail send latency.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	for _, c := range []prometheus.Collector{calls, latency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			switch x := are.ExistingCollector.(type) {
			case *prometheus.CounterVec:
				calls = x
			case prometheus.Histogram:
				latency = x
			}
		}
	}
	return &metrics{calls: calls, latency: latency}, nil
}

func (m *metrics) observe(status string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(status).Inc()
	m.latency.Observe(d.Seconds())
}
