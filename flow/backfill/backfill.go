// Package backfill loads existing Salesforce records into the bridge: it
// walks the records matching an operator's SOQL condition in Id order and
// enqueues each, as an event.Record, onto the same durable queues live
// Outbound Messages go to (record sync's, and monitoring's), so retries,
// dead letters, parallelism, links and echo suppression are the queue's and
// the flows'. It checkpoints what it enqueued after every page, so a stopped
// run resumes where it left off.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// Source reads records from Salesforce.
type Source interface {
	Query(ctx context.Context, soql string) (salesforce.QueryPage, error)
	QueryMore(ctx context.Context, nextRecordsURL string) (salesforce.QueryPage, error)
}

// Store keeps checkpoints; *redis.KV satisfies it.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Decider is record sync's own decision for a record by the mapping alone
// (recordsync.Decide, wired in server): skip (not the mapped object), or the
// action, or the mapping refusing the record.
type Decider func(m *mapping.Mapping, rec event.Record) (skip bool, action mapping.Action, err error)

// Config wires a run.
type Config struct {
	Source Source
	// Records is record sync's queue, the one Outbound Messages go to.
	Records queue.Enqueuer
	// Monitoring, when set, gets every record too, as it gets every Outbound
	// Message, so contacts already under monitoring get their reminders.
	Monitoring queue.Enqueuer
	// Backlog, when set, reads how many entries wait on record sync's
	// queue. Before each page the run waits until it is at most MaxBacklog,
	// so live Outbound Messages never queue behind more than about a page
	// of backfill (the serving instances work both).
	Backlog func(ctx context.Context) (int64, error)
	// MaxBacklog is the backlog a page may be enqueued on; default 2 pages.
	MaxBacklog int64
	// BacklogPoll is how often a waiting run reads the backlog; default 500ms.
	BacklogPoll time.Duration
	// Serving, when set, counts the instances working record sync's queue.
	// With none, waiting cannot end: the run stops waiting, says so once,
	// and enqueues the rest for the instances to work when they start.
	Serving func(ctx context.Context) (int, error)
	// Decide is what the dry run reports; required with DryRun.
	Decide   Decider
	Store    Store
	Mappings Mappings
	// Where is the operator's SOQL condition, passed to Salesforce as written.
	Where string
	// PageSize is how many records are enqueued between checkpoints.
	PageSize int // default 2000 (Salesforce's default batch)
	// Restart ignores the checkpoint and starts from the first record, as a
	// new run: records are enqueued again even where they have not changed.
	Restart bool
	// DryRun reads the records and counts what record sync would do with
	// them: nothing is enqueued and no checkpoint is written.
	DryRun   bool
	Reporter Reporter // nil = none
	Logger   *slog.Logger
	Now      func() time.Time
	// CheckpointTTL bounds how long a finished or abandoned checkpoint is kept.
	CheckpointTTL time.Duration // default 90 days
}

// Counts are the outcomes so far. A run knows what it enqueued; what record
// sync then does (created, updated, dead-lettered) happens in the queue and
// shows in its metrics and dead letters. A dry run knows record sync's
// decision.
type Counts struct {
	Enqueued  int `json:"enqueued"`  // new on record sync's queue
	Duplicate int `json:"duplicate"` // this version of the record was already enqueued in this run
	// The dry run's, never checkpointed.
	Open    int `json:"-"` // a task would be opened or updated
	Cancel  int `json:"-"` // the open task would be canceled
	None    int `json:"-"` // no action
	Skipped int `json:"-"` // not the mapped object
	Failed  int `json:"-"` // the mapping refuses the record (a required value is missing)
}

// Sum is every record counted.
func (c Counts) Sum() int {
	return c.Enqueued + c.Duplicate + c.Open + c.Cancel + c.None + c.Skipped + c.Failed
}

func (c *Counts) add(o Counts) {
	c.Enqueued += o.Enqueued
	c.Duplicate += o.Duplicate
	c.Open += o.Open
	c.Cancel += o.Cancel
	c.None += o.None
	c.Skipped += o.Skipped
	c.Failed += o.Failed
}

// Progress is the state of a run, across the runs that share its checkpoint.
type Progress struct {
	Object  string
	Total   int // records done before plus those matching after the checkpoint
	Done    int // records enqueued (or, dry, read), in this run and earlier ones
	Counts  Counts
	Pages   int    // pages checkpointed in this run
	LastID  string // the checkpoint: every record up to it is enqueued
	Resumed bool   // this run continued an earlier one
	DryRun  bool

	RunDone    int           // records done in this run
	RunElapsed time.Duration // this run's time so far
	Elapsed    time.Duration // all runs' time
}

