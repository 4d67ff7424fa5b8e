package twiliosim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Task is the sim's record of a TaskRouter task.
type Task struct {
	SID              string
	WorkflowSID      string
	Attributes       map[string]any
	AssignmentStatus string
	Priority         int
	Timeout          int
	Reason           string
	Version          int // the ETag
	DateCreated      time.Time
	DateUpdated      time.Time
}

func (t *Task) clone() Task {
	c := *t
	c.Attributes = deepCopy(t.Attributes)
	return c
}

func (t *Task) open() bool {
	switch t.AssignmentStatus {
	case "pending", "reserved", "assigned":
		return true
	}
	return false
}

const maxTaskTimeout = 1_209_600

func (s *Server) taskJSON(r *http.Request, t *Task) map[string]any {
	attrs, _ := json.Marshal(t.Attributes)
	age := int(s.now().Sub(t.DateCreated) / time.Second)
	var reason any
	if t.Reason != "" {
		reason = t.Reason
	}
	u := fmt.Sprintf("https://taskrouter.twilio.com/v1/Workspaces/%s/Tasks/%s", s.WorkspaceSID, t.SID)
	return map[string]any{
		"account_sid":              s.AccountSID,
		"workspace_sid":            s.WorkspaceSID,
		"workflow_sid":             t.WorkflowSID,
		"workflow_friendly_name":   "Outreach",
		"sid":                      t.SID,
		"attributes":               string(attrs),
		"assignment_status":        t.AssignmentStatus,
		"priority":                 t.Priority,
		"timeout":                  t.Timeout,
		"reason":                   reason,
		"age":                      age,
		"date_created":             t.DateCreated.Format(time.RFC3339),
		"date_updated":             t.DateUpdated.Format(time.RFC3339),
		"task_queue_entered_date":  t.DateCreated.Format(time.RFC3339),
		"task_queue_sid":           "WQ" + strings.Repeat("0", 32),
		"task_queue_friendly_name": "Outreach",
		"task_channel_sid":         "TC" + strings.Repeat("0", 32),
		"task_channel_unique_name": "voice",
		"addons":                   "{}",
		"url":                      u,
		"links":                    map[string]string{"reservations": u + "/Reservations", "workspace": "https://taskrouter.twilio.com/v1/Workspaces/" + s.WorkspaceSID},
	}
}

func (s *Server) checkWorkspace(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("ws") != s.WorkspaceSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return false
	}
	return true
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	if !s.checkWorkspace(w, r) || !s.begin(w, r, OpCreateTask) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, 400, 20001, "Invalid form body")
		return
	}
	f := r.PostForm
	wf := f.Get("WorkflowSid")
	if wf == "" {
		wf = s.WorkflowSID // optional when the workspace has one workflow
	}
	if wf != s.WorkflowSID {
		writeError(w, 400, 20001, "Workflow "+wf+" not found in workspace")
		return
	}
	attrs := map[string]any{}
	if a := f.Get("Attributes"); a != "" {
		if err := json.Unmarshal([]byte(a), &attrs); err != nil || attrs == nil {
			writeError(w, 400, 20001, "Attributes must be a valid JSON object")
			return
		}
	}
	prio, ok := intParam(w, f, "Priority", 0, 0, 1<<31-1)
	if !ok {
		return
	}
	timeout, ok := intParam(w, f, "Timeout", 86400, 1, maxTaskTimeout)
	if !ok {
		return
	}
	now := s.now()
	t := &Task{SID: newSID("WT"), WorkflowSID: wf, Attributes: attrs, AssignmentStatus: "pending",
		Priority: prio, Timeout: timeout, Version: 0, DateCreated: now, DateUpdated: now}
	s.mu.Lock()
	s.tasks[t.SID] = t
	s.taskOrder = append(s.taskOrder, t.SID)
	body := s.taskJSON(r, t)
	s.mu.Unlock()
	s.finish(r, OpCreateTask)
	w.Header().Set("ETag", strconv.Itoa(t.Version))
	writeJSON(w, http.StatusCreated, body)
}

