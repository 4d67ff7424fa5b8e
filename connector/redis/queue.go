package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/queue"
)

// ErrClosed is returned by Run on a closed Queue.
var ErrClosed = errors.New("redis: queue closed")

// groupName is the one consumer group of every queue.
const groupName = "bridge"

// queuesKey indexes queue names, so dead letters can be listed across queues.
const queuesKey = "bridge:queues"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// RetryPolicy says how failed messages are retried: exponential backoff with
// full jitter, from Initial up to Max, until GiveUpAfter has passed since the
// message was first seen.
type RetryPolicy struct {
	Initial     time.Duration // default 1s
	Max         time.Duration // default 1m
	GiveUpAfter time.Duration // default 15m (SPEC: at least 10m in production)
	// MaxDeliveries dead-letters a message handed out this many times without
	// a result, i.e. whose consumers kept dying on it. Default 10.
	MaxDeliveries int
}

// QueueConfig configures one durable queue (one stream, one consumer group).
type QueueConfig struct {
	Name      string        // "records", "writeback", "monitoring"; [A-Za-z0-9_.-]
	Consumer  string        // unique per process; default hostname-pid
	BatchSize int           // max messages per handler call; default 100, max 1000
	Linger    time.Duration // wait this long to fill a batch; 0 = hand over what is there
	ClaimIdle time.Duration // take over entries idle this long in a dead consumer; default 30s
	Retry     RetryPolicy
	DedupeTTL time.Duration // how long an intake key is remembered; default 7 days
	// SingleReader lets only one consumer at a time fill a batch of new
	// entries (a lease in Redis, held while reading and lingering, not while
	// handling), so batches are as full as the linger allows across all
	// instances instead of split between them, and a slow batch does not
	// hold up the next. Correctness never rests on the lease.
	SingleReader bool

	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics
}

