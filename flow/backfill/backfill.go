// Package backfill loads existing Salesforce records into record sync: it
// walks the records matching an operator's SOQL condition in Id order, syncs
// each through the same recordsync flow as live Outbound Messages (so links
// and echo suppression are shared), and checkpoints after every page so a
// stopped run resumes where it left off.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/flow/recordsync"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// Source reads records from Salesforce.
type Source interface {
	Query(ctx context.Context, soql string) (salesforce.QueryPage, error)
	QueryMore(ctx context.Context, nextRecordsURL string) (salesforce.QueryPage, error)
}

// Syncer applies one record; *recordsync.Flow is the production one.
type Syncer interface {
	Sync(ctx context.Context, rec event.Record) (recordsync.Outcome, error)
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

// Monitor starts reminders for records already under monitoring;
// *monitoring.Flow satisfies it.
type Monitor interface {
	Record(ctx context.Context, rec event.Record) error
}

// Config wires a run.
type Config struct {
	Source Source
	Sync   Syncer
	// Monitor, when set, also gets every record, so contacts already under
	// monitoring on day one get their reminders. Optional.
	Monitor  Monitor
	Store    Store
	Mappings Mappings
	// Where is the operator's SOQL condition, passed to Salesforce as written.
	Where string
	// PageSize is how many records are synced between checkpoints.
	PageSize int // default 2000 (Salesforce's default batch)
	// Parallelism bounds the records synced at once within a page.
	Parallelism int // default 8
	// Restart ignores the checkpoint and starts from the first record.
	Restart bool
	// DryRun reads the records and classifies them with the mapping alone:
	// Sync is not called and no checkpoint is written.
	DryRun   bool
	Reporter Reporter // nil = none
	Logger   *slog.Logger
	Now      func() time.Time
	// CheckpointTTL bounds how long a finished or abandoned checkpoint is kept.
	CheckpointTTL time.Duration // default 90 days
	// BusyRetry paces retries of a record that a live sync holds.
	BusyRetry    time.Duration // default 100ms, doubling
	BusyAttempts int           // default 6
}

// Counts are the outcomes so far.
type Counts struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Canceled  int `json:"canceled"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
}

// Sum is every record counted.
func (c Counts) Sum() int {
	return c.Created + c.Updated + c.Canceled + c.Unchanged + c.Skipped + c.Failed
}

func (c *Counts) add(o Counts) {
	c.Created += o.Created
	c.Updated += o.Updated
	c.Canceled += o.Canceled
	c.Unchanged += o.Unchanged
	c.Skipped += o.Skipped
	c.Failed += o.Failed
}

func (c *Counts) count(out recordsync.Outcome, err error) {
	if err != nil {
		c.Failed++
		return
	}
	switch out {
	case recordsync.Created:
		c.Created++
	case recordsync.Updated:
		c.Updated++
	case recordsync.Canceled:
		c.Canceled++
	case recordsync.Skipped:
		c.Skipped++
	default:
		c.Unchanged++
	}
}

// Progress is the state of a run, across the runs that share its checkpoint.
type Progress struct {
	Object  string
	Total   int // records done before plus those matching after the checkpoint
	Done    int // records synced, in this run and earlier ones
	Counts  Counts
	Pages   int    // pages checkpointed in this run
	LastID  string // the checkpoint: every record up to it is done
	Resumed bool   // this run continued an earlier one
	DryRun  bool

	RunDone    int           // records synced in this run
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
	Complete bool // every matching record is done (now or in an earlier run)
}

// Reporter is told about a run as it goes. Calls are serialized.
type Reporter interface {
	Start(p Progress)  // the first page is read: Total is known
	Record(p Progress) // one record is done
	Page(p Progress)   // a page is checkpointed
}

var (
	// ErrAlreadyComplete is a run whose checkpoint says it finished; the
	// Summary holds that run's counts.
	ErrAlreadyComplete = errors.New("backfill already complete; use --restart to sync again")
	// ErrInterrupted is a run stopped by its context after checkpointing.
	ErrInterrupted = errors.New("backfill interrupted")
)

// ConditionError is Salesforce refusing the query built on the condition
// (MALFORMED_QUERY, INVALID_FIELD…), before anything was synced.
type ConditionError struct{ Err error }

func (e *ConditionError) Error() string { return e.Err.Error() }
func (e *ConditionError) Unwrap() error { return e.Err }

// Backfill is one configured run.
type Backfill struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Backfill, error) {
	if cfg.Source == nil || cfg.Store == nil || cfg.Mappings == nil || (cfg.Sync == nil && !cfg.DryRun) {
		return nil, errors.New("backfill: Source, Sync, Store and Mappings are required")
	}
	if strings.TrimSpace(cfg.Where) == "" {
		return nil, errors.New("backfill: a --where condition is required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 2000
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CheckpointTTL <= 0 {
		cfg.CheckpointTTL = 90 * 24 * time.Hour
	}
	if cfg.BusyRetry <= 0 {
		cfg.BusyRetry = 100 * time.Millisecond
	}
	if cfg.BusyAttempts <= 0 {
		cfg.BusyAttempts = 6
	}
	if cfg.Reporter == nil {
		cfg.Reporter = nopReporter{}
	}
	b := &Backfill{cfg: cfg, log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if cfg.DryRun {
		b.cfg.Sync = planner{cfg.Mappings}
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
	transient   int   // failures in the page that a retry may fix
	lastErr     error // the last of them
}

// Run syncs the matching records from the checkpoint on. It returns
// ErrAlreadyComplete, ErrInterrupted (the checkpoint holds what was done), a
// *ConditionError, or another error after which the same command resumes.
func (b *Backfill) Run(ctx context.Context) (Summary, error) {
	rt := b.cfg.Mappings.Current().RecordToTask()
	if rt == nil {
		return Summary{}, errors.New("the mapping has no record_to_task section: nothing to backfill")
	}
	r := &run{Backfill: b, object: rt.Object(), start: b.cfg.Now()}
	r.key = checkpointKey(r.object, b.cfg.Where)
	fields := append([]string{"Id", "LastModifiedDate"}, rt.Fields()...)
	if rem := b.cfg.Mappings.Current().Reminders(); b.cfg.Monitor != nil && rem != nil && strings.EqualFold(rem.Object(), rt.Object()) {
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
	b.log.Info("backfill started", "object", r.object, "matching", page.TotalSize, "resumed_after", r.cp.LastID)
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
		done := r.syncPage(ctx, chunk)
		if err := r.outage(done); err != nil {
			return r.summary(false), err
		}
		if done > 0 {
			if err := r.checkpoint(ctx, chunk[done-1]); err != nil {
				return r.summary(false), err
			}
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
	b.log.Info("backfill complete", "object", r.object, "records", r.cp.Done, "failed", r.cp.Counts.Failed)
	return r.summary(true), nil
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

// outage stops the run, without checkpointing the page, when most of it
// failed for reasons a retry may fix (Twilio or Redis down): going on would
// checkpoint past records that were never synced.
func (r *run) outage(done int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.transient == 0 || r.transient*2 <= done {
		r.transient, r.lastErr = 0, nil
		return nil
	}
	err := fmt.Errorf("%d of %d records failed in the page after %s (last error: %w); the page is not checkpointed: check Twilio and Redis, then run the same command again",
		r.transient, done, orStart(r.cp.LastID), r.lastErr)
	r.live, r.liveN, r.transient, r.lastErr = Counts{}, 0, 0, nil
	return err
}

func orStart(id string) string {
	if id == "" {
		return "the start"
	}
	return id
}

// syncPage syncs records in Id order, at most Parallelism at once, and
// returns how many are done: all of them, or on cancellation the ones
// started, which form a prefix because they are started in order.
func (r *run) syncPage(ctx context.Context, recs []salesforce.Record) int {
	m := r.cfg.Mappings.Current()
	// In-flight syncs finish even after Ctrl-C so no task is left half made.
	syncCtx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, r.cfg.Parallelism)
	var wg sync.WaitGroup
	started := 0
	for _, rec := range recs {
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := r.syncOne(syncCtx, m, rec)
			r.mu.Lock()
			defer r.mu.Unlock()
			r.live.count(out, err)
			r.liveN++
			if err != nil && !queue.IsPermanent(err) {
				r.transient, r.lastErr = r.transient+1, err
			}
			r.cfg.Reporter.Record(r.progressLocked())
		}()
	}
	wg.Wait()
	return started
}

func (r *run) syncOne(ctx context.Context, m *mapping.Mapping, raw salesforce.Record) (recordsync.Outcome, error) {
	id, _ := raw["Id"].(string)
	fields := m.Redact(mapping.Record(raw))
	if lm, ok := fields["LastModifiedDate"].(string); ok {
		fields["LastModifiedDate"] = rfc3339(lm)
	}
	rec := event.Record{
		NotificationID: "backfill", Object: r.object, RecordID: id, Fields: fields,
		ReceivedAt: r.cfg.Now().UTC(), Source: "backfill",
	}
	var out recordsync.Outcome
	err := r.retryBusy(func() (err error) {
		out, err = r.cfg.Sync.Sync(ctx, rec)
		return err
	})
	if err == nil && r.cfg.Monitor != nil {
		err = r.retryBusy(func() error { return r.cfg.Monitor.Record(ctx, rec) })
	}
	if err != nil {
		r.log.Warn("backfill record failed", "object", r.object, "record_id", id, "err", err)
	}
	return out, err
}

// retryBusy retries fn while a live flow holds the record for a moment; that
// is not a failure.
func (r *run) retryBusy(fn func() error) error {
	wait := r.cfg.BusyRetry
	for attempt := 1; ; attempt++ {
		err := fn()
		if !isBusy(err) || attempt >= r.cfg.BusyAttempts {
			return err
		}
		time.Sleep(wait)
		wait *= 2
	}
}

func isBusy(err error) bool {
	return errors.Is(err, recordsync.ErrBusy) || errors.Is(err, monitoring.ErrBusy)
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

// checkpoint folds the finished page into the checkpoint and saves it.
func (r *run) checkpoint(ctx context.Context, last salesforce.Record) error {
	r.mu.Lock()
	r.cp.LastID, _ = last["Id"].(string)
	r.cp.Counts.add(r.live)
	r.cp.Done += r.liveN
	r.live, r.liveN = Counts{}, 0
	r.pages++
	r.mu.Unlock()
	// Saved even after Ctrl-C: the page's work is done and must be recorded.
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
