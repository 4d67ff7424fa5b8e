package server

import (
	"context"
	"fmt"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/flow/recordsync"
)

// BackfillDeps is what `bridge backfill` needs from a server built by New
// and never started: record sync on the same Twilio client, Redis store and
// mapping as the queue consumer's, so links and echo suppression are shared
// with live sync.
type BackfillDeps struct {
	Salesforce *salesforce.Client
	Sync       *recordsync.Flow
	Monitoring *monitoring.Flow // reminders for contacts already under monitoring
	Store      *redis.KV        // the flows' KV; checkpoints live beside the links
	Mappings   *redis.MappingStore
}

// ForBackfill loads the stored mapping, failing if Redis cannot give it
// (serve may start on the seed file; a backfill must not map with a stale
// one), and hands out the server's own flows.
func (s *Server) ForBackfill(ctx context.Context) (BackfillDeps, error) {
	if err := s.mappings.Load(ctx); err != nil {
		return BackfillDeps{}, fmt.Errorf("load mapping: %w", err)
	}
	return BackfillDeps{Salesforce: s.sf, Sync: s.recordSync, Monitoring: s.monitoring, Store: s.kv, Mappings: s.mappings}, nil
}
