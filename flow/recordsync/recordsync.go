// Package recordsync keeps a TaskRouter outreach task in step with each
// Salesforce record that needs a call: it opens, updates or cancels the task
// as the record_to_task mapping says, never makes a call whose result would
// not change anything, and never leaves a record with two open tasks.
package recordsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Tasks is the part of TaskRouter the flow uses.
type Tasks interface {
	CreateTask(ctx context.Context, attrs map[string]any, priority int) (twilio.Task, error)
	// FetchTask reads the task with its ETag; UpdateTaskIfMatch replaces its
	// attributes only while it still has that version (412 otherwise).
	FetchTask(ctx context.Context, sid string) (twilio.Task, error)
	UpdateTaskIfMatch(ctx context.Context, sid, etag string, attrs map[string]any, priority int) error
	CancelTask(ctx context.Context, sid, reason string) error
	FindOpenTasks(ctx context.Context, evaluateTaskAttributes string) ([]twilio.Task, error)
}

// Store holds the record→task links and the per-record locks.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	Del(ctx context.Context, keys ...string) error
	// Lock takes key for ttl; release frees it only while it is still
	// this holder's (connector/redis.KV.Lock).
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Config wires the flow.
type Config struct {
	Tasks    Tasks
	Store    Store
	Mappings Mappings
	Logger   *slog.Logger
	// LinkTTL bounds how long a record's link outlives its last change.
	LinkTTL time.Duration // default 30 days
	// LockTTL bounds a per-record lock held by a worker that died.
	LockTTL time.Duration // default 30 s
	// Parallelism bounds the records synced at once within one batch.
	Parallelism int // default 16
	// UpdateAttempts bounds the read-merge-write rounds of one update when
	// Flex keeps changing the task (412 on If-Match).
	UpdateAttempts int // default 5
}