func intParam(w http.ResponseWriter, f url.Values, name string, def, lo, hi int) (int, bool) {
	v := f.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		writeError(w, 400, 20001, fmt.Sprintf("%s must be an integer between %d and %d", name, lo, hi))
		return 0, false
	}
	return n, true
}

func (s *Server) fetchTask(w http.ResponseWriter, r *http.Request) {
	if !s.checkWorkspace(w, r) || !s.begin(w, r, OpFetchTask) {
		return
	}
	s.mu.Lock()
	t, ok := s.tasks[r.PathValue("sid")]
	var body map[string]any
	var version int
	if ok {
		body, version = s.taskJSON(r, t), t.Version
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	s.finish(r, OpFetchTask)
	w.Header().Set("ETag", strconv.Itoa(version))
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) {
	if !s.checkWorkspace(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, 400, 20001, "Invalid form body")
		return
	}
	f := r.PostForm
	op := OpUpdateTask
	if f.Get("AssignmentStatus") == "canceled" {
		op = OpCancelTask
	}
	if !s.begin(w, r, op) {
		return
	}
	status, code, msg, body, version := s.applyTaskUpdate(r, f)
	if status != http.StatusOK {
		writeError(w, status, code, msg)
		return
	}
	s.finish(r, op)
	w.Header().Set("ETag", strconv.Itoa(version))
	writeJSON(w, http.StatusOK, body)
}

// applyTaskUpdate validates everything before changing anything.
func (s *Server) applyTaskUpdate(r *http.Request, f url.Values) (status, code int, msg string, body map[string]any, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[r.PathValue("sid")]
	if !ok {
		return 404, 20404, "The requested resource " + r.URL.Path + " was not found", nil, 0
	}
	// UpdateTask takes "The If-Match HTTP request header" (twilio-oai
	// twilio_taskrouter_v1 UpdateTask); a stale version is refused with 412
	// and changes nothing. Attributes, when given, replace all of them.
	if im := strings.Trim(r.Header.Get("If-Match"), `"`); im != "" && im != strconv.Itoa(t.Version) {
		return http.StatusPreconditionFailed, 20412, "Task version mismatch (If-Match " + im + ")", nil, 0
	}
	if t.AssignmentStatus == "canceled" || t.AssignmentStatus == "completed" {
		return 400, 20001, "Task " + t.SID + " is already " + t.AssignmentStatus, nil, 0
	}
	var attrs map[string]any
	if a, has := f["Attributes"]; has {
		if err := json.Unmarshal([]byte(a[0]), &attrs); err != nil || attrs == nil {
			return 400, 20001, "Attributes must be a valid JSON object", nil, 0
		}
	}
	prio := t.Priority
	if p := f.Get("Priority"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 400, 20001, "Priority must be a non-negative integer", nil, 0
		}
		prio = n
	}
	newStatus := t.AssignmentStatus
	if as := f.Get("AssignmentStatus"); as != "" {
		allowed := map[string][]string{
			"canceled":  {"pending", "reserved"},
			"wrapping":  {"assigned"},
			"completed": {"assigned", "wrapping"},
		}[as]
		if !slices.Contains(allowed, t.AssignmentStatus) {
			return 400, 20001, fmt.Sprintf("Cannot change task %s from %s to %s", t.SID, t.AssignmentStatus, as), nil, 0
		}
		newStatus = as
	}
	if attrs != nil {
		t.Attributes = attrs
	}
	t.Priority = prio
	if newStatus != t.AssignmentStatus {
		t.AssignmentStatus = newStatus
		t.Reason = f.Get("Reason")
	}
	t.Version++
	t.DateUpdated = s.now()
	return http.StatusOK, 0, "", s.taskJSON(r, t), t.Version
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	if !s.checkWorkspace(w, r) || !s.begin(w, r, OpListTasks) {
		return
	}
	q := r.URL.Query()
	var cond expr
	if e := q.Get("EvaluateTaskAttributes"); e != "" {
		var err error
		if cond, err = parseExpr(e); err != nil {
			writeError(w, 400, 20001, "Invalid EvaluateTaskAttributes: "+err.Error())
			return
		}
	}
	statuses := q["AssignmentStatus"]
	pageSize, err := strconv.Atoi(q.Get("PageSize"))
	if err != nil || pageSize <= 0 {
		pageSize = 50
	}
	pageSize = min(pageSize, 1000)
	offset := 0
	if tok := q.Get("PageToken"); tok != "" {
		if offset, err = strconv.Atoi(strings.TrimPrefix(tok, "PT")); err != nil || offset < 0 {
			writeError(w, 400, 20001, "Invalid PageToken")
			return
		}
	}
	page, _ := strconv.Atoi(q.Get("Page"))

	s.mu.Lock()
	var matched []*Task
	for _, sid := range s.taskOrder {
		t := s.tasks[sid]
		if len(statuses) > 0 && !slices.Contains(statuses, t.AssignmentStatus) {
			continue
		}
		if q.Get("WorkflowSid") != "" && q.Get("WorkflowSid") != t.WorkflowSID {
			continue
		}
		if cond != nil && !cond.eval(t.Attributes) {
			continue
		}
		matched = append(matched, t)
	}
	out := []map[string]any{}
	for i := offset; i < len(matched) && i < offset+pageSize; i++ {
		t := s.taskJSON(r, matched[i])
		// TaskRouter's Tasks list answers `attributes: null` (twilio-oai
		// declares Task.attributes nullable); only a fetch of one task
		// carries them, so a client must not rely on them here.
		t["attributes"] = nil
		out = append(out, t)
	}
	s.mu.Unlock()

	base := baseURL(r) + r.URL.Path
	pageURL := func(p, off int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "PageToken" && k != "Page" && k != "PageSize" {
				v[k] = vs
			}
		}
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		if off > 0 {
			v.Set("PageToken", "PT"+strconv.Itoa(off))
		}
		return base + "?" + v.Encode()
	}
	var next, prev any
	if offset+pageSize < len(matched) {
		next = pageURL(page+1, offset+pageSize)
	}
	if offset > 0 {
		prev = pageURL(page-1, max(0, offset-pageSize))
	}
	s.finish(r, OpListTasks)
	writeJSON(w, http.StatusOK, map[string]any{
		"tasks": out,
		"meta": map[string]any{
			"page": page, "page_size": pageSize, "key": "tasks",
			"first_page_url": pageURL(0, 0), "url": pageURL(page, offset),
			"next_page_url": next, "previous_page_url": prev,
		},
	})
}

