// Package clicktocall turns a tracer's click on a Salesforce record into a
// TaskRouter task for that tracer, whose attributes carry the record's mapped
// context so Flex can screen-pop it and dial. A double click within the
// dedupe window returns the first task instead of creating a second.
package clicktocall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/mapping"
)

// CRM reads one record.
type CRM interface {
	Get(ctx context.Context, object, id string, fields []string) (salesforce.Record, error)
}

// Tasks creates the agent's task, and finds it after an ambiguous failure.
type Tasks interface {
	CreateTask(ctx context.Context, attrs map[string]any, priority int) (twilio.Task, error)
	FindOpenTasks(ctx context.Context, evaluateTaskAttributes string) ([]twilio.Task, error)
}

// Store holds the double-click keys and the short record cache.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	Del(ctx context.Context, keys ...string) error
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Config wires the flow.
type Config struct {
	CRM      CRM
	Tasks    Tasks
	Store    Store
	Mappings Mappings
	CallerID string        // BRIDGE_TWILIO_CALLER_ID: the task's "from"
	CacheTTL time.Duration // record reads cached for screen pops; 0 = no cache
	Window   time.Duration // double-click window; default 10 s
	Logger   *slog.Logger
}

// Flow is the click-to-call flow.
type Flow struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.CRM == nil || cfg.Tasks == nil || cfg.Store == nil || cfg.Mappings == nil {
		return nil, errors.New("clicktocall: CRM, Tasks, Store and Mappings are required")
	}
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	f := &Flow{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Errors an agent's request can end in; their kind gives the status.
var (
	ErrInvalidID   = fault.New(fault.Invalid, "record_id must be a 15- or 18-character Salesforce id")
	ErrNotFound    = fault.New(fault.NotFound, "record not found")
	ErrNoWorker    = fault.New(fault.Forbidden, "the token carries no worker_sid, so no task can be routed to you")
	ErrNotMapped   = fault.New(fault.Unavailable, "no click_to_call mapping is configured")
	ErrUnavailable = fault.New(fault.Unavailable, "Salesforce or Twilio is unavailable; nothing was created, try again")
)

// NotCallableError says which field should have held the number.
type NotCallableError struct {
	Rule  string // mapping path, e.g. click_to_call.attributes.to
	Field string // Salesforce field, e.g. MobilePhone
}

// FaultKind: the record cannot be called as it stands.
func (e *NotCallableError) FaultKind() fault.Kind { return fault.Unprocessable }

func (e *NotCallableError) Error() string {
	if e.Field == "" {
		return "the record has no callable number (" + e.Rule + ")"
	}
	return "the record has no callable number in " + e.Field + " (" + e.Rule + ")"
}

// Agent is who clicked.
type Agent struct {
	Subject   string
	WorkerSID string
}

// Result of a click.
type Result struct {
	TaskSID    string         `json:"task_sid"`
	Attributes map[string]any `json:"attributes"`
	Repeated   bool           `json:"-"` // a double click: the first click's task
}

// Context is the attributes a click would inject, without creating anything.
func (f *Flow) Context(ctx context.Context, agent Agent, recordID string) (map[string]any, error) {
	recordID, err := salesforce.ID18(recordID)
	if err != nil {
		return nil, ErrInvalidID
	}
	return f.attributes(ctx, agent, recordID)
}

// Call creates the agent's task for the record, once per window.
func (f *Flow) Call(ctx context.Context, agent Agent, recordID string) (Result, error) {
	// The 15- and 18-character spellings are one record: one double-click
	// key, one cache entry, one crm.record_id.
	recordID, err := salesforce.ID18(recordID)
	if err != nil {
		return Result{}, ErrInvalidID
	}
	if agent.WorkerSID == "" {
		return Result{}, ErrNoWorker
	}
	key := "c2c:click:" + agent.WorkerSID + ":" + recordID
	for {
		claimed, err := f.cfg.Store.SetNX(ctx, key, pending, f.cfg.Window)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if claimed {
			return f.create(ctx, agent, recordID, key)
		}
		res, found, err := f.awaitFirst(ctx, key)
		if err != nil {
			return Result{}, err
		}
		if found {
			res.Repeated = true
			return res, nil
		}
		// The first click failed and released the key: this click tries itself.
	}
}

const pending = "pending"

// awaitFirst waits for the first click of a double click to finish.
func (f *Flow) awaitFirst(ctx context.Context, key string) (Result, bool, error) {
	deadline := time.Now().Add(f.cfg.Window)
	for time.Now().Before(deadline) {
		raw, found, err := f.cfg.Store.Get(ctx, key)
		if err != nil {
			return Result{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if !found {
			return Result{}, false, nil
		}
		if raw != pending {
			var res Result
			if err := json.Unmarshal([]byte(raw), &res); err != nil {
				return Result{}, false, fmt.Errorf("decode click result: %w", err)
			}
			return res, true, nil
		}
		select {
		case <-ctx.Done():
			return Result{}, false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return Result{}, false, ErrUnavailable
}

func (f *Flow) create(ctx context.Context, agent Agent, recordID, key string) (res Result, err error) {
	defer func() {
		if err != nil {
			// Nothing was created: let the next click try again.
			_ = f.cfg.Store.Del(context.WithoutCancel(ctx), key)
		}
	}()
	attrs, err := f.attributes(ctx, agent, recordID)
	if err != nil {
		return Result{}, err
	}
	task, err := f.cfg.Tasks.CreateTask(ctx, attrs, 0)
	if err != nil && twilio.IsAmbiguous(err) {
		task, err = f.findCreated(ctx, agent, recordID, err)
	}
	if err != nil {
		f.log.Warn("click-to-call task not created", "record_id", recordID, "worker_sid", agent.WorkerSID, "err", err)
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	res = Result{TaskSID: task.SID, Attributes: attrs}
	raw, _ := json.Marshal(res)
	if err := f.cfg.Store.Set(ctx, key, string(raw), f.cfg.Window); err != nil {
		// The task exists; a lost key only weakens double-click protection.
		f.log.Warn("click-to-call result not remembered", "record_id", recordID, "err", err)
	}
	f.log.Info("click-to-call task created", "record_id", recordID, "worker_sid", agent.WorkerSID, "task_sid", task.SID)
	return res, nil
}

// findCreated looks for the task a timed-out create may have made.
func (f *Flow) findCreated(ctx context.Context, agent Agent, recordID string, cause error) (twilio.Task, error) {
	expr := "crm.record_id == " + twilio.QuoteExpr(recordID) + " AND targetWorker == " + twilio.QuoteExpr(agent.WorkerSID)
	tasks, err := f.cfg.Tasks.FindOpenTasks(ctx, expr)
	if err != nil || len(tasks) == 0 {
		return twilio.Task{}, cause
	}
	return tasks[0], nil
}

// attributes reads the record (through the short cache) and maps it.
func (f *Flow) attributes(ctx context.Context, agent Agent, recordID string) (map[string]any, error) {
	ctc := f.cfg.Mappings.Current().ClickToCall()
	if ctc == nil {
		return nil, ErrNotMapped
	}
	rec, err := f.read(ctx, ctc.Object(), recordID, ctc.Fields())
	if err != nil {
		return nil, err
	}
	return Attributes(ctc, mapping.Record(rec), recordID, f.cfg.CallerID, agent.WorkerSID)
}

// Attributes builds a click-to-call task's attributes from a record: the
// mapped context at the top level and under crm (with record_id and object),
// direction, to, from and targetWorker. It is pure, so previews use it too.
func Attributes(ctc *mapping.ClickToCall, rec mapping.Record, recordID, callerID, workerSID string) (map[string]any, error) {
	mapped, err := ctc.Apply(rec)
	if err != nil {
		var re *mapping.RuleError
		if errors.As(err, &re) && strings.HasSuffix(re.Path, ".to") {
			return nil, &NotCallableError{Rule: re.Path, Field: re.Field}
		}
		return nil, fmt.Errorf("map record %s: %w", recordID, err)
	}
	to, _ := mapped["to"].(string)
	if !strings.HasPrefix(to, "+") {
		return nil, &NotCallableError{Rule: "click_to_call.attributes.to"}
	}
	crm := map[string]any{}
	attrs := map[string]any{}
	for k, v := range mapped {
		crm[k] = v
		attrs[k] = v
	}
	crm["record_id"] = recordID
	crm["object"] = ctc.Object()
	attrs["crm"] = crm
	attrs["direction"] = "outbound"
	attrs["to"] = to
	if callerID != "" {
		attrs["from"] = callerID
	}
	if workerSID != "" {
		attrs["targetWorker"] = workerSID
	}
	return attrs, nil
}

// read gets the record's mapped fields, from the cache when it is fresh.
// The cache key carries the field list, so a mapping change never reads a
// stale shape, and mapped fields never include protected ones.
func (f *Flow) read(ctx context.Context, object, id string, fields []string) (salesforce.Record, error) {
	sum := sha256.Sum256([]byte(strings.Join(fields, ",")))
	key := "c2c:record:" + object + ":" + id + ":" + hex.EncodeToString(sum[:8])
	if f.cfg.CacheTTL > 0 {
		if raw, found, err := f.cfg.Store.Get(ctx, key); err == nil && found {
			var rec salesforce.Record
			if json.Unmarshal([]byte(raw), &rec) == nil {
				return rec, nil
			}
		}
	}
	rec, err := f.cfg.CRM.Get(ctx, object, id, fields)
	if errors.Is(err, salesforce.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		f.log.Warn("record read failed", "record_id", id, "err", err)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if f.cfg.CacheTTL > 0 {
		raw, _ := json.Marshal(rec)
		_ = f.cfg.Store.Set(ctx, key, string(raw), f.cfg.CacheTTL)
	}
	return rec, nil
}