// Rate is this run's records per second.
func (p Progress) Rate() float64 {
	if p.RunElapsed <= 0 {
		return 0
	}
	return float64(p.RunDone) / p.RunElapsed.Seconds()
}

// ETA is the time left at this run's rate; 0 when unknown.
func (p Progress) ETA() time.Duration {
	r := p.Rate()
	if r <= 0 || p.Total <= p.Done {
		return 0
	}
	return time.Duration(float64(p.Total-p.Done) / r * float64(time.Second))
}

// Summary is how a run ended.
type Summary struct {
	Progress
	Complete bool // every matching record is enqueued (now or in an earlier run)
}

// Reporter is told about a run as it goes. Calls are serialized.
type Reporter interface {
	Start(p Progress)  // the first page is read: Total is known
	Record(p Progress) // more records are done
	Page(p Progress)   // a page is checkpointed
}

var (
	// ErrAlreadyComplete is a run whose checkpoint says it finished; the
	// Summary holds that run's counts.
	ErrAlreadyComplete = errors.New("backfill already complete; use --restart to enqueue every record again")
	// ErrInterrupted is a run stopped by its context after checkpointing.
	ErrInterrupted = errors.New("backfill interrupted")
)

// ConditionError is Salesforce refusing the query built on the condition
// (MALFORMED_QUERY, INVALID_FIELD…), before anything was enqueued.
type ConditionError struct{ Err error }

func (e *ConditionError) Error() string { return e.Err.Error() }
func (e *ConditionError) Unwrap() error { return e.Err }

// enqueueChunk bounds one Enqueue round trip, and how often a Ctrl-C is
// noticed within a page.
const enqueueChunk = 200

