package twilio

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the client's collectors; a nil *metrics records nothing.
type metrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bridge_twilio_calls_total",
		Help: "Twilio REST calls by operation and outcome (HTTP status, timeout or network).",
	}, []string{"operation", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bridge_twilio_call_duration_seconds",
		Help:    "Twilio REST call latency by operation.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"operation"})
	var err error
	if calls, err = register(reg, calls); err != nil {
		return nil, err
	}
	if latency, err = register(reg, latency); err != nil {
		return nil, err
	}
	return &metrics{calls: calls, latency: latency}, nil
}

// register reuses an identical collector already on reg (two clients, one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *metrics) observe(op, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(op, status).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}
