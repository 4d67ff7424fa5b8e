package backfill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/memkv"
)

const testMapping = `
record_to_task:
  object: Contact
  when: {field: Outreach_Status__c, create: [Needs Outreach], cancel: [Closed]}
  attributes:
    name: {field: FirstName}
    to: {field: MobilePhone, transform: e164, required: true}
protected: [Index_Case_Name__c]
`

type fixedMapping struct{ m *mapping.Mapping }

func (f fixedMapping) Current() *mapping.Mapping { return f.m }

func mustMapping(t *testing.T) Mappings {
	t.Helper()
	m, err := mapping.Parse([]byte(testMapping))
	if err != nil {
		t.Fatal(err)
	}
	return fixedMapping{m}
}

// fakeSource serves records in Id order with keyset filtering and batches,
// as Salesforce answers "WHERE (…) AND Id > '…' ORDER BY Id".
type fakeSource struct {
	mu      sync.Mutex
	recs    []salesforce.Record // sorted by Id
	batch   int
	cursors map[string][]salesforce.Record
	queries []string
	expire  bool // the next QueryMore answers INVALID_QUERY_LOCATOR
}

var _ Source = (*fakeSource)(nil)

var afterRe = regexp.MustCompile(`AND Id > '([^']*)'`)

func newSource(n, batch int) *fakeSource {
	s := &fakeSource{batch: batch, cursors: map[string][]salesforce.Record{}}
	for i := range n {
		status := "Needs Outreach"
		if i%4 == 3 {
			status = "Closed"
		}
		s.recs = append(s.recs, salesforce.Record{
			"Id": fmt.Sprintf("003000000000%06d", i), "FirstName": fmt.Sprintf("Person%d", i),
			"MobilePhone": "(212) 555-0123", "Outreach_Status__c": status, "Index_Case_Name__c": "Secret Index",
			"LastModifiedDate": "2026-03-01T10:00:00.000+0000",
		})
	}
	return s
}

func (s *fakeSource) Query(_ context.Context, soql string) (salesforce.QueryPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, soql)
	if strings.Contains(soql, "((") {
		return salesforce.QueryPage{}, fmt.Errorf("query: %w", &salesforce.APIError{Status: 400, Code: "MALFORMED_QUERY", Message: "unexpected token: '('"})
	}
	after := ""
	if m := afterRe.FindStringSubmatch(soql); m != nil {
		after = m[1]
	}
	var rows []salesforce.Record
	for _, r := range s.recs {
		if r["Id"].(string) > after {
			rows = append(rows, copyRec(r))
		}
	}
	key := strconv.Itoa(len(s.queries))
	s.cursors[key] = rows
	return s.pageLocked(key, 0), nil
}

func (s *fakeSource) QueryMore(_ context.Context, next string) (salesforce.QueryPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expire {
		s.expire = false
		return salesforce.QueryPage{}, fmt.Errorf("query more: %w", &salesforce.APIError{Status: 400, Code: "INVALID_QUERY_LOCATOR", Message: "invalid query locator"})
	}
	key, off, _ := strings.Cut(next, "-")
	n, _ := strconv.Atoi(off)
	return s.pageLocked(key, n), nil
}

func (s *fakeSource) pageLocked(key string, off int) salesforce.QueryPage {
	rows := s.cursors[key]
	end := min(off+s.batch, len(rows))
	p := salesforce.QueryPage{TotalSize: len(rows), Done: end >= len(rows), Records: rows[off:end]}
	if !p.Done {
		p.NextRecordsURL = fmt.Sprintf("%s-%d", key, end)
	}
	return p
}

func copyRec(r salesforce.Record) salesforce.Record {
	out := salesforce.Record{}
	for k, v := range r {
		out[k] = v
	}
	return out
}

// fakeQueue is a queue.Enqueuer that deduplicates by key as
// connector/redis.Queue does; fail, when set, may record only the first n
// items of a call and then fail it, as a Redis error halfway can.
type fakeQueue struct {
	mu    sync.Mutex
	seen  map[string]bool
	items []queue.Item
	calls int
	fail  func(call int, items []queue.Item) (int, error)
}

var _ queue.Enqueuer = (*fakeQueue)(nil)

