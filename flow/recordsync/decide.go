package recordsync

import (
	"fmt"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// Decision is what record sync does with a record by the mapping alone,
// before it looks at the task it holds for it.
type Decision struct {
	// Skip: not the mapped object, or the mapping has no record_to_task.
	Skip bool
	// Action is create-or-update, cancel, or none.
	Action mapping.Action
	// Attributes and Priority are the task's, crm included (ActionCreate only).
	Attributes map[string]any
	Priority   int
}

// Decide is record sync's decision for rec under m; Sync acts on it and a
// dry run reports it. The error (ActionCreate only) is the mapping refusing
// the record, permanent: no retry fixes a required value that is missing.
func Decide(m *mapping.Mapping, rec event.Record) (Decision, error) {
	rt := m.RecordToTask()
	if rt == nil || rt.Object() != rec.Object {
		return Decision{Skip: true}, nil
	}
	d := Decision{Action: rt.Action(mapping.Record(rec.Fields))}
	if d.Action != mapping.ActionCreate {
		return d, nil
	}
	attrs, priority, err := TaskAttributes(rt, mapping.Record(rec.Fields), rec.RecordID, rec.Object)
	if err != nil {
		return d, queue.Permanent(fmt.Errorf("map record %s: %w", rec.RecordID, err))
	}
	d.Attributes, d.Priority = attrs, priority
	return d, nil
}
