// Package reconcile recovers what the Twilio webhooks missed. Twilio does
// not retry a webhook the bridge refused (a 5xx, a deploy, Redis down), and
// TaskRouter never retries its event callback. So every Interval, on one
// instance at a time, the reconciler reads Twilio's own records (TaskRouter's
// Events, the account's inbound Messages) from a checkpoint in Redis and
// records each item through the webhooks' own form-to-item code, under the
// same dedupe keys (EventSid, MessageSid): an event that did come in by
// webhook is a duplicate and changes nothing.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/webhooks"
)

// History is what the reconciler reads of Twilio's records.
type History interface {
	ListEventsPage(ctx context.Context, eventType string, start, end time.Time, pageSize int, cursor string) (twilio.EventsPage, error)
	ListMessagesPage(ctx context.Context, sentAfter time.Time, pageSize int, cursor string) (twilio.MessagesPage, error)
}

// Enqueuer records items durably; false means "seen before" (the webhook's
// intake, connector/redis.Queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, items ...queue.Item) ([]bool, error)
}

// Store keeps the lease and the checkpoints (connector/redis.KV).
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
}

// Defaults; see Config.
const (
	DefaultInterval    = time.Minute
	DefaultOverlap     = time.Minute
	DefaultFirstWindow = time.Hour
	DefaultMaxSpan     = time.Hour
	// Retention is how far back TaskRouter keeps Events (30 days); the
	// reconciler never asks for more, less an hour of margin.
	Retention = 30*24*time.Hour - time.Hour
)

// Store keys.
const (
	keyLease          = "reconcile:lease"
	keyEventsCursor   = "reconcile:checkpoint:events"
	keyMessagesCursor = "reconcile:checkpoint:messages"
)

// Config wires the reconciler.
type Config struct {
	History    History
	Monitoring Enqueuer // STOP and START, as the SMS webhook records them
	Writeback  Enqueuer // task events and replies
	Store      Store
	// Owner names this instance in the lease.
	Owner string
	// Interval between runs (BRIDGE_RECONCILE_INTERVAL); default 1m. The
	// lease lasts 9/10 of it, so a killed instance's lease has expired by
	// the next tick of any other.
	Interval time.Duration
	// Overlap re-reads this much before the checkpoint, for clock skew and
	// Twilio's indexing delay; dedupe makes the re-read harmless. Default 1m.
	Overlap time.Duration
	// FirstWindow is how far back the first run (no checkpoint) reads.
	// Default 1h: enough to recover a Redis that lost its data in a
	// failover, little enough that a new install replays almost nothing.
	FirstWindow time.Duration
	// MaxSpan bounds the Events window of one checkpoint step, so catching
	// up after a long outage makes steady progress. Default 1h.
	MaxSpan time.Duration
	// PageSize of the list calls; default and maximum 1000.
	PageSize int

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Reconciler runs the reconciliation loop.
type Reconciler struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	types   []string
}

// New checks cfg.
func New(cfg Config) (*Reconciler, error) {
	switch {
	case cfg.History == nil || cfg.Store == nil:
		return nil, errors.New("reconcile: History and Store are required")
	case cfg.Monitoring == nil || cfg.Writeback == nil:
		return nil, errors.New("reconcile: Monitoring and Writeback queues are required")
	case cfg.Owner == "":
		return nil, errors.New("reconcile: Owner is required")
	case cfg.Interval < 0 || cfg.Overlap < 0 || cfg.FirstWindow < 0 || cfg.MaxSpan < 0:
		return nil, errors.New("reconcile: durations must not be negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = DefaultOverlap
	}
	if cfg.FirstWindow == 0 {
		cfg.FirstWindow = DefaultFirstWindow
	}
	if cfg.MaxSpan == 0 {
		cfg.MaxSpan = DefaultMaxSpan
	}
	if cfg.PageSize <= 0 || cfg.PageSize > twilio.MaxPageSize {
		cfg.PageSize = twilio.MaxPageSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reconciler{cfg: cfg, log: cfg.Logger, types: webhooks.WritebackEventTypes()}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// Run reconciles every Interval until ctx ends. The first run is one
// Interval after start: an instance back from an outage has recovered what
// it missed within two Intervals, and a restart costs no extra Twilio calls.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile run failed; retried next interval", "err", err)
		}
	}
}

// Result is what one run did.
type Result struct {
	Ran       bool           // false: another instance holds the lease
	Recovered map[string]int // by kind, items the webhooks had missed
	Seen      int            // items read, recovered or not
}

