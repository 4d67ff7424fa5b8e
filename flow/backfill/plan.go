package backfill

import (
	"context"
	"fmt"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/recordsync"
	"github.com/cityhealth/bridge/mapping"
)

// planner is the dry run's Syncer: it says what the mapping would do with a
// record, without Redis or Twilio. Created stands for "open or update a
// task", Canceled for "cancel the open task, if any".
type planner struct{ mappings Mappings }

func (p planner) Sync(_ context.Context, rec event.Record) (recordsync.Outcome, error) {
	rt := p.mappings.Current().RecordToTask()
	if rt == nil || rt.Object() != rec.Object {
		return recordsync.Skipped, nil
	}
	switch rt.Action(mapping.Record(rec.Fields)) {
	case mapping.ActionCreate:
		if _, _, err := rt.Apply(mapping.Record(rec.Fields)); err != nil {
			return "", fmt.Errorf("map record %s: %w", rec.RecordID, err)
		}
		return recordsync.Created, nil
	case mapping.ActionCancel:
		return recordsync.Canceled, nil
	}
	return recordsync.Unchanged, nil
}