// Tasks returns copies of all tasks, oldest first.
func (s *Server) Tasks() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Task, 0, len(s.taskOrder))
	for _, sid := range s.taskOrder {
		out = append(out, s.tasks[sid].clone())
	}
	return out
}

// Task returns a copy of one task.
func (s *Server) Task(sid string) (Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[sid]
	if !ok {
		return Task{}, false
	}
	return t.clone(), true
}

// OpenTasks returns the pending, reserved and assigned tasks.
func (s *Server) OpenTasks() []Task {
	var out []Task
	for _, t := range s.Tasks() {
		if t.open() {
			out = append(out, t)
		}
	}
	return out
}

// SetAssignmentStatus moves a task as a worker would (reserved, assigned,
// wrapping), without checks and without an event.
func (s *Server) SetAssignmentStatus(sid, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[sid]
	if !ok {
		return fmt.Errorf("twiliosim: no task %s", sid)
	}
	t.AssignmentStatus = status
	t.Version++
	t.DateUpdated = s.now()
	return nil
}

// WriteAttributes merges patch into a task's attributes as the Flex UI does
// during a call (conference, call_sid, conversations.*): a new version, so a
// client's older ETag now gets 412 (TaskRouter's Update Task honours If-Match:
// twilio-oai UpdateTask `If-Match` header, "the If-Match HTTP request header").
func (s *Server) WriteAttributes(sid string, patch map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[sid]
	if !ok {
		return fmt.Errorf("twiliosim: no task %s", sid)
	}
	if t.Attributes == nil {
		t.Attributes = map[string]any{}
	}
	mergeInto(t.Attributes, patch)
	t.Version++
	t.DateUpdated = s.now()
	return nil
}

