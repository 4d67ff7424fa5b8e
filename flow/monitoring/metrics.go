package monitoring

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count reminders by channel and by who sends them, so operators
// see what Twilio's scheduler holds against what the bridge sends itself.
type metrics struct {
	reminders *prometheus.CounterVec // channel, via (twilio_scheduler, bridge), result
	fallbacks *prometheus.CounterVec // from, to
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_monitoring_reminders_total",
			Help: "Reminder days handed to Twilio's scheduler or sent by the bridge, by channel, via and result (ok, unknown, refused, skipped, error).",
		}, []string{"channel", "via", "result"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_monitoring_fallbacks_total",
			Help: "Contacts moved to reminders.fallback after a delivery failure meaning the number cannot receive texts.",
		}, []string{"from", "to"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.reminders, m.fallbacks} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("monitoring: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) reminder(channel, via, result string) {
	m.reminders.WithLabelValues(channel, via, result).Inc()
}
