package event

import (
	"encoding/json"
	"fmt"

	"github.com/cityhealth/bridge/queue"
)

// RecordItems are one record's items for the queues every record goes to:
// record sync's and monitoring's, under the same dedupe key (each queue
// deduplicates on its own). Outbound Messages and the backfill both build
// their items here, so the flows cannot tell them apart but by Source.
func RecordItems(key string, rec Record) (records, monitoring queue.Item, err error) {
	r, err := json.Marshal(rec)
	if err != nil {
		return queue.Item{}, queue.Item{}, fmt.Errorf("encode record %s: %w", rec.RecordID, err)
	}
	m, err := json.Marshal(Monitoring{Record: &rec})
	if err != nil {
		return queue.Item{}, queue.Item{}, fmt.Errorf("encode record %s: %w", rec.RecordID, err)
	}
	return queue.Item{Key: key, Payload: r}, queue.Item{Key: key, Payload: m}, nil
}
