package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// entry is a Message plus what Run needs to settle it.
type entry struct {
	Message
	prior      int    // attempts before this delivery (stream field a)
	history    string // earlier dead-letterings of a replayed message, JSON (stream field h)
	deliveries int64  // times the stream handed this entry out
	gone       bool   // deleted from the stream while pending: ack only
	bad        string
}

// Run consumes the queue until ctx ends or Close is called, and returns nil
// then. Redis outages are logged and retried with backoff. The handler's
// context is not cancelled when ctx ends, so a batch in flight completes and
// is settled; Close with a deadline bounds that.
func (q *Queue) Run(ctx context.Context, h BatchHandler) error {
	if h == nil {
		return errors.New("redis: Run: nil handler")
	}
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case q.running:
		q.mu.Unlock()
		return fmt.Errorf("redis: queue %s: Run is already running", q.cfg.Name)
	}
	q.running = true
	q.wg.Add(1)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
		q.wg.Done()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	go func() {
		select {
		case <-q.closing:
			cancel()
		case <-ctx.Done():
		}
		select {
		case <-q.hardStop:
			hcancel()
		case <-hctx.Done():
		}
	}()

	var bg sync.WaitGroup
	bg.Go(func() { q.moveLoop(ctx) })
	q.consume(ctx, hctx, h)
	cancel()
	bg.Wait()
	if q.cfg.SingleReader {
		// Hand the lease on at once instead of letting it expire.
		q.releaseReaderLease(context.Background())
	}
	return nil
}