// Flow is the record sync flow.
type Flow struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.Tasks == nil || cfg.Store == nil || cfg.Mappings == nil {
		return nil, errors.New("recordsync: Tasks, Store and Mappings are required")
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 30 * 24 * time.Hour
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 30 * time.Second
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 16
	}
	if cfg.UpdateAttempts <= 0 {
		cfg.UpdateAttempts = 5
	}
	f := &Flow{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Outcome says what one sync did.
type Outcome string

const (
	Created   Outcome = "created"
	Updated   Outcome = "updated"
	Canceled  Outcome = "canceled"
	Unchanged Outcome = "unchanged" // nothing to send: echo, stale, or no task to act on
	Skipped   Outcome = "skipped"   // not the mapped object, or no record_to_task section
)

// link is what the bridge remembers of a record's task.
type link struct {
	TaskSID      string `json:"task_sid,omitempty"`
	Hash         string `json:"hash,omitempty"`          // of the last attributes sent
	LastModified string `json:"last_modified,omitempty"` // newest LastModifiedDate applied
	// Keys are the attribute paths (dotted leaves) the bridge wrote last: an
	// update removes only those of them the mapping no longer yields, and
	// never touches what Flex keeps in the same attributes.
	Keys []string `json:"keys,omitempty"`
	// Creating is set before a create whose result may be lost (timeout,
	// crash); whoever sees it asks TaskRouter before creating again.
	Creating bool `json:"creating,omitempty"`
}

// ErrBusy means another worker holds the record; the queue retries later.
var ErrBusy = errors.New("record is being synced by another worker")

func linkKey(object, id string) string { return "recordsync:link:" + object + ":" + id }
func lockKey(object, id string) string { return "recordsync:lock:" + object + ":" + id }

// Handle is the queue's batch handler. Notifications for one record are
// applied in order (LastModifiedDate, then arrival); different records run
// concurrently, so a 100-notification message lands within seconds.
func (f *Flow) Handle(ctx context.Context, msgs []queue.Message) []error {
	errs := make([]error, len(msgs))
	type item struct {
		idx int
		rec event.Record
	}
	var items []item
	for i, m := range msgs {
		var rec event.Record
		if err := json.Unmarshal(m.Payload, &rec); err != nil {
			errs[i] = queue.Permanent(fmt.Errorf("decode record event: %w", err))
			continue
		}
		items = append(items, item{i, rec})
	}
	synced := queue.ByKey(ctx, items, f.cfg.Parallelism,
		func(it item) string { return it.rec.Object + ":" + it.rec.RecordID },
		func(a, b item) bool { return lastModified(a.rec.Fields) < lastModified(b.rec.Fields) },
		func(ctx context.Context, it item) error {
			_, err := f.Sync(ctx, it.rec)
			return err
		})
	for j, err := range synced {
		errs[items[j].idx] = err
	}
	return errs
}

// Sync applies one record to its task.
func (f *Flow) Sync(ctx context.Context, rec event.Record) (Outcome, error) {
	// Decided before the lock; a mapping error counts only for a record
	// that is not stale.
	d, decideErr := Decide(f.cfg.Mappings.Current(), rec)
	if d.Skip {
		return Skipped, nil
	}
	log := f.log.With("record_id", rec.RecordID, "notification_id", rec.NotificationID)

	release, ok, err := f.cfg.Store.Lock(ctx, lockKey(rec.Object, rec.RecordID), f.cfg.LockTTL)
	if err != nil {
		return "", fmt.Errorf("lock record %s: %w", rec.RecordID, err)
	}
	if !ok {
		return "", ErrBusy
	}
	// A lock left behind only delays the next sync by LockTTL; release
	// frees it only while it is still ours.
	defer release()

	l, err := f.loadLink(ctx, rec)
	if err != nil {
		return "", err
	}
	lm := lastModified(rec.Fields)
	if lm != "" && l.LastModified != "" && lm < l.LastModified {
		log.Info("stale notification ignored")
		return Unchanged, nil
	}

	var out Outcome
	switch d.Action {
	case mapping.ActionCreate:
		if decideErr != nil {
			return "", decideErr
		}
		out, err = f.open(ctx, rec, d, &l)
	case mapping.ActionCancel:
		out, err = f.cancel(ctx, rec, &l)
	default:
		out = Unchanged
	}
	if err != nil {
		return "", err
	}
	if lm != "" {
		l.LastModified = lm
	}
	if err := f.saveLink(ctx, rec, l); err != nil {
		return "", err
	}
	log.Info("record synced", "outcome", string(out), "task_sid", l.TaskSID)
	return out, nil
}

// TaskAttributes maps a record to its outreach task's attributes and
// priority, with the crm link (record_id, object) the writeback reads. It is
// pure, so the admin preview uses it too.
func TaskAttributes(rt *mapping.RecordToTask, rec mapping.Record, recordID, object string) (map[string]any, int, error) {
	attrs, priority, err := rt.Apply(rec)
	if err != nil {
		return nil, 0, err
	}
	attrs["crm"] = map[string]any{"record_id": recordID, "object": object}
	return attrs, priority, nil
}

// open creates the record's task, or updates the open one when the mapped
// attributes changed.
func (f *Flow) open(ctx context.Context, rec event.Record, d Decision, l *link) (Outcome, error) {
	attrs, priority := d.Attributes, d.Priority
	hash := hashOf(attrs, priority)

	if l.Creating {
		if err := f.reconcile(ctx, rec, l); err != nil {
			return "", err
		}
	}
	if l.TaskSID != "" {
		if l.Hash == hash {
			return Unchanged, nil
		}
		out, err := f.update(ctx, l, attrs, priority)
		if err == nil {
			l.Hash, l.Keys = hash, leafPaths(attrs)
			return out, nil
		}
		if !taskGone(err) {
			return "", queue.Classify(fmt.Errorf("update task %s: %w", l.TaskSID, err))
		}
		// The old task was completed or canceled in Flex: the record needs a new one.
		l.TaskSID, l.Hash = "", ""
	}

	l.Creating = true
	if err := f.saveLink(ctx, rec, *l); err != nil {
		return "", err
	}
	task, err := f.cfg.Tasks.CreateTask(ctx, attrs, priority)
	if err != nil {
		return "", queue.Classify(fmt.Errorf("create task for %s: %w", rec.RecordID, err))
	}
	l.TaskSID, l.Hash, l.Creating, l.Keys = task.SID, hash, false, leafPaths(attrs)
	return Created, nil
}

// update merges the mapped attributes into the task's current ones and
// writes them with If-Match. TaskRouter replaces all attributes on update,
// and Flex keeps its own there during a call (conference, call_sid,
// conversations.*, the wrap-up), so a blind write would wipe them. A 412
// means Flex wrote in between: read again and merge again.
func (f *Flow) update(ctx context.Context, l *link, attrs map[string]any, priority int) (Outcome, error) {
	for range f.cfg.UpdateAttempts {
		cur, err := f.cfg.Tasks.FetchTask(ctx, l.TaskSID)
		if err != nil {
			return "", err
		}
		if cur.AssignmentStatus == "completed" || cur.AssignmentStatus == "canceled" {
			return "", &twilio.APIError{Status: 404, Message: "task is " + cur.AssignmentStatus}
		}
		merged := MergeAttributes(cur.Attributes, attrs, l.Keys)
		if cur.Priority == priority && reflect.DeepEqual(jsonForm(merged), jsonForm(cur.Attributes)) {
			return Unchanged, nil
		}
		err = f.cfg.Tasks.UpdateTaskIfMatch(ctx, l.TaskSID, cur.ETag, merged, priority)
		if err == nil {
			return Updated, nil
		}
		var apiErr *twilio.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 412 {
			return "", err
		}
	}
	// Still racing after every attempt: not permanent, the queue retries later.
	return "", fmt.Errorf("task changed under each of %d update attempts (412)", f.cfg.UpdateAttempts)
}

// MergeAttributes returns current with mapped merged in: mapped leaves win,
// leaves the bridge wrote before (written) that mapped no longer holds are
// removed, and everything else (Flex's own attributes) is kept as it is.
func MergeAttributes(current, mapped map[string]any, written []string) map[string]any {
	out := deepCopy(current)
	if out == nil {
		out = map[string]any{}
	}
	keep := map[string]bool{}
	for _, p := range leafPaths(mapped) {
		keep[p] = true
	}
	for _, p := range written {
		if !keep[p] {
			removePath(out, strings.Split(p, "."))
		}
	}
	mergeInto(out, mapped)
	return out
}

// leafPaths lists the dotted paths of a tree's non-map values, sorted.
func leafPaths(m map[string]any) []string {
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			out = append(out, prefix+k)
		}
	}
	walk("", m)
	sort.Strings(out)
	return out
}

