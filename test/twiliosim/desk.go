package twiliosim

import (
	"fmt"
)

// Hooks for the demo agent desktop, which plays what Flex itself does
// around a task (Flex creates outbound-call tasks through its own
// service and accepts reservations for the worker); they stand for Flex, not
// for a TaskRouter REST call, so they neither count as calls nor fail on
// injected faults.

// AddAssignedTask puts a task already assigned to the worker, as Flex's
// StartOutboundCall (or an accepted inbound call) leaves it.
func (s *Server) AddAssignedTask(attrs map[string]any) Task {
	now := s.now()
	t := &Task{SID: newSID("WT"), WorkflowSID: s.WorkflowSID, Attributes: deepCopy(attrs), AssignmentStatus: "assigned",
		Timeout: 86400, DateCreated: now, DateUpdated: now}
	if t.Attributes == nil {
		t.Attributes = map[string]any{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks[t.SID] = t
	s.taskOrder = append(s.taskOrder, t.SID)
	return t.clone()
}

// ReplaceAttributes sets a task's whole attributes, as Flex's
// task.setAttributes (an update with Attributes) does: TaskRouter replaces
// them, it never merges ("Update a Task resource": Attributes).
func (s *Server) ReplaceAttributes(sid string, attrs map[string]any) (Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[sid]
	if !ok {
		return Task{}, fmt.Errorf("twiliosim: no task %s", sid)
	}
	if t.AssignmentStatus == "completed" || t.AssignmentStatus == "canceled" {
		return Task{}, fmt.Errorf("twiliosim: task %s is %s", sid, t.AssignmentStatus)
	}
	t.Attributes = deepCopy(attrs)
	if t.Attributes == nil {
		t.Attributes = map[string]any{}
	}
	t.Version++
	t.DateUpdated = s.now()
	return t.clone(), nil
}
