package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/test/twiliosim"
)

func crmAttrs(id, lang string) map[string]any {
	return map[string]any{
		"crm":      map[string]any{"record_id": id, "object": "Contact"},
		"language": lang,
	}
}

func TestCreateUpdateCancelTask(t *testing.T) {
	e := mustEnv(t, func(c *twilio.Config) { c.TaskTimeout = twilio.MaxTaskTimeout })
	ctx := context.Background()

	task, err := e.c.CreateTask(ctx, crmAttrs("003A", "es"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.SID) != 34 || task.SID[:2] != "WT" || task.AssignmentStatus != "pending" || task.Priority != 3 || task.ETag == "" {
		t.Fatalf("created %+v", task)
	}
	st, _ := e.sim.Task(task.SID)
	if st.WorkflowSID != e.sim.WorkflowSID || st.Timeout != 1_209_600 || !reflect.DeepEqual(st.Attributes, crmAttrs("003A", "es")) {
		t.Fatalf("sim holds %+v", st)
	}

	if err := e.c.UpdateTask(ctx, task.SID, crmAttrs("003A", "en"), 7); err != nil {
		t.Fatal(err)
	}
	st, _ = e.sim.Task(task.SID)
	if st.Priority != 7 || st.Attributes["language"] != "en" {
		t.Fatalf("after update %+v", st)
	}

	got, err := e.c.FetchTask(ctx, task.SID)
	if err != nil || got.Attributes["language"] != "en" || got.ETag == task.ETag {
		t.Fatalf("fetch %+v %v", got, err)
	}

	if err := e.c.CancelTask(ctx, task.SID, "Outreach closed"); err != nil {
		t.Fatal(err)
	}
	st, _ = e.sim.Task(task.SID)
	if st.AssignmentStatus != "canceled" || st.Reason != "Outreach closed" {
		t.Fatalf("after cancel %+v", st)
	}
	if e.sim.Calls(twiliosim.OpCancelTask) != 1 || e.sim.Calls(twiliosim.OpUpdateTask) != 1 || e.sim.Calls(twiliosim.OpCreateTask) != 1 {
		t.Errorf("calls: create %d update %d cancel %d", e.sim.Calls(twiliosim.OpCreateTask), e.sim.Calls(twiliosim.OpUpdateTask), e.sim.Calls(twiliosim.OpCancelTask))
	}
	if len(e.sim.OpenTasks()) != 0 {
		t.Error("canceled task still open")
	}
}

func TestTaskErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		run        func(e *env, sid string) error
		wantStatus int
	}{
		{"cancel assigned", func(e *env, sid string) error {
			_ = e.sim.SetAssignmentStatus(sid, "assigned")
			return e.c.CancelTask(ctx, sid, "x")
		}, 400},
		{"update unknown", func(e *env, _ string) error {
			return e.c.UpdateTask(ctx, "WT00000000000000000000000000000000", nil, 0)
		}, 404},
		{"stale If-Match", func(e *env, sid string) error {
			task, err := e.c.FetchTask(ctx, sid)
			if err != nil {
				return err
			}
			if err := e.c.UpdateTask(ctx, sid, crmAttrs("003B", "es"), 1); err != nil {
				return err
			}
			return e.c.UpdateTaskIfMatch(ctx, sid, task.ETag, crmAttrs("003B", "fr"), 1)
		}, 412},
		{"timeout too long", func(e *env, _ string) error {
			_, err := e.c.CreateTaskWithOptions(ctx, nil, twilio.TaskOptions{Timeout: twilio.MaxTaskTimeout + time.Second})
			return err
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, nil)
			task, err := e.c.CreateTask(ctx, crmAttrs("003B", "en"), 0)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.run(e, task.SID)
			if err == nil {
				t.Fatal("want an error")
			}
			var ae *twilio.APIError
			if tt.wantStatus == 0 {
				if errors.As(err, &ae) {
					t.Fatalf("want a local error, got %v", err)
				}
				return
			}
			if !errors.As(err, &ae) || ae.Status != tt.wantStatus {
				t.Fatalf("want status %d, got %v", tt.wantStatus, err)
			}
			if retried(err) {
				t.Error("4xx must not be transient")
			}
		})
	}

	t.Run("If-Match current", func(t *testing.T) {
		e := mustEnv(t, nil)
		task, _ := e.c.CreateTask(ctx, nil, 0)
		if err := e.c.UpdateTaskIfMatch(ctx, task.SID, task.ETag, crmAttrs("003C", "en"), 1); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFindOpenTasks(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	mk := func(id, lang, status string) string {
		task, err := e.c.CreateTask(ctx, crmAttrs(id, lang), 0)
		if err != nil {
			t.Fatal(err)
		}
		if status != "pending" {
			if err := e.sim.SetAssignmentStatus(task.SID, status); err != nil {
				t.Fatal(err)
			}
		}
		return task.SID
	}
	a1 := mk("003A", "en", "pending")
	a2 := mk("003A", "es", "assigned")
	mk("003A", "en", "completed")
	mk("003A", "en", "canceled")
	b1 := mk("003B", "es", "reserved")
	mk("003B", "es", "wrapping")

	tests := []struct {
		expr string
		want []string
	}{
		{`crm.record_id == "003A"`, []string{a1, a2}},
		{`crm.record_id == "003B"`, []string{b1}},
		{`crm.record_id == "003A" AND language == "es"`, []string{a2}},
		{`crm.record_id == '003A' AND crm.object == "Contact" AND language == "en"`, []string{a1}},
		{`crm.record_id == "003Z"`, nil},
		{`language == "es"`, []string{a2, b1}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := e.c.FindOpenTasks(ctx, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			var sids []string
			for _, task := range got {
				sids = append(sids, task.SID)
			}
			sort.Strings(sids)
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if !reflect.DeepEqual(sids, want) {
				t.Errorf("got %v, want %v", sids, want)
			}
		})
	}

	// TaskRouter's list gives attributes: null; the lookup needs only the
	// sids, so it costs no fetch per task.
	if n := e.sim.Calls(twiliosim.OpFetchTask); n != 0 {
		t.Errorf("%d task fetches for %d lookups, want 0", n, len(tests))
	}
	if _, err := e.c.FindOpenTasks(ctx, ""); err == nil {
		t.Error("an empty expression must be refused")
	}
	_, err := e.c.FindOpenTasks(ctx, `crm.record_id ==`)
	var ae *twilio.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("bad expression: got %v", err)
	}
}

func TestFindOpenTasksFollowsPages(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	const n = 230 // three pages of 100
	for i := range n {
		if _, err := e.c.CreateTask(ctx, map[string]any{"batch": "b1", "i": i}, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.sim.ResetCalls()
	got, err := e.c.FindOpenTasks(ctx, `batch == "b1"`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, task := range got {
		seen[task.SID] = true
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("got %d tasks (%d distinct), want %d", len(got), len(seen), n)
	}
	if c := e.sim.Calls(twiliosim.OpListTasks); c != 3 {
		t.Errorf("%d list calls, want 3 pages", c)
	}
	for _, r := range e.sim.Requests() {
		if r.Host != "taskrouter.twilio.com" {
			t.Errorf("next page went with Host %q", r.Host)
		}
	}
}

func TestQuoteExpr(t *testing.T) {
	for in, want := range map[string]string{`003A`: `"003A"`, `a"b`: `"a\"b"`} {
		if got := twilio.QuoteExpr(in); got != want {
			t.Errorf("QuoteExpr(%q) = %s, want %s", in, got, want)
		}
	}
	e := mustEnv(t, nil)
	ctx := context.Background()
	odd := `O'Brien "x"`
	if _, err := e.c.CreateTask(ctx, map[string]any{"name": odd}, 0); err != nil {
		t.Fatal(err)
	}
	got, err := e.c.FindOpenTasks(ctx, fmt.Sprintf("name == %s", twilio.QuoteExpr(odd)))
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v %v", got, err)
	}
}
