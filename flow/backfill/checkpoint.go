package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// checkpoint is what a run leaves in Redis after each page.
type checkpoint struct {
	Object    string    `json:"object"`
	Where     string    `json:"where"`
	LastID    string    `json:"last_id,omitempty"` // every matching record up to it is enqueued
	Done      int       `json:"done"`
	RunID     string    `json:"run_id,omitempty"` // part of the items' dedupe keys; --restart makes a new one
	Counts    Counts    `json:"counts"`
	Complete  bool      `json:"complete,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ElapsedMS int64     `json:"elapsed_ms"` // summed over runs
}

// checkpointKey is per object and condition, so each --where resumes on its
// own. Surrounding spaces do not make a different backfill.
func checkpointKey(object, where string) string {
	sum := sha256.Sum256([]byte(object + "\x00" + strings.TrimSpace(where)))
	return "backfill:" + object + ":" + hex.EncodeToString(sum[:12])
}

func loadCheckpoint(ctx context.Context, s Store, key string) (checkpoint, error) {
	var cp checkpoint
	raw, found, err := s.Get(ctx, key)
	if err != nil {
		return cp, fmt.Errorf("read checkpoint: %w", err)
	}
	if !found {
		return cp, nil
	}
	if err := json.Unmarshal([]byte(raw), &cp); err != nil {
		return checkpoint{}, fmt.Errorf("decode checkpoint %s: %w", key, err)
	}
	return cp, nil
}

func saveCheckpoint(ctx context.Context, s Store, key string, cp checkpoint, ttl time.Duration) error {
	raw, _ := json.Marshal(cp)
	if err := s.Set(ctx, key, string(raw), ttl); err != nil {
		return fmt.Errorf("save checkpoint after %s: %w", cp.LastID, err)
	}
	return nil
}
