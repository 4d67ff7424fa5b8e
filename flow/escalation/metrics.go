package escalation

import "github.com/prometheus/client_golang/prometheus"

// metrics exist without a Registerer too, so call sites need no nil checks.
// Labels are reasons only: never an id, a name or a number.
type metrics struct {
	escalations *prometheus.CounterVec // tasks opened, by reason
	missed      prometheus.Counter     // monitoring days found missed
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_escalations_total", Help: "Escalation tasks opened for tracers, by reason (symptoms, missed_days, reply).",
		}, []string{"reason"}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bridge_missed_days_total", Help: "Monitoring days that passed their grace without an answer.",
		}),
	}
	for _, r := range []string{ReasonSymptoms, ReasonMissedDays, ReasonReply} {
		m.escalations.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.escalations, m.missed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
