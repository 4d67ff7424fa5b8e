package twiliosim

import (
	"reflect"
	"testing"
)

func TestDeskHooks(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	task := s.AddAssignedTask(map[string]any{"direction": "inbound", "from": "+17185550199"})
	if task.AssignmentStatus != "assigned" || task.Attributes["from"] != "+17185550199" {
		t.Fatalf("task = %+v", task)
	}
	// setAttributes replaces the whole attributes, as TaskRouter does.
	got, err := s.ReplaceAttributes(task.SID, map[string]any{"crm": map[string]any{"record_id": "003RM00000Qx1a2YAB"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"crm": map[string]any{"record_id": "003RM00000Qx1a2YAB"}}; !reflect.DeepEqual(got.Attributes, want) || got.Version != 1 {
		t.Fatalf("attributes = %v (version %d)", got.Attributes, got.Version)
	}
	if err := s.SetAssignmentStatus(task.SID, "wrapping"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceAttributes(task.SID, map[string]any{"a": 1}); err != nil {
		t.Fatalf("a wrapping task's attributes can change: %v", err)
	}
	if err := s.CompleteTask(task.SID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceAttributes(task.SID, map[string]any{"a": 2}); err == nil {
		t.Fatal("a completed task's attributes changed")
	}
	if _, err := s.ReplaceAttributes("WT00000000000000000000000000000000", nil); err == nil {
		t.Fatal("unknown task")
	}
	if n := s.TotalCalls(); n != 0 {
		t.Fatalf("the hooks counted %d REST calls", n)
	}
}
