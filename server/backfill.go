package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/backfill"
	"github.com/cityhealth/bridge/flow/recordsync"
	"github.com/cityhealth/bridge/mapping"
)

// Backfill assembles what `bridge backfill` needs and nothing more:
// Salesforce to read from, the stored mapping, the queues Outbound Messages
// go to (record sync's and monitoring's), the KV for its checkpoint, and
// record sync's decision for the dry run. No Twilio client and no flow run
// here: the serving instances consume what it enqueues. The caller sets
// Where and the run's options; release frees Redis.
func Backfill(ctx context.Context, cfg *config.Config, opts Options) (_ backfill.Config, release func(), err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rdb, owns := opts.Redis, false
	if rdb == nil {
		if rdb, err = redis.NewClient(cfg.RedisURL); err != nil {
			return backfill.Config{}, nil, fmt.Errorf("BRIDGE_REDIS_URL: %w", err)
		}
		owns = true
	}
	closeRDB := func() {
		if owns {
			_ = rdb.Close()
		}
	}
	defer func() {
		if err != nil {
			closeRDB()
		}
	}()
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		return backfill.Config{}, nil, err
	}
	reg := prometheus.NewRegistry() // a one-off command: nothing scrapes it
	sf, err := newSalesforce(cfg, opts, log, reg)
	if err != nil {
		return backfill.Config{}, nil, err
	}
	mappings, err := redis.NewMappingStore(redis.MappingStoreConfig{
		Redis: rdb, SeedFile: cfg.MappingFile, Protected: cfg.ProtectedFields, Logger: log.With("component", "mappings"),
	})
	if err != nil {
		return backfill.Config{}, nil, err
	}
	// Serve may start on the seed file; a backfill must not map with a stale one.
	if err := mappings.Load(ctx); err != nil {
		return backfill.Config{}, nil, fmt.Errorf("load mapping: %w", err)
	}
	queues := map[string]*redis.Queue{}
	for _, name := range []string{event.QueueRecords, event.QueueMonitoring} {
		if queues[name], err = redis.NewQueue(rdb, redis.QueueConfig{Name: name, Logger: log.With("component", "queue"), Registerer: reg}); err != nil {
			return backfill.Config{}, nil, err
		}
	}
	return backfill.Config{
		Source: sf, Records: queues[event.QueueRecords], Monitoring: queues[event.QueueMonitoring],
		Backlog: backlogOf(queues[event.QueueRecords]),
		Serving: servingOf(queues[event.QueueRecords]),
		Decide:  decideForBackfill, Store: kv, Mappings: mappings, Logger: log.With("component", "backfill"),
	}, closeRDB, nil
}

// backlogOf reads how many entries wait on q (or are being handled).
func backlogOf(q *redis.Queue) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		st, err := q.Stats(ctx)
		return st.Length, err
	}
}

// servingOf counts the instances that read q in the last two minutes (a
// serving instance reads it at least every few seconds).
func servingOf(q *redis.Queue) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) { return q.ActiveConsumers(ctx, 2*time.Minute) }
}

// decideForBackfill is record sync's own decision, for the dry run.
func decideForBackfill(m *mapping.Mapping, rec event.Record) (bool, mapping.Action, error) {
	d, err := recordsync.Decide(m, rec)
	return d.Skip, d.Action, err
}
