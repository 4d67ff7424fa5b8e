package redis

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are created even without a Registerer, so call sites need no nil
// checks; they are only exported when registered.
type metrics struct {
	enqueued   prometheus.Counter
	duplicates prometheus.Counter
	handled    *prometheus.CounterVec
	batch      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, q *Queue) (*metrics, error) {
	m := &metrics{
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bridge_queue_enqueued_total", Help: "Items recorded in the queue.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bridge_queue_duplicates_total", Help: "Items refused as duplicates of a recent key.",
		}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_queue_handled_total", Help: "Messages settled, by result (ok, retry, dead).",
		}, []string{"result"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bridge_queue_batch_size", Help: "Messages per handler call.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
	}
	for _, r := range []string{"ok", "retry", "dead"} {
		m.handled.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"queue": q.cfg.Name}, reg)
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bridge_queue_depth", Help: "Messages not yet done: in the stream or waiting to retry.",
	}, func() float64 {
		return q.gauge(func(st QueueStats) int64 { return st.Length + st.Retrying })
	})
	dead := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bridge_queue_dead_letters", Help: "Dead letters held for this queue.",
	}, func() float64 {
		return q.gauge(func(st QueueStats) int64 { return st.Dead })
	})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bridge_queue_oldest_age_seconds", Help: "How long the oldest message in the stream has waited (0 when empty).",
	}, func() float64 {
		return q.gauge(func(st QueueStats) int64 { return int64(st.OldestAge / time.Second) })
	})
	for _, c := range []prometheus.Collector{m.enqueued, m.duplicates, m.handled, m.batch, depth, dead, age} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// gauge reads Stats at scrape time; NaN says Redis did not answer.
func (q *Queue) gauge(pick func(QueueStats) int64) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := q.Stats(ctx)
	if err != nil {
		return math.NaN()
	}
	return float64(pick(st))
}