// removePath deletes one leaf and the maps it leaves empty.
func removePath(m map[string]any, parts []string) {
	if len(parts) == 1 {
		delete(m, parts[0])
		return
	}
	sub, ok := m[parts[0]].(map[string]any)
	if !ok {
		return
	}
	removePath(sub, parts[1:])
	if len(sub) == 0 {
		delete(m, parts[0])
	}
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeInto(dv, sv)
				continue
			}
			dst[k] = deepCopy(sv)
			continue
		}
		dst[k] = v
	}
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// jsonForm compares attribute trees as TaskRouter stores them (JSON), so an
// int the mapping built equals the float64 a fetch decoded.
func jsonForm(m map[string]any) any {
	raw, _ := json.Marshal(m)
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

func (f *Flow) cancel(ctx context.Context, rec event.Record, l *link) (Outcome, error) {
	if l.Creating {
		if err := f.reconcile(ctx, rec, l); err != nil {
			return "", err
		}
	}
	if l.TaskSID == "" {
		return Unchanged, nil
	}
	err := f.cfg.Tasks.CancelTask(ctx, l.TaskSID, "record closed in Salesforce")
	if err != nil && !taskGone(err) {
		return "", queue.Classify(fmt.Errorf("cancel task %s: %w", l.TaskSID, err))
	}
	l.TaskSID, l.Hash = "", ""
	if err != nil {
		return Unchanged, nil
	}
	return Canceled, nil
}

// reconcile asks TaskRouter for the record's open tasks after a create whose
// outcome is unknown, so a retry adopts that task instead of making another.
func (f *Flow) reconcile(ctx context.Context, rec event.Record, l *link) error {
	expr := fmt.Sprintf(`crm.record_id == %s`, quoteExpr(rec.RecordID))
	tasks, err := f.cfg.Tasks.FindOpenTasks(ctx, expr)
	if err != nil {
		return queue.Classify(fmt.Errorf("reconcile tasks of %s: %w", rec.RecordID, err))
	}
	l.Creating = false
	if len(tasks) == 0 {
		return nil
	}
	l.TaskSID = tasks[0].SID
	l.Hash = "" // unknown attributes: the next update sends ours
	for _, extra := range tasks[1:] {
		// Only reachable if an earlier version of the bridge duplicated tasks.
		if err := f.cfg.Tasks.CancelTask(ctx, extra.SID, "duplicate outreach task"); err != nil && !taskGone(err) {
			return queue.Classify(fmt.Errorf("cancel duplicate task %s: %w", extra.SID, err))
		}
	}
	return nil
}

func (f *Flow) loadLink(ctx context.Context, rec event.Record) (link, error) {
	var l link
	raw, found, err := f.cfg.Store.Get(ctx, linkKey(rec.Object, rec.RecordID))
	if err != nil {
		return l, fmt.Errorf("load link of %s: %w", rec.RecordID, err)
	}
	if found {
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return link{}, fmt.Errorf("decode link of %s: %w", rec.RecordID, err)
		}
	}
	return l, nil
}

func (f *Flow) saveLink(ctx context.Context, rec event.Record, l link) error {
	raw, _ := json.Marshal(l)
	if err := f.cfg.Store.Set(ctx, linkKey(rec.Object, rec.RecordID), string(raw), f.cfg.LinkTTL); err != nil {
		return fmt.Errorf("save link of %s: %w", rec.RecordID, err)
	}
	return nil
}

// TaskSID returns the open task the bridge holds for a record, if any.
func (f *Flow) TaskSID(ctx context.Context, object, recordID string) (string, error) {
	l, err := f.loadLink(ctx, event.Record{Object: object, RecordID: recordID})
	return l.TaskSID, err
}

// lastModified is RFC 3339 in UTC with fixed width, so strings compare as times.
func lastModified(fields map[string]any) string {
	s, _ := fields["LastModifiedDate"].(string)
	if s == "" {
		return ""
	}
	// Outbound Messages send RFC 3339; the REST API sends "…000+0000".
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
		}
	}
	return ""
}

// hashOf is stable because encoding/json sorts map keys.
func hashOf(attrs map[string]any, priority int) string {
	raw, _ := json.Marshal(struct {
		A map[string]any `json:"a"`
		P int            `json:"p"`
	}{attrs, priority})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// quoteExpr quotes a value for TaskRouter's expression language.
func quoteExpr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// taskGone is TaskRouter saying the task can no longer change: not found, or
// already completed or canceled.
func taskGone(err error) bool {
	var apiErr *twilio.APIError
	return errors.As(err, &apiErr) && (apiErr.Status == 404 || apiErr.Status == 400 || apiErr.Status == 409)
}
