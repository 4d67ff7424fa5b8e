package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// Task is a TaskRouter task as the bridge sees it.
type Task struct {
	SID              string
	Attributes       map[string]any
	AssignmentStatus string // pending, reserved, assigned, wrapping, completed, canceled
	Priority         int
	Reason           string
	Age              int       // seconds since creation
	DateCreated      time.Time // zero when Twilio sent none
	ETag             string    // version for UpdateTaskIfMatch; set by CreateTask and FetchTask
}

// TaskOptions are the optional knobs of CreateTaskWithOptions.
type TaskOptions struct {
	Priority int
	Timeout  time.Duration // 0 = Config.TaskTimeout; at most MaxTaskTimeout
}

// Open assignment statuses: the task still waits for or is with a worker.
var openStatuses = []string{"pending", "reserved", "assigned"}

// CreateTask opens a task on the configured workflow.
func (c *Client) CreateTask(ctx context.Context, attrs map[string]any, priority int) (Task, error) {
	return c.CreateTaskWithOptions(ctx, attrs, TaskOptions{Priority: priority})
}

// CreateTaskWithOptions is CreateTask with a per-task timeout. On an
// ambiguous error (IsAmbiguous) the task may exist: look with FindOpenTasks.
func (c *Client) CreateTaskWithOptions(ctx context.Context, attrs map[string]any, opts TaskOptions) (Task, error) {
	body, err := marshalAttrs(attrs)
	if err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = c.cfg.TaskTimeout
	}
	if timeout < 0 || timeout > MaxTaskTimeout {
		return Task{}, fmt.Errorf("create task: timeout %s out of range (max %s)", timeout, MaxTaskTimeout)
	}
	params := &taskrouter.CreateTaskParams{}
	params.SetWorkflowSid(c.cfg.WorkflowSID).SetAttributes(body).SetPriority(opts.Priority)
	if timeout > 0 {
		params.SetTimeout(int(timeout / time.Second))
	}
	var t Task
	err = c.do(ctx, "create_task", "", func(rh *twclient.RequestHandler) error {
		res, err := taskrouter.NewApiService(rh).CreateTaskWithMetadata(c.cfg.WorkspaceSID, params)
		if err != nil {
			return err
		}
		r := res.GetResource()
		if t, err = taskFrom(&r); err != nil {
			return err
		}
		t.ETag = res.GetHeaders().Get("ETag")
		return nil
	})
	if err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	c.log.DebugContext(ctx, "twilio task created", "sid", t.SID)
	return t, nil
}

// FetchTask reads one task with its ETag.
func (c *Client) FetchTask(ctx context.Context, sid string) (Task, error) {
	var t Task
	err := c.do(ctx, "fetch_task", sid, func(rh *twclient.RequestHandler) error {
		res, err := taskrouter.NewApiService(rh).FetchTaskWithMetadata(c.cfg.WorkspaceSID, sid)
		if err != nil {
			return err
		}
		r := res.GetResource()
		if t, err = taskFrom(&r); err != nil {
			return err
		}
		t.ETag = res.GetHeaders().Get("ETag")
		return nil
	})
	if err != nil {
		return Task{}, fmt.Errorf("fetch task %s: %w", sid, err)
	}
	return t, nil
}

// UpdateTask replaces a task's attributes and priority.
func (c *Client) UpdateTask(ctx context.Context, sid string, attrs map[string]any, priority int) error {
	return c.UpdateTaskIfMatch(ctx, sid, "", attrs, priority)
}

// UpdateTaskIfMatch is UpdateTask applied only while the task still has the
// version etag ("" = unconditional); a stale etag fails with status 412.
func (c *Client) UpdateTaskIfMatch(ctx context.Context, sid, etag string, attrs map[string]any, priority int) error {
	body, err := marshalAttrs(attrs)
	if err != nil {
		return fmt.Errorf("update task %s: %w", sid, err)
	}
	params := &taskrouter.UpdateTaskParams{}
	params.SetAttributes(body).SetPriority(priority)
	if etag != "" {
		params.SetIfMatch(etag)
	}
	if err := c.updateTask(ctx, "update_task", sid, params); err != nil {
		return fmt.Errorf("update task %s: %w", sid, err)
	}
	return nil
}

// CancelTask cancels a pending or reserved task. TaskRouter refuses to
// cancel one already assigned to a worker (an APIError with status 400).
func (c *Client) CancelTask(ctx context.Context, sid, reason string) error {
	params := &taskrouter.UpdateTaskParams{}
	params.SetAssignmentStatus("canceled").SetReason(reason)
	if err := c.updateTask(ctx, "cancel_task", sid, params); err != nil {
		return fmt.Errorf("cancel task %s: %w", sid, err)
	}
	return nil
}

func (c *Client) updateTask(ctx context.Context, op, sid string, params *taskrouter.UpdateTaskParams) error {
	return c.do(ctx, op, sid, func(rh *twclient.RequestHandler) error {
		_, err := taskrouter.NewApiService(rh).UpdateTask(c.cfg.WorkspaceSID, sid, params)
		return err
	})
}

// FindOpenTasks lists the pending, reserved and assigned tasks matching a
// TaskRouter expression such as `crm.record_id == "003…"`. TaskRouter's list
// answers `attributes: null`, so the tasks come without Attributes (the
// expression already chose them); FetchTask reads one task's attributes.
func (c *Client) FindOpenTasks(ctx context.Context, evaluateTaskAttributes string) ([]Task, error) {
	if evaluateTaskAttributes == "" {
		return nil, errors.New("find open tasks: empty expression would list the whole workspace")
	}
	params := &taskrouter.ListTaskParams{}
	params.SetAssignmentStatus(openStatuses).SetEvaluateTaskAttributes(evaluateTaskAttributes).SetPageSize(100)
	var tasks []Task
	err := c.do(ctx, "find_open_tasks", "", func(rh *twclient.RequestHandler) error {
		list, err := taskrouter.NewApiService(rh).ListTask(c.cfg.WorkspaceSID, params)
		if err != nil {
			return err
		}
		for i := range list {
			t, err := taskFrom(&list[i])
			if err != nil {
				return err
			}
			tasks = append(tasks, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find open tasks: %w", err)
	}
	return tasks, nil
}

// QuoteExpr quotes s as a string literal for EvaluateTaskAttributes.
func QuoteExpr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func marshalAttrs(attrs map[string]any) (string, error) {
	if attrs == nil {
		return "{}", nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

func taskFrom(r *taskrouter.TaskrouterV1Task) (Task, error) {
	t := Task{Priority: r.Priority, Age: r.Age}
	if r.Sid != nil {
		t.SID = *r.Sid
	}
	if r.AssignmentStatus != nil {
		t.AssignmentStatus = *r.AssignmentStatus
	}
	if r.Reason != nil {
		t.Reason = *r.Reason
	}
	if r.DateCreated != nil {
		t.DateCreated = *r.DateCreated
	}
	if r.Attributes != nil && *r.Attributes != "" {
		if err := json.Unmarshal([]byte(*r.Attributes), &t.Attributes); err != nil {
			return Task{}, fmt.Errorf("task %s: attributes are not a JSON object: %w", t.SID, err)
		}
	}
	if t.SID == "" {
		return Task{}, errors.New("task without sid in answer")
	}
	return t, nil
}
