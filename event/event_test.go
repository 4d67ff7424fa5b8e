package event

import "testing"

func TestTaskWrites(t *testing.T) {
	worked := map[string]any{"conversations": map[string]any{"outcome": "Reached"}}
	called := map[string]any{"call_sid": "CA0123"}
	tests := []struct {
		name  string
		typ   string
		attrs map[string]any
		want  bool
	}{
		{"completed", "task.completed", nil, true},
		{"wrapup", "task.wrapup", nil, true},
		{"canceled with an outcome", "task.canceled", worked, true},
		{"canceled with a call", "task.canceled", called, true},
		{"canceled, timed out", "task.canceled", map[string]any{"crm": map[string]any{"record_id": "003A"}}, false},
		{"canceled, blank outcome", "task.canceled", map[string]any{"conversations": map[string]any{"outcome": " "}}, false},
		{"canceled, outcome not text", "task.canceled", map[string]any{"conversations": map[string]any{"outcome": 1}}, false},
		{"created", "task.created", worked, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&Task{EventType: tc.typ, Attributes: tc.attrs}).Writes(); got != tc.want {
				t.Fatalf("Writes() = %v, want %v", got, tc.want)
			}
		})
	}
}