// RunOnce takes the lease and, if it got it, reads both sources from their
// checkpoints. An error in one source leaves its checkpoint where it was,
// so the next run reads that window again; the other source still advances.
func (r *Reconciler) RunOnce(ctx context.Context) (Result, error) {
	res := Result{Recovered: map[string]int{}}
	got, err := r.cfg.Store.SetNX(ctx, keyLease, r.cfg.Owner, r.leaseTTL())
	if err != nil {
		r.metrics.runs.WithLabelValues("error").Inc()
		return res, fmt.Errorf("take reconcile lease: %w", err)
	}
	if !got {
		r.metrics.runs.WithLabelValues("skipped").Inc()
		return res, nil
	}
	res.Ran = true
	evErr := r.events(ctx, &res)
	if evErr != nil {
		r.metrics.errors.WithLabelValues("events").Inc()
	}
	msgErr := r.messages(ctx, &res)
	if msgErr != nil {
		r.metrics.errors.WithLabelValues("messages").Inc()
	}
	err = errors.Join(evErr, msgErr)
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.metrics.runs.WithLabelValues(result).Inc()
	total := 0
	for kind, n := range res.Recovered {
		r.metrics.recovered.WithLabelValues(kind).Add(float64(n))
		total += n
	}
	r.log.Info("reconcile run", "seen", res.Seen, "recovered", total, "ok", err == nil)
	return res, err
}

func (r *Reconciler) leaseTTL() time.Duration {
	return max(r.cfg.Interval*9/10, time.Millisecond)
}

// renew extends the lease while this instance still holds it, so a long
// catch-up is not joined by another instance.
func (r *Reconciler) renew(ctx context.Context) {
	if v, ok, err := r.cfg.Store.Get(ctx, keyLease); err == nil && ok && v == r.cfg.Owner {
		_ = r.cfg.Store.Set(ctx, keyLease, r.cfg.Owner, r.leaseTTL())
	}
}

// from is where a source's reading starts: its checkpoint, or FirstWindow
// back on the first run; never beyond what Twilio keeps.
func (r *Reconciler) from(ctx context.Context, key string, now time.Time) (time.Time, error) {
	floor := now.Add(-Retention)
	v, ok, err := r.cfg.Store.Get(ctx, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("read checkpoint: %w", err)
	}
	if !ok {
		return now.Add(-r.cfg.FirstWindow), nil
	}
	cp, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		r.log.Warn("reconcile checkpoint unreadable; starting from the first window", "key", key)
		return now.Add(-r.cfg.FirstWindow), nil
	}
	if cp.Before(floor) {
		r.log.Warn("reconcile checkpoint is older than Twilio keeps events; reading what is left", "key", key, "checkpoint", cp.Format(time.RFC3339))
		return floor, nil
	}
	return cp, nil
}

// advance moves a checkpoint forward, never back (a run that outlived
// its lease may race another).
func (r *Reconciler) advance(ctx context.Context, key string, to time.Time, source string) error {
	if v, ok, err := r.cfg.Store.Get(ctx, key); err == nil && ok {
		if cur, err := time.Parse(time.RFC3339Nano, v); err == nil && !to.After(cur) {
			return nil
		}
	}
	if err := r.cfg.Store.Set(ctx, key, to.UTC().Format(time.RFC3339Nano), 0); err != nil {
		return fmt.Errorf("store %s checkpoint: %w", source, err)
	}
	r.metrics.checkpoint.WithLabelValues(source).Set(float64(to.Unix()))
	return nil
}

// events reads TaskRouter's Events of the writeback types, span by span,
// and moves the checkpoint after each span is wholly recorded.
func (r *Reconciler) events(ctx context.Context, res *Result) error {
	now := r.cfg.Now().UTC()
	from, err := r.from(ctx, keyEventsCursor, now)
	if err != nil {
		return err
	}
	for from.Before(now) {
		to := minTime(now, from.Add(r.cfg.MaxSpan))
		for _, typ := range r.types {
			if err := r.eventsOfType(ctx, typ, from.Add(-r.cfg.Overlap), to, res); err != nil {
				return err
			}
		}
		if err := r.advance(ctx, keyEventsCursor, to, "events"); err != nil {
			return err
		}
		from = to
		r.renew(ctx)
	}
	return nil
}