func (q *fakeQueue) Enqueue(_ context.Context, items ...queue.Item) ([]bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	n, err := len(items), error(nil)
	if q.fail != nil {
		n, err = q.fail(q.calls, items)
	}
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	out := make([]bool, len(items))
	for i, it := range items[:n] {
		if q.seen[it.Key] {
			continue
		}
		q.seen[it.Key], out[i] = true, true
		q.items = append(q.items, it)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// records decodes what was recorded, in order.
func (q *fakeQueue) records(t *testing.T) []event.Record {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]event.Record, 0, len(q.items))
	for _, it := range q.items {
		var rec event.Record
		if err := json.Unmarshal(it.Payload, &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// ids counts the recorded items per record.
func (q *fakeQueue) ids(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, r := range q.records(t) {
		out[r.RecordID]++
	}
	return out
}

func mustOncePerRecord(t *testing.T, q *fakeQueue, n int) {
	t.Helper()
	ids := q.ids(t)
	if len(ids) != n {
		t.Fatalf("%d distinct records enqueued, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Fatalf("%s enqueued %d times", id, c)
		}
	}
}

// decideByMapping stands in for recordsync.Decide, which server wires.
func decideByMapping(m *mapping.Mapping, rec event.Record) (bool, mapping.Action, error) {
	rt := m.RecordToTask()
	if rt == nil || rt.Object() != rec.Object {
		return true, mapping.ActionNone, nil
	}
	a := rt.Action(mapping.Record(rec.Fields))
	if a == mapping.ActionCreate {
		if _, _, err := rt.Apply(mapping.Record(rec.Fields)); err != nil {
			return false, a, queue.Permanent(err)
		}
	}
	return false, a, nil
}

var _ Store = (*memkv.Store)(nil)

// funcReporter calls page after each checkpoint.
type funcReporter struct {
	pages []Progress
	page  func(p Progress)
}

func (r *funcReporter) Start(Progress)  {}
func (r *funcReporter) Record(Progress) {}
func (r *funcReporter) Page(p Progress) {
	r.pages = append(r.pages, p)
	if r.page != nil {
		r.page(p)
	}
}

const where = "Outreach_Status__c != null"

func mustNew(t *testing.T, cfg Config) *Backfill {
	t.Helper()
	if cfg.Where == "" {
		cfg.Where = where
	}
	if cfg.Mappings == nil {
		cfg.Mappings = mustMapping(t)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunEnqueuesEveryRecordOnceAndCheckpointsEachPage(t *testing.T) {
	src, q, store := newSource(1000, 300), &fakeQueue{}, &memkv.Store{}
	rep := &funcReporter{}
	var logBuf bytes.Buffer
	b := mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 250, Reporter: rep,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	sum, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Complete || sum.Done != 1000 || sum.Total != 1000 || sum.Counts.Enqueued != 1000 || sum.Counts.Sum() != 1000 {
		t.Fatalf("summary %+v", sum)
	}
	mustOncePerRecord(t, q, 1000)
	// Four pages of 250 across batches of 300, one checkpoint each, then "complete".
	if len(rep.pages) != 4 || store.Sets() != 5 {
		t.Fatalf("pages %d, checkpoint writes %d", len(rep.pages), store.Sets())
	}
	if rep.pages[1].Done != 500 || rep.pages[1].LastID != "003000000000000499" {
		t.Fatalf("second page %+v", rep.pages[1])
	}
	want := "SELECT FirstName, Id, LastModifiedDate, MobilePhone, Outreach_Status__c FROM Contact WHERE (" + where + ") ORDER BY Id"
	if src.queries[0] != want || len(src.queries) != 1 {
		t.Fatalf("queries %q\nwant %q", src.queries, want)
	}

	recs := q.records(t)
	rec := recs[0]
	if rec.NotificationID != "backfill" || rec.Source != "backfill" || rec.Object != "Contact" || rec.RecordID != "003000000000000000" {
		t.Fatalf("event %+v", rec)
	}
	if recs[999].RecordID != "003000000000000999" {
		t.Fatalf("not enqueued in Id order: last %s", recs[999].RecordID)
	}
	if _, ok := rec.Fields["Index_Case_Name__c"]; ok {
		t.Fatal("a protected field reached the queue")
	}
	if rec.Fields["LastModifiedDate"] != "2026-03-01T10:00:00Z" {
		t.Fatalf("LastModifiedDate %v, want RFC 3339 as Outbound Messages carry it", rec.Fields["LastModifiedDate"])
	}
	raw, _, _ := store.Get(context.Background(), checkpointKey("Contact", where))
	if !strings.Contains(raw, `"complete":true`) || !strings.Contains(raw, `"last_id":"003000000000000999"`) || !strings.Contains(raw, `"enqueued":1000`) {
		t.Fatalf("checkpoint %s", raw)
	}
	if strings.Contains(logBuf.String(), "Person") || strings.Contains(logBuf.String(), "555-0123") {
		t.Fatalf("a record value reached the log:\n%s", logBuf.String())
	}
}

func TestInterruptedRunResumesAfterTheCheckpoint(t *testing.T) {
	src, q, store := newSource(1000, 200), &fakeQueue{}, &memkv.Store{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := &funcReporter{page: func(p Progress) {
		if p.Pages == 2 {
			cancel()
		}
	}}
	sum, err := mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 200, Reporter: rep}).Run(ctx)
	if !errors.Is(err, ErrInterrupted) || sum.Complete || sum.Done != 400 || sum.LastID != "003000000000000399" {
		t.Fatalf("first run: %v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 400)

	rep2 := &funcReporter{}
	sum, err = mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 200, Reporter: rep2}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Done != 1000 || sum.RunDone != 600 || !sum.Resumed {
		t.Fatalf("resumed run: %v %+v", err, sum)
	}
	if sum.Counts.Enqueued != 1000 || sum.Counts.Duplicate != 0 {
		t.Fatalf("counts do not add up over the two runs: %+v", sum.Counts)
	}
	if !strings.Contains(src.queries[1], "AND Id > '003000000000000399' ORDER BY Id") {
		t.Fatalf("resume query %q", src.queries[1])
	}
	mustOncePerRecord(t, q, 1000)
}

func TestCancelMidPageCheckpointsTheRecordsEnqueued(t *testing.T) {
	src, store := newSource(500, 500), &memkv.Store{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := &fakeQueue{fail: func(call int, items []queue.Item) (int, error) {
		if call == 1 {
			cancel() // Ctrl-C while the first chunk is on its way
		}
		return len(items), nil
	}}
	sum, err := mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 500}).Run(ctx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v", err)
	}
	first := len(q.ids(t))
	if sum.Done != first || first == 0 || first >= 500 || sum.Counts.Enqueued != first || sum.LastID != fmt.Sprintf("003000000000%06d", first-1) {
		t.Fatalf("done %d, enqueued %d: %+v", sum.Done, first, sum)
	}
	q.fail = nil
	sum, err = mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 500}).Run(context.Background())
	if err != nil || sum.Done != 500 || sum.Counts.Enqueued != 500 || sum.Counts.Duplicate != 0 {
		t.Fatalf("resume: %v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 500)
}

func TestCompleteRunIsNotRepeatedWithoutRestart(t *testing.T) {
	src, q, store := newSource(50, 20), &fakeQueue{}, &memkv.Store{}
	if _, err := mustNew(t, Config{Source: src, Records: q, Store: store}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum, err := mustNew(t, Config{Source: src, Records: q, Store: store}).Run(context.Background())
	if !errors.Is(err, ErrAlreadyComplete) || sum.Done != 50 || sum.Counts.Enqueued != 50 || q.calls != 1 || len(src.queries) != 1 {
		t.Fatalf("second run: %v %+v, %d enqueue calls, %d queries", err, sum, q.calls, len(src.queries))
	}
	// Another condition is another backfill.
	if sum, err := mustNew(t, Config{Source: src, Records: q, Store: store, Where: "FirstName != null"}).Run(context.Background()); err != nil || sum.Counts.Enqueued != 50 {
		t.Fatalf("another condition: %v %+v", err, sum)
	}
	// --restart is a new run: every record is enqueued again, and record
	// sync finds each in step (its links make that cost no Twilio call).
	sum, err = mustNew(t, Config{Source: src, Records: q, Store: store, Restart: true}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Done != 50 || sum.Counts.Enqueued != 50 || sum.Resumed {
		t.Fatalf("restart: %v %+v", err, sum)
	}
	if ids := q.ids(t); len(ids) != 50 || ids["003000000000000007"] != 3 {
		t.Fatalf("enqueued %v", ids)
	}
}

func TestMalformedConditionEnqueuesNothing(t *testing.T) {
	src, q, store := newSource(10, 10), &fakeQueue{}, &memkv.Store{}
	_, err := mustNew(t, Config{Source: src, Records: q, Store: store, Where: "((Name = 'x'"}).Run(context.Background())
	var ce *ConditionError
	var apiErr *salesforce.APIError
	if !errors.As(err, &ce) || !errors.As(err, &apiErr) || apiErr.Code != "MALFORMED_QUERY" {
		t.Fatalf("want a ConditionError carrying Salesforce's error, got %v", err)
	}
	if q.calls != 0 || store.Sets() != 0 {
		t.Fatalf("%d enqueue calls, %d checkpoint writes", q.calls, store.Sets())
	}
}

// Monitoring gets every record too, under the same key, as it gets every
// Outbound Message; the reminders' fields are read when they are the same object's.
func TestMonitoringGetsEveryRecord(t *testing.T) {
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	src, recs, mon, store := newSource(30, 30), &fakeQueue{}, &fakeQueue{}, &memkv.Store{}
	sum, err := mustNew(t, Config{Source: src, Records: recs, Monitoring: mon, Store: store, Mappings: fixedMapping{m}}).Run(context.Background())
	if err != nil || sum.Counts.Enqueued != 30 {
		t.Fatalf("%v %+v", err, sum)
	}
	if !strings.Contains(src.queries[0], "Monitoring_Status__c") || !strings.Contains(src.queries[0], "Monitoring_Start__c") {
		t.Fatalf("query %q reads no reminder fields", src.queries[0])
	}
	if len(mon.items) != 30 {
		t.Fatalf("%d monitoring items", len(mon.items))
	}
	for i, it := range mon.items {
		var ev event.Monitoring
		if err := json.Unmarshal(it.Payload, &ev); err != nil || ev.Record == nil || ev.Record.RecordID != fmt.Sprintf("003000000000%06d", i) {
			t.Fatalf("monitoring item %d: %s %v", i, it.Payload, err)
		}
		if it.Key != recs.items[i].Key {
			t.Fatalf("keys differ: %q %q", it.Key, recs.items[i].Key)
		}
	}
}

// A record changed in Salesforce since it was enqueued is a new item; the
// same version is not enqueued twice in a run.
func TestKeyIsPerRecordVersionAndRun(t *testing.T) {
	rec := event.Record{Object: "Contact", RecordID: "003A", Fields: map[string]any{"LastModifiedDate": "2026-03-01T10:00:00Z"}}
	later := event.Record{Object: "Contact", RecordID: "003A", Fields: map[string]any{"LastModifiedDate": "2026-03-01T10:05:00Z"}}
	if itemKey("r1", rec) != itemKey("r1", rec) || itemKey("r1", rec) == itemKey("r1", later) || itemKey("r1", rec) == itemKey("r2", rec) {
		t.Fatal("keys do not tell versions and runs apart")
	}
}

func TestDryRunFailuresAreCountedAndLoggedByIDOnly(t *testing.T) {
	src, store := newSource(100, 100), &memkv.Store{}
	for i := 7; i < 100; i += 10 {
		src.recs[i]["Outreach_Status__c"] = "Needs Outreach"
		delete(src.recs[i], "MobilePhone")
	}
	var logBuf bytes.Buffer
	sum, err := mustNew(t, Config{Source: src, Store: store, DryRun: true, Decide: decideByMapping,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Counts.Failed != 10 || sum.Counts.Sum() != 100 {
		t.Fatalf("%v %+v", err, sum)
	}
	log := logBuf.String()
	if !strings.Contains(log, "record_id=003000000000000017") || strings.Count(log, "backfill record would fail") != 10 {
		t.Fatalf("failures not logged by id:\n%s", log)
	}
	if strings.Contains(log, "Person") || strings.Contains(log, "555-0123") || strings.Contains(log, "Secret") {
		t.Fatalf("a record value reached the log:\n%s", log)
	}
}

func TestExpiredQueryLocatorIsReplacedByAKeysetQuery(t *testing.T) {
	src, q, store := newSource(100, 30), &fakeQueue{}, &memkv.Store{}
	rep := &funcReporter{page: func(p Progress) {
		if p.Pages == 1 {
			src.mu.Lock()
			src.expire = true
			src.mu.Unlock()
		}
	}}
	sum, err := mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 30, Reporter: rep}).Run(context.Background())
	if err != nil || sum.Done != 100 || sum.Counts.Enqueued != 100 {
		t.Fatalf("%v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 100)
	if len(src.queries) != 2 || !strings.Contains(src.queries[1], "Id > '003000000000000029'") {
		t.Fatalf("queries %q", src.queries)
	}
}

func TestDryRunEnqueuesAndStoresNothing(t *testing.T) {
	src, store := newSource(40, 40), &memkv.Store{}
	delete(src.recs[5], "MobilePhone")
	sum, err := mustNew(t, Config{Source: src, Store: store, DryRun: true, Decide: decideByMapping}).Run(context.Background())
	if err != nil || !sum.DryRun || sum.Counts.Open != 29 || sum.Counts.Cancel != 10 || sum.Counts.Failed != 1 || sum.Counts.Enqueued != 0 {
		t.Fatalf("%v %+v", err, sum)
	}
	if store.Sets() != 0 {
		t.Fatalf("dry run wrote %d checkpoints", store.Sets())
	}
	if _, err := New(Config{Source: src, Store: store, Mappings: mustMapping(t), Where: where, DryRun: true}); err == nil {
		t.Fatal("a dry run without Decide was accepted")
	}
	if _, err := New(Config{Source: src, Store: store, Mappings: mustMapping(t), Where: where}); err == nil {
		t.Fatal("a run without Records was accepted")
	}
}

func TestStatusLine(t *testing.T) {
	p := Progress{Total: 10000, Done: 2000, Counts: Counts{Enqueued: 2000}, RunDone: 2000, RunElapsed: 4854 * time.Millisecond}
	if got, want := Status(p), "2000/10000 records, 2000 enqueued, 412 rec/s"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if eta := p.ETA().Round(time.Second); eta != 19*time.Second {
		t.Fatalf("ETA %s", eta)
	}
	var buf bytes.Buffer
	LineReporter{W: &buf}.Page(p)
	if buf.String() != "backfill: "+Status(p)+"\n" {
		t.Fatalf("line %q", buf.String())
	}
	dry := Progress{Total: 10, Done: 10, DryRun: true, Counts: Counts{Open: 6, Cancel: 2, None: 1, Failed: 1}}
	if got, want := Status(dry), "10/10 records, 6 to open or update, 2 to cancel, 1 no action, 1 would fail, 0 rec/s"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// Redis failing mid-run stops it at the last page enqueued whole; the next
// run enqueues the rest, and what Redis recorded before failing is dropped
// as a duplicate, not enqueued twice.
func TestRedisOutageStopsAndResumesWithoutLossOrDuplicates(t *testing.T) {
	src, store := newSource(100, 100), &memkv.Store{}
	down := true
	q := &fakeQueue{fail: func(_ int, items []queue.Item) (int, error) {
		if down && strings.Contains(items[0].Key, ":003000000000000050:") {
			return len(items) / 2, errors.New("enqueue 50 item(s) on records: connection refused")
		}
		return len(items), nil
	}}
	sum, err := mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 50}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "run the same command again") ||
		sum.Done != 50 || sum.LastID != "003000000000000049" {
		t.Fatalf("%v %+v", err, sum)
	}
	down = false
	sum, err = mustNew(t, Config{Source: src, Records: q, Store: store, PageSize: 50}).Run(context.Background())
	if err != nil || sum.Done != 100 || sum.Counts.Enqueued != 75 || sum.Counts.Duplicate != 25 {
		t.Fatalf("after the outage: %v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 100)

	// Monitoring's queue failing stops the run the same way.
	mon := &fakeQueue{fail: func(int, []queue.Item) (int, error) { return 0, errors.New("connection refused") }}
	sum, err = mustNew(t, Config{Source: src, Records: q, Monitoring: mon, Store: store, Restart: true}).Run(context.Background())
	if err == nil || sum.Done != 0 || sum.Complete {
		t.Fatalf("monitoring down: %v %+v", err, sum)
	}
	// The stopped restart is what the next run resumes, not the old
	// complete run; record sync's items already in are not enqueued again.
	mon.fail = nil
	sum, err = mustNew(t, Config{Source: src, Records: q, Monitoring: mon, Store: store}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Counts.Enqueued != 0 || sum.Counts.Duplicate != 100 || len(mon.items) != 100 {
		t.Fatalf("after the restart stopped: %v %+v, %d monitoring items", err, sum, len(mon.items))
	}
}

// A page read again after a stop is not enqueued twice, except a record
// changed in Salesforce in between: its new version flows.
func TestResumedPageEnqueuesOnlyChangedRecordsAgain(t *testing.T) {
	src, store := newSource(40, 40), &memkv.Store{}
	down := true
	q := &fakeQueue{fail: func(_ int, items []queue.Item) (int, error) {
		if down {
			return len(items), errors.New("connection reset") // recorded, but the answer was lost
		}
		return len(items), nil
	}}
	if _, err := mustNew(t, Config{Source: src, Records: q, Store: store}).Run(context.Background()); err == nil {
		t.Fatal("no error")
	}
	down = false
	src.mu.Lock()
	src.recs[7]["LastModifiedDate"] = "2026-03-02T09:00:00.000+0000"
	src.mu.Unlock()
	sum, err := mustNew(t, Config{Source: src, Records: q, Store: store}).Run(context.Background())
	if err != nil || sum.Counts.Enqueued != 1 || sum.Counts.Duplicate != 39 {
		t.Fatalf("%v %+v", err, sum)
	}
	recs := q.records(t)
	if len(recs) != 41 || recs[40].RecordID != "003000000000000007" || recs[40].Fields["LastModifiedDate"] != "2026-03-02T09:00:00Z" {
		t.Fatalf("%d items; last %+v", len(recs), recs[len(recs)-1])
	}
}

// A page waits while record sync's queue holds more than MaxBacklog, so
// live Outbound Messages never queue behind the whole backfill; Ctrl-C
// while waiting keeps the checkpoint of the pages already enqueued.
func TestPagesWaitForTheBacklogToDrain(t *testing.T) {
	src, q, store := newSource(600, 600), &fakeQueue{}, &memkv.Store{}
	var mu sync.Mutex
	backlog, reads := int64(0), 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readBacklog := func(context.Context) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		return backlog, nil
	}
	rep := &funcReporter{page: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		backlog = int64(len(q.ids(t))) // nothing is consumed: the backlog only grows
		if p.Pages == 2 {
			go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		}
	}}
	cfg := Config{Source: src, Records: q, Store: store, PageSize: 200, MaxBacklog: 300,
		BacklogPoll: 5 * time.Millisecond, Backlog: readBacklog, Reporter: rep}
	sum, err := mustNew(t, cfg).Run(ctx)
	if !errors.Is(err, ErrInterrupted) || sum.Done != 400 || sum.LastID != "003000000000000399" {
		t.Fatalf("run: %v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 400)
	if reads < 4 {
		t.Fatalf("the third page read the backlog %d times in all; it should have waited", reads)
	}

	// The serving instances catch up: the resume enqueues the rest, once.
	mu.Lock()
	backlog = 0
	mu.Unlock()
	cfg.Reporter = nil
	sum, err = mustNew(t, cfg).Run(context.Background())
	if err != nil || !sum.Complete || sum.Done != 600 {
		t.Fatalf("resume: %v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 600)
}

// A backlog that cannot be read stops the run with a clear error and the
// checkpoint where it was.
func TestUnreadableBacklogStopsTheRun(t *testing.T) {
	src, q, store := newSource(100, 100), &fakeQueue{}, &memkv.Store{}
	cfg := Config{Source: src, Records: q, Store: store, PageSize: 100,
		Backlog: func(context.Context) (int64, error) { return 0, errors.New("connection refused") }}
	_, err := mustNew(t, cfg).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read record sync's backlog") {
		t.Fatalf("err %v", err)
	}
	if n := len(q.ids(t)); n != 0 {
		t.Fatalf("%d records enqueued", n)
	}
}

// With no instance working record sync's queue the wait could never end:
// the run says so and enqueues everything for the instances to work later.
func TestNoServingInstanceDoesNotWaitForever(t *testing.T) {
	src, q, store := newSource(600, 600), &fakeQueue{}, &memkv.Store{}
	var logBuf bytes.Buffer
	servingReads := 0
	cfg := Config{Source: src, Records: q, Store: store, PageSize: 100, MaxBacklog: 100, BacklogPoll: time.Millisecond,
		Backlog: func(context.Context) (int64, error) { return int64(len(q.ids(t))), nil },
		Serving: func(context.Context) (int, error) { servingReads++; return 0, nil },
		Logger:  slog.New(slog.NewJSONHandler(&logBuf, nil))}
	sum, err := mustNew(t, cfg).Run(context.Background())
	if err != nil || !sum.Complete || sum.Done != 600 {
		t.Fatalf("run: %v %+v", err, sum)
	}
	mustOncePerRecord(t, q, 600)
	if servingReads != 1 || strings.Count(logBuf.String(), "no bridge instance is working") != 1 {
		t.Fatalf("serving read %d times; log:\n%s", servingReads, logBuf.String())
	}
}