func (q *Queue) consume(ctx, hctx context.Context, h BatchHandler) {
	bo := backoff{min: 50 * time.Millisecond, max: 5 * time.Second}
	ready := false
	cursor := "0" // own pending entries first (a restart with the same name)
	reclaimCursor := "0-0"
	var nextReclaim, nextCleanup time.Time
	for ctx.Err() == nil {
		if !ready {
			if err := q.setup(ctx); err != nil {
				q.warn(ctx, "queue setup failed; retrying", err)
				bo.sleep(ctx)
				continue
			}
			ready, cursor = true, "0"
		}
		var batch []entry
		var err error
		switch now := time.Now(); {
		case now.After(nextReclaim):
			var next string
			batch, next, err = q.reclaim(ctx, reclaimCursor)
			if err == nil {
				reclaimCursor = next
				if next == "0-0" {
					nextReclaim = now.Add(q.reclaimEvery)
					if now.After(nextCleanup) {
						q.dropIdleConsumers(ctx)
						nextCleanup = now.Add(10 * time.Minute)
					}
				}
			}
		case cursor != ">":
			batch, err = q.read(ctx, cursor, -1)
			if err == nil {
				if len(batch) == 0 {
					cursor = ">"
				} else {
					cursor = batch[len(batch)-1].ID
				}
			}
		default:
			if q.cfg.SingleReader {
				lead, lerr := q.holdReaderLease(ctx)
				if lerr != nil {
					err = lerr
					break
				}
				if !lead {
					// Another instance is filling a batch; this one still
					// reclaims work of dead consumers on its next turn.
					sleep(ctx, q.block)
					continue
				}
			}
			batch, err = q.readNew(ctx)
			if q.cfg.SingleReader {
				// The lease covers reading, not handling: while this batch
				// is handled (slowly, if Salesforce is), another instance
				// may fill the next one.
				q.releaseReaderLease(ctx)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if isNoGroup(err) {
				ready = false // the stream was deleted or Redis lost its data
			}
			q.warn(ctx, "queue read failed; retrying", err)
			bo.sleep(ctx)
			continue
		}
		bo.reset()
		if len(batch) > 0 {
			q.process(ctx, hctx, h, batch)
		}
	}
}

// leaseScript takes or renews the reader lease. KEYS: lease; ARGV: consumer, ttl ms.
var leaseScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`)

// releaseLeaseScript gives the lease up only if this consumer holds it.
var releaseLeaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (q *Queue) holdReaderLease(ctx context.Context) (bool, error) {
	n, err := leaseScript.Run(ctx, q.c, []string{q.keys.reader}, q.cfg.Consumer, q.readerLease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("reader lease: %w", err)
	}
	return n == 1, nil
}

func (q *Queue) releaseReaderLease(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = releaseLeaseScript.Run(ctx, q.c, []string{q.keys.reader}, q.cfg.Consumer).Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (q *Queue) setup(ctx context.Context) error {
	err := q.c.XGroupCreateMkStream(ctx, q.keys.stream, groupName, "0").Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("create group: %w", err)
	}
	if err := q.c.SAdd(ctx, queuesKey, q.cfg.Name).Err(); err != nil {
		return fmt.Errorf("register queue: %w", err)
	}
	return nil
}

// readNew reads new entries and, if the batch is short, lingers to fill it.
func (q *Queue) readNew(ctx context.Context) ([]entry, error) {
	batch, err := q.read(ctx, ">", q.block)
	if err != nil || len(batch) == 0 || q.cfg.Linger <= 0 {
		return batch, err
	}
	deadline := time.Now().Add(q.cfg.Linger)
	for len(batch) < q.cfg.BatchSize {
		left := time.Until(deadline)
		if left < time.Millisecond {
			break
		}
		more, err := q.readN(ctx, ">", left, q.cfg.BatchSize-len(batch))
		if err != nil {
			break // what we hold is pending for us; the error shows on the next read
		}
		if len(more) == 0 {
			break
		}
		batch = append(batch, more...)
	}
	return batch, nil
}

func (q *Queue) read(ctx context.Context, id string, block time.Duration) ([]entry, error) {
	return q.readN(ctx, id, block, q.cfg.BatchSize)
}

// readN reads with XREADGROUP; block < 0 means no BLOCK (history reads).
func (q *Queue) readN(ctx context.Context, id string, block time.Duration, n int) ([]entry, error) {
	res, err := q.c.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group:    groupName,
		Consumer: q.cfg.Consumer,
		Streams:  []string{q.keys.stream, id},
		Count:    int64(n),
		Block:    block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, s := range res {
		for _, x := range s.Messages {
			out = append(out, parseEntry(x))
		}
	}
	if id != ">" && len(out) > 0 {
		// History re-delivers: attempts must count earlier deliveries.
		if err := q.fillDeliveries(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reclaim takes over entries idle longer than ClaimIdle, as left by a
// consumer that died.
func (q *Queue) reclaim(ctx context.Context, start string) ([]entry, string, error) {
	msgs, next, err := q.c.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
		Stream:   q.keys.stream,
		Group:    groupName,
		Consumer: q.cfg.Consumer,
		MinIdle:  q.cfg.ClaimIdle,
		Start:    start,
		Count:    int64(q.cfg.BatchSize),
	}).Result()
	if err != nil {
		return nil, start, fmt.Errorf("reclaim: %w", err)
	}
	if next == "" {
		next = "0-0"
	}
	if len(msgs) == 0 {
		return nil, next, nil
	}
	out := make([]entry, len(msgs))
	for i, x := range msgs {
		out[i] = parseEntry(x)
	}
	if err := q.fillDeliveries(ctx, out); err != nil {
		return nil, start, err
	}
	q.log.LogAttrs(ctx, slog.LevelInfo, "took over entries of an idle consumer", slog.Int("count", len(out)), slog.String("first_id", out[0].ID))
	return out, next, nil
}

// fillDeliveries reads delivery counts from the pending list.
func (q *Queue) fillDeliveries(ctx context.Context, es []entry) error {
	pe, err := q.c.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream:   q.keys.stream,
		Group:    groupName,
		Start:    es[0].ID,
		End:      es[len(es)-1].ID,
		Count:    int64(len(es)),
		Consumer: q.cfg.Consumer,
	}).Result()
	if err != nil {
		return fmt.Errorf("read delivery counts: %w", err)
	}
	counts := make(map[string]int64, len(pe))
	for _, p := range pe {
		counts[p.ID] = p.RetryCount
	}
	for i := range es {
		if n, ok := counts[es[i].ID]; ok {
			es[i].deliveries = n
		}
		es[i].Attempts = es[i].prior + int(es[i].deliveries)
	}
	return nil
}

func parseEntry(x goredis.XMessage) entry {
	e := entry{Message: Message{ID: x.ID}, deliveries: 1}
	if x.Values == nil {
		e.gone = true
		return e
	}
	e.Key, _ = x.Values["k"].(string)
	p, ok := x.Values["p"].(string)
	if !ok {
		e.bad = "malformed queue entry: no payload"
	}
	e.Payload = []byte(p)
	if t, err := strconv.ParseInt(str(x.Values["t"]), 10, 64); err == nil && t > 0 {
		e.FirstSeen = time.UnixMilli(t)
	} else if ms, ok := idMillis(x.ID); ok {
		e.FirstSeen = time.UnixMilli(ms)
	}
	e.prior, _ = strconv.Atoi(str(x.Values["a"]))
	e.Attempts = e.prior + 1
	e.history, _ = x.Values["h"].(string)
	return e
}

func str(v any) string { s, _ := v.(string); return s }

type outcomeKind int

const (
	outcomeAck outcomeKind = iota
	outcomeRetry
	outcomeDead
)

type outcome struct {
	e    *entry
	kind outcomeKind
	err  string
	due  int64 // retry time, unix ms
}

// process hands live entries to h and settles every entry of the batch.
func (q *Queue) process(ctx, hctx context.Context, h BatchHandler, batch []entry) {
	outs := make([]outcome, 0, len(batch))
	var live []*entry
	for i := range batch {
		e := &batch[i]
		switch {
		case e.gone:
			outs = append(outs, outcome{e: e, kind: outcomeAck})
		case e.bad != "":
			outs = append(outs, outcome{e: e, kind: outcomeDead, err: e.bad})
		case e.deliveries > int64(q.cfg.Retry.MaxDeliveries):
			outs = append(outs, outcome{e: e, kind: outcomeDead,
				err: fmt.Sprintf("delivered %d times without a result (consumers died or timed out)", e.deliveries)})
		default:
			live = append(live, e)
		}
	}
	if len(live) > 0 {
		msgs := make([]Message, len(live))
		ids := make([]string, len(live))
		for i, e := range live {
			msgs[i], ids[i] = e.Message, e.ID
		}
		q.metrics.batch.Observe(float64(len(msgs)))
		results := q.handle(hctx, h, msgs, ids)
		now := time.Now()
		for i, e := range live {
			outs = append(outs, q.decide(e, results[i], now))
		}
	}
	q.settle(ctx, hctx, outs)
}

// handle calls h with a heartbeat and turns a panic or a short result into
// retryable errors.
func (q *Queue) handle(ctx context.Context, h BatchHandler, msgs []Message, ids []string) (res []error) {
	stop := q.heartbeat(ctx, ids)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			q.log.LogAttrs(ctx, slog.LevelError, "batch handler panicked", slog.Int("count", len(msgs)), slog.String("first_id", ids[0]))
			res = fill(len(msgs), fmt.Errorf("handler panic: %v", r))
		}
	}()
	res = h(ctx, msgs)
	switch {
	case res == nil:
		return make([]error, len(msgs))
	case len(res) != len(msgs):
		q.log.LogAttrs(ctx, slog.LevelError, "batch handler returned the wrong number of results",
			slog.Int("want", len(msgs)), slog.Int("got", len(res)))
		return fill(len(msgs), fmt.Errorf("handler returned %d results for %d messages", len(res), len(msgs)))
	}
	return res
}

func fill(n int, err error) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// heartbeat re-claims the batch's entries for this consumer while the
// handler runs, which resets their idle time: a slow batch is not taken
// over by another consumer as if this one had died.
func (q *Queue) heartbeat(ctx context.Context, ids []string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(q.cfg.ClaimIdle/3, 5*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_ = q.c.XClaimJustID(ctx, &goredis.XClaimArgs{
				Stream: q.keys.stream, Group: groupName, Consumer: q.cfg.Consumer, MinIdle: 0, Messages: ids,
			}).Err()
		}
	}()
	return func() { cancel(); <-done }
}

func (q *Queue) decide(e *entry, err error, now time.Time) outcome {
	if err == nil {
		return outcome{e: e, kind: outcomeAck}
	}
	if IsPermanent(err) {
		return outcome{e: e, kind: outcomeDead, err: err.Error()}
	}
	giveUp := e.FirstSeen.Add(q.cfg.Retry.GiveUpAfter)
	if !now.Before(giveUp) {
		return outcome{e: e, kind: outcomeDead, err: err.Error()}
	}
	due := now.Add(q.jitter(q.cfg.Retry.ceiling(e.Attempts)))
	if due.After(giveUp) {
		due = giveUp // one last try at the deadline
	}
	// Round up: the mover compares whole milliseconds and must not run early.
	dueMs := due.UnixMilli()
	if due.Sub(time.UnixMilli(dueMs)) > 0 {
		dueMs++
	}
	return outcome{e: e, kind: outcomeRetry, err: err.Error(), due: dueMs}
}

// ceiling is the exponential backoff bound for the attempt-th failure; the
// actual delay is drawn uniformly below it (full jitter).
func (p RetryPolicy) ceiling(attempt int) time.Duration {
	attempt = max(attempt, 1)
	if attempt > 32 {
		return p.Max
	}
	if d := p.Initial << (attempt - 1); d > 0 && d < p.Max {
		return d
	}
	return p.Max
}

func fullJitter(ceil time.Duration) time.Duration { return rand.N(ceil + 1) }

// settle acks, schedules retries and dead-letters in one round trip. It
// repeats until Redis takes it: otherwise the entries would be handled again
// after ClaimIdle. It gives up when the handler context is cancelled (Close
// ran out of time), or after a few tries once Run's ctx has ended.
func (q *Queue) settle(ctx, hctx context.Context, outs []outcome) {
	if len(outs) == 0 {
		return
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var calls []scriptCall
	acks := []any{groupName}
	for _, o := range outs {
		e := o.e
		switch o.kind {
		case outcomeAck:
			acks = append(acks, e.ID)
		case outcomeRetry:
			calls = append(calls, scriptCall{s: retryScript,
				keys: []string{q.keys.stream, q.keys.retry, q.keys.retryPrefix + e.ID},
				args: []any{groupName, q.cfg.Consumer, e.ID, e.Key, e.Payload, e.FirstSeen.UnixMilli(), e.Attempts, o.due, e.history}})
		case outcomeDead:
			calls = append(calls, scriptCall{s: deadScript,
				keys: []string{q.keys.stream, q.keys.dead, q.keys.deadPrefix + e.ID},
				args: []any{groupName, q.cfg.Consumer, e.ID, e.Key, e.Payload, e.FirstSeen.UnixMilli(), e.Attempts, o.err, now, e.history}})
		}
	}
	if len(acks) > 1 {
		calls = append(calls, scriptCall{s: ackScript, keys: []string{q.keys.stream}, args: acks})
	}
	bo := backoff{min: 50 * time.Millisecond, max: 2 * time.Second}
	for try := 1; ; try++ {
		_, err := evalAll(hctx, q.c, calls)
		if err == nil {
			break
		}
		q.warn(hctx, "settling a batch failed; retrying", err)
		if hctx.Err() != nil || (ctx.Err() != nil && try >= 3) {
			q.log.LogAttrs(hctx, slog.LevelWarn, "batch left pending; it will be taken over after ClaimIdle",
				slog.Int("count", len(outs)), slog.String("first_id", outs[0].e.ID))
			return
		}
		bo.sleep(hctx)
	}
	for _, o := range outs {
		e := o.e
		switch o.kind {
		case outcomeAck:
			if !e.gone {
				q.metrics.handled.WithLabelValues("ok").Inc()
			}
		case outcomeRetry:
			q.metrics.handled.WithLabelValues("retry").Inc()
			q.log.LogAttrs(ctx, slog.LevelWarn, "message failed; will retry", slog.String("id", e.ID), slog.String("key", e.Key),
				slog.Int("attempts", e.Attempts), slog.String("err", o.err))
		case outcomeDead:
			q.metrics.handled.WithLabelValues("dead").Inc()
			q.log.LogAttrs(ctx, slog.LevelError, "message dead-lettered", slog.String("id", e.ID), slog.String("key", e.Key),
				slog.Int("attempts", e.Attempts), slog.String("err", o.err))
		}
	}
}

// moveLoop puts due retries back into the stream.
func (q *Queue) moveLoop(ctx context.Context) {
	const limit = 100
	t := time.NewTicker(q.moveEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			n, err := eval(ctx, q.c, moveScript, []string{q.keys.retry, q.keys.stream},
				time.Now().UnixMilli(), limit, q.keys.retryPrefix)
			if err != nil {
				if !failing && ctx.Err() == nil {
					q.warn(ctx, "moving due retries failed; retrying", err)
				}
				failing = true
				break
			}
			failing = false
			if v, _ := n.(int64); v < limit {
				break
			}
		}
	}
}

// dropIdleConsumers removes consumers with nothing pending that have been
// idle for long, so process restarts do not pile up names in the group.
func (q *Queue) dropIdleConsumers(ctx context.Context) {
	bound := max(time.Hour, 10*q.cfg.ClaimIdle)
	cs, err := q.c.XInfoConsumers(ctx, q.keys.stream, groupName).Result()
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.Name != q.cfg.Consumer && c.Pending == 0 && c.Idle > bound {
			_ = q.c.XGroupDelConsumer(ctx, q.keys.stream, groupName, c.Name).Err()
		}
	}
}

func (q *Queue) warn(ctx context.Context, msg string, err error) {
	q.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("err", err.Error()))
}

// backoff is jittered exponential backoff for Redis outages.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) sleep(ctx context.Context) {
	if b.cur == 0 {
		b.cur = b.min
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(b.cur*2, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (b *backoff) reset() { b.cur = 0 }