func (r *Reconciler) eventsOfType(ctx context.Context, typ string, start, end time.Time, res *Result) error {
	cursor := ""
	for {
		page, err := r.cfg.History.ListEventsPage(ctx, typ, start, end, r.cfg.PageSize, cursor)
		r.metrics.pages.WithLabelValues("events").Inc()
		if err != nil {
			return err
		}
		var items []queue.Item
		var kinds []string
		for _, form := range page.Forms {
			res.Seen++
			item, ok, err := webhooks.TaskRouterItem(form)
			if err != nil {
				// The webhook would answer 400; no retry can fix it.
				r.log.Warn("reconciled event is malformed; skipped", "event_sid", form.Get("Sid"), "err", err)
				continue
			}
			if ok {
				items = append(items, item)
				kinds = append(kinds, form.Get("EventType"))
			}
		}
		if err := r.record(ctx, r.cfg.Writeback, items, kinds, res); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// messages reads the account's Messages newest first back to the
// checkpoint (less the overlap), recording inbound ones as the SMS webhook
// does. Twilio filters by date only, so the pages stop once they reach a
// message sent before the window. That stop is safe whether Twilio orders
// by date_sent or date_created: an inbound message's two dates are the
// same, so every inbound message listed after the one that stops the
// reading was received before it, outside the window.
func (r *Reconciler) messages(ctx context.Context, res *Result) error {
	now := r.cfg.Now().UTC()
	from, err := r.from(ctx, keyMessagesCursor, now)
	if err != nil {
		return err
	}
	start := from.Add(-r.cfg.Overlap)
	cursor := ""
	for {
		page, err := r.cfg.History.ListMessagesPage(ctx, start, r.cfg.PageSize, cursor)
		r.metrics.pages.WithLabelValues("messages").Inc()
		if err != nil {
			return err
		}
		byQueue := map[string][]queue.Item{}
		kinds := map[string][]string{}
		for _, m := range page.Inbound {
			if !m.DateSent.IsZero() && m.DateSent.Before(start) {
				continue
			}
			res.Seen++
			dest, item, err := webhooks.SMSItem(m.Form, m.DateSent, m.DateSent)
			if err != nil {
				r.log.Warn("reconciled message is malformed; skipped", "message_sid", m.Form.Get("MessageSid"), "err", err)
				continue
			}
			if dest == "" {
				continue // HELP: Twilio answers it
			}
			byQueue[dest] = append(byQueue[dest], item)
			kinds[dest] = append(kinds[dest], smsKind(m.Form))
		}
		for _, q := range []string{event.QueueMonitoring, event.QueueWriteback} {
			target := r.cfg.Writeback
			if q == event.QueueMonitoring {
				target = r.cfg.Monitoring
			}
			if err := r.record(ctx, target, byQueue[q], kinds[q], res); err != nil {
				return err
			}
		}
		if page.Next == "" || (!page.Oldest.IsZero() && page.Oldest.Before(start)) {
			break
		}
		cursor = page.Next
		r.renew(ctx)
	}
	return r.advance(ctx, keyMessagesCursor, now, "messages")
}

func smsKind(form url.Values) string {
	switch webhooks.OptOutType(form.Get("Body"), form.Get("OptOutType")) {
	case "STOP":
		return "sms_stop"
	case "START":
		return "sms_start"
	}
	return "sms_reply"
}

// record enqueues items; the fresh ones are what the webhooks had missed.
func (r *Reconciler) record(ctx context.Context, q Enqueuer, items []queue.Item, kinds []string, res *Result) error {
	if len(items) == 0 {
		return nil
	}
	fresh, err := q.Enqueue(ctx, items...)
	if err != nil {
		return fmt.Errorf("record %d reconciled items: %w", len(items), err)
	}
	var ids []string
	for i, f := range fresh {
		if f {
			res.Recovered[kinds[i]]++
			ids = append(ids, items[i].Key)
		}
	}
	if len(ids) > 0 {
		// Ids only, and a bounded number of them.
		r.log.Info("reconciled what the webhooks missed", "count", len(ids), "keys", strings.Join(ids[:min(len(ids), 20)], ","))
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

type metrics struct {
	runs, recovered, errors, pages *prometheus.CounterVec
	checkpoint                     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_reconcile_runs_total", Help: "Reconciler runs by result (ok, error, skipped: another instance held the lease).",
		}, []string{"result"}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_reconcile_recovered_total", Help: "Events and messages the webhooks had missed, recorded by the reconciler, by kind.",
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_reconcile_errors_total", Help: "Reconciler runs that failed to read or record a source (events, messages).",
		}, []string{"source"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_reconcile_pages_total", Help: "Twilio list calls the reconciler made, by source.",
		}, []string{"source"}),
		checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bridge_reconcile_checkpoint_timestamp_seconds", Help: "Everything before this time is recorded, by source.",
		}, []string{"source"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.runs, m.recovered, m.errors, m.pages, m.checkpoint} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("reconcile: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