// CompleteTask marks a task completed, merges attrPatch into its attributes
// (as a Flex plugin writes outcome and follow-up date) and, when an
// EventCallbackURL is set, posts a signed task.completed event to it.
func (s *Server) CompleteTask(sid string, attrPatch map[string]any) error {
	s.mu.Lock()
	t, ok := s.tasks[sid]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("twiliosim: no task %s", sid)
	}
	if t.AssignmentStatus == "canceled" {
		s.mu.Unlock()
		return fmt.Errorf("twiliosim: task %s is canceled", sid)
	}
	if t.Attributes == nil {
		t.Attributes = map[string]any{}
	}
	mergeInto(t.Attributes, attrPatch)
	t.AssignmentStatus = "completed"
	t.Reason = "Call ended"
	t.Version++
	t.DateUpdated = s.now()
	snap := t.clone()
	s.mu.Unlock()
	return s.sendTaskEvent(snap, "task.completed")
}

// SendTaskEvent posts a signed TaskRouter event of eventType (task.canceled,
// task.wrapup, …) for the task's current state.
func (s *Server) SendTaskEvent(sid, eventType string) error {
	t, ok := s.Task(sid)
	if !ok {
		return fmt.Errorf("twiliosim: no task %s", sid)
	}
	return s.sendTaskEvent(t, eventType)
}

// TaskEventForm builds the form TaskRouter posts for an event on t, with
// the fields of the sample payload.
func (s *Server) TaskEventForm(t Task, eventType string) url.Values {
	attrs, _ := json.Marshal(t.Attributes)
	now := s.now()
	worker := s.WorkerSID
	if tw, ok := t.Attributes["targetWorker"].(string); ok && tw != "" {
		worker = tw
	}
	verb := strings.TrimPrefix(eventType, "task.")
	v := url.Values{}
	v.Set("AccountSid", s.AccountSID)
	v.Set("WorkspaceSid", s.WorkspaceSID)
	v.Set("WorkspaceName", "Contact Tracing")
	v.Set("EventType", eventType)
	v.Set("EventDescription", "Task "+t.SID+" "+verb)
	v.Set("ResourceType", "task")
	v.Set("ResourceSid", t.SID)
	v.Set("Sid", newSID("EV"))
	v.Set("Timestamp", strconv.FormatInt(now.Unix(), 10))
	v.Set("TimestampMs", strconv.FormatInt(now.UnixMilli(), 10))
	v.Set("TaskSid", t.SID)
	v.Set("TaskAge", strconv.Itoa(int(now.Sub(t.DateCreated)/time.Second)))
	v.Set("TaskPriority", strconv.Itoa(t.Priority))
	v.Set("TaskAssignmentStatus", t.AssignmentStatus)
	switch t.AssignmentStatus {
	case "completed":
		v.Set("TaskCompletedReason", t.Reason)
	case "canceled":
		v.Set("TaskCanceledReason", t.Reason)
	}
	v.Set("TaskChannelUniqueName", "voice")
	v.Set("TaskQueueSid", "WQ"+strings.Repeat("0", 32))
	v.Set("TaskQueueName", "Outreach")
	v.Set("WorkflowSid", t.WorkflowSID)
	v.Set("WorkflowName", "Outreach")
	v.Set("WorkerSid", worker)
	v.Set("WorkerName", "tracer")
	v.Set("TaskAttributes", string(attrs))
	return v
}

// SetEventCallbackURL sets the workspace's event callback, for when the
// receiving server starts after the sim (as in `bridge demo`).
func (s *Server) SetEventCallbackURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.EventCallbackURL = u
}

func (s *Server) sendTaskEvent(t Task, eventType string) error {
	form := s.TaskEventForm(t, eventType)
	s.logEvent(form)
	s.mu.Lock()
	cb := s.opts.EventCallbackURL
	s.mu.Unlock()
	if cb == "" {
		return nil
	}
	status, err := s.deliver(cb, form, form.Get("Sid"), false)
	return deliveryError(eventType, status, err)
}

func mergeInto(dst, patch map[string]any) {
	for k, v := range patch {
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, pm)
				continue
			}
		}
		dst[k] = deepCopyValue(v)
	}
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopy(x)
	case []any:
		c := make([]any, len(x))
		for i := range x {
			c[i] = deepCopyValue(x[i])
		}
		return c
	}
	return v
}