// Backfill is one configured run.
type Backfill struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Backfill, error) {
	switch {
	case cfg.Source == nil || cfg.Store == nil || cfg.Mappings == nil:
		return nil, errors.New("backfill: Source, Store and Mappings are required")
	case cfg.DryRun && cfg.Decide == nil:
		return nil, errors.New("backfill: a dry run needs Decide")
	case !cfg.DryRun && cfg.Records == nil:
		return nil, errors.New("backfill: Records (record sync's queue) is required")
	}
	if strings.TrimSpace(cfg.Where) == "" {
		return nil, errors.New("backfill: a --where condition is required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 2000
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = 2 * int64(cfg.PageSize)
	}
	if cfg.BacklogPoll <= 0 {
		cfg.BacklogPoll = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CheckpointTTL <= 0 {
		cfg.CheckpointTTL = 90 * 24 * time.Hour
	}
	if cfg.Reporter == nil {
		cfg.Reporter = nopReporter{}
	}
	b := &Backfill{cfg: cfg, log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b, nil
}

// run is the state of one Run.
type run struct {
	*Backfill
	object string
	key    string
	soql   func(afterID string) string
	cp     checkpoint
	start  time.Time
	prior  time.Duration // elapsed in earlier runs
	total  int
	pages  int
	// doneAtStart and resumed describe the checkpoint this run began from.
	doneAtStart int
	resumed     bool
	mu          sync.Mutex // guards live and serializes the Reporter
	live        Counts     // the page in progress
	liveN       int
	// unserved: no instance works record sync's queue, so pages no
	// longer wait for its backlog.
	unserved bool
}

// Run enqueues the matching records from the checkpoint on. It returns
// ErrAlreadyComplete, ErrInterrupted (the checkpoint holds what was
// enqueued), a *ConditionError, or another error after which the same
// command resumes.
func (b *Backfill) Run(ctx context.Context) (Summary, error) {
	rt := b.cfg.Mappings.Current().RecordToTask()
	if rt == nil {
		return Summary{}, errors.New("the mapping has no record_to_task section: nothing to backfill")
	}
	r := &run{Backfill: b, object: rt.Object(), start: b.cfg.Now()}
	r.key = checkpointKey(r.object, b.cfg.Where)
	fields := append([]string{"Id", "LastModifiedDate"}, rt.Fields()...)
	if rem := b.cfg.Mappings.Current().Reminders(); b.cfg.Monitoring != nil && rem != nil && strings.EqualFold(rem.Object(), rt.Object()) {
		fields = append(fields, rem.Fields()...)
	}
	slices.Sort(fields)
	sel, err := salesforce.Select(r.object, slices.Compact(fields))
	if err != nil {
		return Summary{}, err
	}
	r.soql = func(afterID string) string {
		q := sel + " WHERE (" + b.cfg.Where + ")"
		if afterID != "" {
			q += " AND Id > " + salesforce.QuoteSOQL(afterID)
		}
		return q + " ORDER BY Id"
	}

	if !b.cfg.Restart {
		if r.cp, err = loadCheckpoint(ctx, b.cfg.Store, r.key); err != nil {
			return Summary{}, err
		}
	}
	r.prior = time.Duration(r.cp.ElapsedMS) * time.Millisecond
	r.doneAtStart, r.resumed = r.cp.Done, r.cp.LastID != ""
	if r.cp.Complete {
		r.total = r.cp.Done
		return r.summary(true), ErrAlreadyComplete
	}
	if r.cp.StartedAt.IsZero() {
		r.cp.StartedAt = r.start.UTC()
	}
	if r.cp.RunID == "" {
		// A run and its resumptions share it; --restart makes a new one.
		r.cp.RunID = strconv.FormatInt(r.start.UnixNano(), 36)
	}
	r.cp.Object, r.cp.Where = r.object, b.cfg.Where

	page, err := b.cfg.Source.Query(ctx, r.soql(r.cp.LastID))
	if err != nil {
		var apiErr *salesforce.APIError
		if errors.As(err, &apiErr) && apiErr.Status == 400 {
			return Summary{}, &ConditionError{err}
		}
		return r.summary(false), interrupted(ctx, fmt.Errorf("query %s: %w", r.object, err))
	}
	r.total = r.cp.Done + page.TotalSize
	b.log.Info("backfill started", "object", r.object, "matching", page.TotalSize, "resumed_after", r.cp.LastID, "dry_run", b.cfg.DryRun)
	r.cfg.Reporter.Start(r.progress())

	buf, next := page.Records, page.NextRecordsURL
	for {
		for len(buf) < b.cfg.PageSize && next != "" && !page.Done {
			if page, err = r.more(ctx, next, buf); err != nil {
				return r.summary(false), interrupted(ctx, err)
			}
			buf, next = append(buf, page.Records...), page.NextRecordsURL
		}
		if len(buf) == 0 {
			break
		}
		chunk := buf[:min(b.cfg.PageSize, len(buf))]
		if err := r.waitForBacklog(ctx); err != nil {
			return r.summary(false), err
		}
		done, err := r.enqueuePage(ctx, chunk)
		switch {
		case done > 0:
			if cerr := r.checkpoint(ctx, chunk[done-1]); cerr != nil {
				return r.summary(false), errors.Join(err, cerr)
			}
		case err != nil || ctx.Err() != nil:
			// Nothing to checkpoint, but the run id is kept: the resume's
			// items then match what Redis recorded before failing. (A
			// --restart stopped here also resumes instead of finding the
			// old run complete.)
			if serr := r.save(context.WithoutCancel(ctx)); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		if err != nil {
			return r.summary(false), err
		}
		if done < len(chunk) || ctx.Err() != nil {
			return r.summary(false), ErrInterrupted
		}
		buf = buf[done:]
	}
	r.cp.Complete = true
	if err := r.save(context.WithoutCancel(ctx)); err != nil {
		return r.summary(false), err
	}
	b.log.Info("backfill complete", "object", r.object, "records", r.cp.Done, "enqueued", r.cp.Counts.Enqueued, "dry_run", b.cfg.DryRun)
	return r.summary(true), nil
}

// waitForBacklog holds the next page until record sync's queue has at most
// MaxBacklog entries waiting. A run with no serving instance waits here,
// saying so in the log once a minute; Ctrl-C stops it with the checkpoint
// where it was.
func (r *run) waitForBacklog(ctx context.Context) error {
	if r.cfg.DryRun || r.cfg.Backlog == nil || r.unserved {
		return nil
	}
	var since, lastSaid time.Time
	for {
		n, err := r.cfg.Backlog(ctx)
		if err != nil {
			return interrupted(ctx, fmt.Errorf("read record sync's backlog: %w", err))
		}
		if n <= r.cfg.MaxBacklog {
			return nil
		}
		if r.cfg.Serving != nil {
			serving, err := r.cfg.Serving(ctx)
			if err != nil {
				return interrupted(ctx, fmt.Errorf("read who works record sync's queue: %w", err))
			}
			if serving == 0 {
				r.unserved = true
				r.log.Warn("no bridge instance is working record sync's queue: enqueuing without waiting; start `bridge serve` to sync the records", "object", r.object, "backlog", n)
				return nil
			}
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(lastSaid) >= time.Minute {
			r.log.Info("backfill waiting for the serving instances to work the queue", "object", r.object, "backlog", n, "max_backlog", r.cfg.MaxBacklog, "waited_s", int(now.Sub(since).Seconds()))
			lastSaid = now
		}
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case <-time.After(r.cfg.BacklogPoll):
		}
	}
}

// interrupted reports a Salesforce call cut off by Ctrl-C as an interruption.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	return err
}

// more fetches the next batch. An expired query locator (Salesforce keeps
// them about 15 minutes) is replaced by a fresh keyset query after the last
// record already read.
func (r *run) more(ctx context.Context, next string, buf []salesforce.Record) (salesforce.QueryPage, error) {
	page, err := r.cfg.Source.QueryMore(ctx, next)
	var apiErr *salesforce.APIError
	if err == nil || !errors.As(err, &apiErr) || apiErr.Code != "INVALID_QUERY_LOCATOR" {
		if err != nil {
			return page, fmt.Errorf("query %s (next page): %w", r.object, err)
		}
		return page, nil
	}
	after := r.cp.LastID
	if len(buf) > 0 {
		after, _ = buf[len(buf)-1]["Id"].(string)
	}
	r.log.Warn("query locator expired; querying again", "after_id", after)
	page, err = r.cfg.Source.Query(ctx, r.soql(after))
	if err != nil {
		return page, fmt.Errorf("query %s again after %s: %w", r.object, after, err)
	}
	r.mu.Lock()
	r.total = r.cp.Done + r.liveN + len(buf) + page.TotalSize
	r.mu.Unlock()
	return page, nil
}

func orStart(id string) string {
	if id == "" {
		return "the start"
	}
	return id
}

// enqueuePage enqueues recs in Id order, in chunks, and returns how many are
// enqueued: all of them, or after Ctrl-C or a Redis error the chunks before,
// a prefix the caller checkpoints.
func (r *run) enqueuePage(ctx context.Context, recs []salesforce.Record) (int, error) {
	m := r.cfg.Mappings.Current()
	done := 0
	for done < len(recs) && ctx.Err() == nil {
		chunk := recs[done:min(done+enqueueChunk, len(recs))]
		var c Counts
		var err error
		if r.cfg.DryRun {
			c = r.decide(m, chunk)
		} else {
			// A chunk under way finishes after Ctrl-C, so its items are
			// either checkpointed or, if Redis failed, enqueued again on
			// resume and dropped as duplicates.
			c, err = r.enqueue(context.WithoutCancel(ctx), m, chunk)
		}
		if err != nil {
			return done, fmt.Errorf("enqueue records after %s: %w; the records before are checkpointed: check Redis, then run the same command again",
				orStart(lastID(recs[:done], r.cp.LastID)), err)
		}
		done += len(chunk)
		r.mu.Lock()
		r.live.add(c)
		r.liveN += len(chunk)
		r.cfg.Reporter.Record(r.progressLocked())
		r.mu.Unlock()
	}
	return done, nil
}

func lastID(recs []salesforce.Record, before string) string {
	if len(recs) == 0 {
		return before
	}
	id, _ := recs[len(recs)-1]["Id"].(string)
	return id
}

// enqueue puts the records on record sync's queue and monitoring's, under
// keys that make a second enqueue of the same record version in this run a
// duplicate, while a later change of the record (a new LastModifiedDate)
// is a new item, as it is a new Outbound Message.
func (r *run) enqueue(ctx context.Context, m *mapping.Mapping, recs []salesforce.Record) (Counts, error) {
	records := make([]queue.Item, 0, len(recs))
	monitoring := make([]queue.Item, 0, len(recs))
	for _, raw := range recs {
		rec := r.event(m, raw)
		ri, mi, err := event.RecordItems(itemKey(r.cp.RunID, rec), rec)
		if err != nil {
			return Counts{}, err
		}
		records, monitoring = append(records, ri), append(monitoring, mi)
	}
	fresh, err := r.cfg.Records.Enqueue(ctx, records...)
	if err != nil {
		return Counts{}, err
	}
	if r.cfg.Monitoring != nil {
		if _, err := r.cfg.Monitoring.Enqueue(ctx, monitoring...); err != nil {
			return Counts{}, err
		}
	}
	var c Counts
	for _, f := range fresh {
		if f {
			c.Enqueued++
		} else {
			c.Duplicate++
		}
	}
	return c, nil
}

// itemKey is the dedupe key of one version of a record in one run. Live
// Outbound Messages are keyed by notification id, which Salesforce changes
// with every change of the record; LastModifiedDate does the same here.
func itemKey(runID string, rec event.Record) string {
	lm, _ := rec.Fields["LastModifiedDate"].(string)
	return "backfill:" + runID + ":" + rec.Object + ":" + rec.RecordID + ":" + lm
}

// decide counts what record sync would do with the records.
func (r *run) decide(m *mapping.Mapping, recs []salesforce.Record) Counts {
	var c Counts
	for _, raw := range recs {
		rec := r.event(m, raw)
		skip, action, err := r.cfg.Decide(m, rec)
		switch {
		case err != nil:
			c.Failed++
			r.log.Warn("backfill record would fail", "object", r.object, "record_id", rec.RecordID, "err", queue.LogText(err))
		case skip:
			c.Skipped++
		case action == mapping.ActionCreate:
			c.Open++
		case action == mapping.ActionCancel:
			c.Cancel++
		default:
			c.None++
		}
	}
	return c
}

// event is the record as an Outbound Message would carry it: protected
// fields dropped, LastModifiedDate in RFC 3339.
func (r *run) event(m *mapping.Mapping, raw salesforce.Record) event.Record {
	id, _ := raw["Id"].(string)
	fields := m.Redact(mapping.Record(raw))
	if lm, ok := fields["LastModifiedDate"].(string); ok {
		fields["LastModifiedDate"] = rfc3339(lm)
	}
	return event.Record{
		NotificationID: "backfill", Object: r.object, RecordID: id, Fields: fields,
		ReceivedAt: r.cfg.Now().UTC(), Source: "backfill",
	}
}

// rfc3339 turns the REST API's 2006-01-02T15:04:05.000+0000 into RFC 3339,
// the form Outbound Messages carry and recordsync orders by, so its stale
// check applies to backfilled records too.
func rfc3339(s string) string {
	t, err := time.Parse("2006-01-02T15:04:05.000-0700", s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// checkpoint folds the enqueued records into the checkpoint and saves it.
func (r *run) checkpoint(ctx context.Context, last salesforce.Record) error {
	r.mu.Lock()
	r.cp.LastID, _ = last["Id"].(string)
	r.cp.Counts.add(r.live)
	r.cp.Done += r.liveN
	r.live, r.liveN = Counts{}, 0
	r.pages++
	r.mu.Unlock()
	// Saved even after Ctrl-C: the page is enqueued and must be recorded.
	if err := r.save(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg.Reporter.Page(r.progressLocked())
	return nil
}

func (r *run) save(ctx context.Context) error {
	if r.cfg.DryRun {
		return nil
	}
	r.cp.UpdatedAt = r.cfg.Now().UTC()
	r.cp.ElapsedMS = (r.prior + r.cfg.Now().Sub(r.start)).Milliseconds()
	return saveCheckpoint(ctx, r.cfg.Store, r.key, r.cp, r.cfg.CheckpointTTL)
}

func (r *run) progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progressLocked()
}

func (r *run) progressLocked() Progress {
	c := r.cp.Counts
	c.add(r.live)
	el := r.cfg.Now().Sub(r.start)
	return Progress{
		Object: r.object, Total: r.total, Done: r.cp.Done + r.liveN, Counts: c, Pages: r.pages,
		LastID: r.cp.LastID, Resumed: r.resumed, DryRun: r.cfg.DryRun,
		RunDone: r.cp.Done + r.liveN - r.doneAtStart, RunElapsed: el, Elapsed: r.prior + el,
	}
}

func (r *run) summary(complete bool) Summary {
	return Summary{Progress: r.progress(), Complete: complete}
}

type nopReporter struct{}

func (nopReporter) Start(Progress)  {}
func (nopReporter) Record(Progress) {}
func (nopReporter) Page(Progress)   {}