func (c *QueueConfig) setDefaults() {
	if c.Consumer == "" {
		host, _ := os.Hostname()
		c.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.Retry.Initial == 0 {
		c.Retry.Initial = time.Second
	}
	if c.Retry.Max == 0 {
		c.Retry.Max = time.Minute
	}
	if c.Retry.GiveUpAfter == 0 {
		c.Retry.GiveUpAfter = 15 * time.Minute
	}
	if c.Retry.MaxDeliveries == 0 {
		c.Retry.MaxDeliveries = 10
	}
	if c.DedupeTTL == 0 {
		c.DedupeTTL = 7 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks a config after defaults are applied.
func (c QueueConfig) Validate() error {
	switch {
	case !nameRE.MatchString(c.Name):
		return fmt.Errorf("queue name %q: want 1-64 of [A-Za-z0-9_.-]", c.Name)
	case c.BatchSize < 1 || c.BatchSize > 1000:
		return fmt.Errorf("queue %s: BatchSize %d out of 1..1000", c.Name, c.BatchSize)
	case c.Linger < 0:
		return fmt.Errorf("queue %s: negative Linger", c.Name)
	case c.ClaimIdle < 10*time.Millisecond:
		return fmt.Errorf("queue %s: ClaimIdle %s below 10ms", c.Name, c.ClaimIdle)
	case c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial:
		return fmt.Errorf("queue %s: Retry wants 0 < Initial <= Max", c.Name)
	case c.Retry.GiveUpAfter <= 0:
		return fmt.Errorf("queue %s: Retry.GiveUpAfter must be positive", c.Name)
	case c.Retry.MaxDeliveries < 1:
		return fmt.Errorf("queue %s: Retry.MaxDeliveries must be positive", c.Name)
	case c.DedupeTTL < time.Millisecond:
		return fmt.Errorf("queue %s: DedupeTTL below 1ms", c.Name)
	}
	return nil
}

// Item, Message and the batch handler are the queue package's contract;
// these names keep the adapter's callers and tests reading naturally.
type (
	Item         = queue.Item
	Message      = queue.Message
	BatchHandler = queue.Handler
)

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return queue.IsPermanent(err) }

// QueueStats is a snapshot of a queue.
type QueueStats struct {
	Length    int64         // entries in the stream (waiting or being handled)
	Pending   int64         // delivered to a consumer and not yet settled
	Retrying  int64         // waiting for their retry time
	Dead      int64         // dead letters of this queue
	OldestAge time.Duration // how long the oldest stream entry has waited
}

// queueKeys are one queue's keys; the {name} hash tag puts them in one slot.
type queueKeys struct {
	stream, retry, dead string
	seenPrefix          string
	retryPrefix         string // + entry id: hash holding a retrying entry
	reader              string // SingleReader lease: the consumer that reads new entries
	deadPrefix          string // + entry id: hash holding a dead letter
}

func keysFor(name string) queueKeys {
	base := "bridge:{" + name + "}:"
	return queueKeys{
		stream:      base + "stream",
		retry:       base + "retry",
		dead:        base + "dead",
		seenPrefix:  base + "seen:",
		retryPrefix: base + "retry:",
		reader:      base + "reader",
		deadPrefix:  base + "dead:",
	}
}

// Queue is a durable, deduplicating work queue on a Redis Stream.
type Queue struct {
	c       goredis.UniversalClient
	cfg     QueueConfig
	keys    queueKeys
	log     *slog.Logger
	metrics *metrics

	// Loop cadences, derived from the config.
	block        time.Duration
	moveEvery    time.Duration
	reclaimEvery time.Duration
	readerLease  time.Duration
	jitter       func(ceil time.Duration) time.Duration // tests replace it

	mu        sync.Mutex
	running   bool
	closed    bool
	wg        sync.WaitGroup
	closing   chan struct{}
	hardStop  chan struct{}
	closeOnce sync.Once
	hardOnce  sync.Once
}

// NewQueue checks cfg and returns a queue. It does not touch Redis; Run
// creates the consumer group.
func NewQueue(c goredis.UniversalClient, cfg QueueConfig) (*Queue, error) {
	if c == nil {
		return nil, errors.New("redis: NewQueue: nil client")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	q := &Queue{
		c:            c,
		cfg:          cfg,
		keys:         keysFor(cfg.Name),
		log:          cfg.Logger.With("queue", cfg.Name),
		block:        clamp(cfg.ClaimIdle/2, 10*time.Millisecond, 500*time.Millisecond),
		moveEvery:    clamp(cfg.Retry.Initial/4, 5*time.Millisecond, time.Second),
		reclaimEvery: clamp(cfg.ClaimIdle/2, 10*time.Millisecond, 10*time.Second),
		readerLease:  clamp(cfg.ClaimIdle/3, 100*time.Millisecond, 10*time.Second),
		jitter:       fullJitter,
		closing:      make(chan struct{}),
		hardStop:     make(chan struct{}),
	}
	m, err := newMetrics(cfg.Registerer, q)
	if err != nil {
		return nil, fmt.Errorf("redis: queue %s metrics: %w", cfg.Name, err)
	}
	q.metrics = m
	return q, nil
}

func clamp(d, lo, hi time.Duration) time.Duration { return max(lo, min(d, hi)) }

// Name is the queue's name.
func (q *Queue) Name() string { return q.cfg.Name }

// Enqueue records items durably. Per item one script checks the dedupe key,
// appends to the stream and sets the key, so an item is either fully
// recorded or not at all. All items travel in one round trip. The result
// says per item whether it was new (false = duplicate). On error some items
// may be recorded; a retry of the whole call is safe for keyed items (the
// dedupe drops those already in), while items without a Key may repeat.
func (q *Queue) Enqueue(ctx context.Context, items ...Item) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	ttl := strconv.FormatInt(q.cfg.DedupeTTL.Milliseconds(), 10)
	calls := make([]scriptCall, len(items))
	for i, it := range items {
		keys := []string{q.keys.stream}
		if it.Key != "" {
			keys = append(keys, q.keys.seenPrefix+it.Key)
		}
		calls[i] = scriptCall{s: enqueueScript, keys: keys, args: []any{ttl, it.Key, it.Payload, now}}
	}
	res, err := evalAll(ctx, q.c, calls)
	if err != nil {
		return nil, fmt.Errorf("enqueue %d item(s) on %s: %w", len(items), q.cfg.Name, err)
	}
	out := make([]bool, len(items))
	for i, r := range res {
		out[i] = r == int64(1)
		if out[i] {
			q.metrics.enqueued.Inc()
		} else {
			q.metrics.duplicates.Inc()
		}
	}
	return out, nil
}

// Stats reads the queue's sizes.
func (q *Queue) Stats(ctx context.Context) (QueueStats, error) {
	pipe := q.c.Pipeline()
	xlen := pipe.XLen(ctx, q.keys.stream)
	pend := pipe.XPending(ctx, q.keys.stream, groupName)
	retry := pipe.ZCard(ctx, q.keys.retry)
	dead := pipe.ZCard(ctx, q.keys.dead)
	head := pipe.XRangeN(ctx, q.keys.stream, "-", "+", 1)
	_, _ = pipe.Exec(ctx)
	var st QueueStats
	var err error
	if st.Length, err = xlen.Result(); err != nil {
		return st, fmt.Errorf("stats %s: %w", q.cfg.Name, err)
	}
	if p, err := pend.Result(); err == nil {
		st.Pending = p.Count
	} else if !isNoGroup(err) {
		return st, fmt.Errorf("stats %s: %w", q.cfg.Name, err)
	}
	if st.Retrying, err = retry.Result(); err != nil {
		return st, fmt.Errorf("stats %s: %w", q.cfg.Name, err)
	}
	if st.Dead, err = dead.Result(); err != nil {
		return st, fmt.Errorf("stats %s: %w", q.cfg.Name, err)
	}
	h, err := head.Result()
	if err != nil {
		return st, fmt.Errorf("stats %s: %w", q.cfg.Name, err)
	}
	if len(h) > 0 {
		if ms, ok := idMillis(h[0].ID); ok {
			st.OldestAge = max(0, time.Since(time.UnixMilli(ms)))
		}
	}
	return st, nil
}

// Close stops Run and waits for the batch in flight to be handled and
// settled. When ctx ends first, the handler's context is cancelled and Close
// returns ctx's error. Safe to call more than once.
func (q *Queue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		close(q.closing)
	})
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		q.hardOnce.Do(func() { close(q.hardStop) })
		return fmt.Errorf("close queue %s: %w", q.cfg.Name, ctx.Err())
	}
}

func idMillis(id string) (int64, bool) {
	ms, _, _ := strings.Cut(id, "-")
	v, err := strconv.ParseInt(ms, 10, 64)
	return v, err == nil
}

func isNoGroup(err error) bool { return goredis.HasErrorPrefix(err, "NOGROUP") }

// ActiveConsumers counts the consumers that read (or tried to) within the
// last within: the instances working this queue now. A queue no instance
// ever read has none.
func (q *Queue) ActiveConsumers(ctx context.Context, within time.Duration) (int, error) {
	cs, err := q.c.XInfoConsumers(ctx, q.keys.stream, groupName).Result()
	if isNoGroup(err) || (err != nil && strings.Contains(err.Error(), "no such key")) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("consumers of %s: %w", q.cfg.Name, err)
	}
	n := 0
	for _, c := range cs {
		if c.Idle <= within {
			n++
		}
	}
	return n, nil
}
