package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/recordsync"
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

// fakeSync records what it was given; fn, when set, decides the outcome.
type fakeSync struct {
	mu   sync.Mutex
	seen []event.Record
	fn   func(rec event.Record, call int) (recordsync.Outcome, error)
}

var _ Syncer = (*fakeSync)(nil)

func (f *fakeSync) Sync(_ context.Context, rec event.Record) (recordsync.Outcome, error) {
	f.mu.Lock()
	f.seen = append(f.seen, rec)
	n := len(f.seen)
	f.mu.Unlock()
	if f.fn != nil {
		return f.fn(rec, n)
	}
	if rec.Fields["Outreach_Status__c"] == "Needs Outreach" {
		return recordsync.Created, nil
	}
	return recordsync.Unchanged, nil
}

func (f *fakeSync) ids() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, r := range f.seen {
		out[r.RecordID]++
	}
	return out
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

func TestRunSyncsEveryRecordOnceAndCheckpointsEachPage(t *testing.T) {
	src, syn, store := newSource(1000, 300), &fakeSync{}, &memkv.Store{}
	rep := &funcReporter{}
	var logBuf bytes.Buffer
	b := mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 250, Reporter: rep,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	sum, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Complete || sum.Done != 1000 || sum.Total != 1000 || sum.Counts.Created != 750 || sum.Counts.Unchanged != 250 || sum.Counts.Sum() != 1000 {
		t.Fatalf("summary %+v", sum)
	}
	for id, n := range syn.ids() {
		if n != 1 {
			t.Fatalf("%s synced %d times", id, n)
		}
	}
	if len(syn.ids()) != 1000 {
		t.Fatalf("synced %d records", len(syn.ids()))
	}
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

	rec := syn.seen[0]
	if rec.NotificationID != "backfill" || rec.Source != "backfill" || rec.Object != "Contact" || rec.RecordID == "" {
		t.Fatalf("event %+v", rec)
	}
	if _, ok := rec.Fields["Index_Case_Name__c"]; ok {
		t.Fatal("a protected field reached record sync")
	}
	if rec.Fields["LastModifiedDate"] != "2026-03-01T10:00:00Z" {
		t.Fatalf("LastModifiedDate %v, want RFC 3339 as Outbound Messages carry it", rec.Fields["LastModifiedDate"])
	}
	raw, _, _ := store.Get(context.Background(), checkpointKey("Contact", where))
	if !strings.Contains(raw, `"complete":true`) || !strings.Contains(raw, `"last_id":"003000000000000999"`) {
		t.Fatalf("checkpoint %s", raw)
	}
}

func TestInterruptedRunResumesAfterTheCheckpoint(t *testing.T) {
	src, syn, store := newSource(1000, 200), &fakeSync{}, &memkv.Store{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := &funcReporter{page: func(p Progress) {
		if p.Pages == 2 {
			cancel()
		}
	}}
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 200, Reporter: rep}).Run(ctx)
	if !errors.Is(err, ErrInterrupted) || sum.Complete || sum.Done != 400 || sum.LastID != "003000000000000399" {
		t.Fatalf("first run: %v %+v", err, sum)
	}

	rep2 := &funcReporter{}
	sum, err = mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 200, Reporter: rep2}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Done != 1000 || sum.RunDone != 600 || !sum.Resumed {
		t.Fatalf("resumed run: %v %+v", err, sum)
	}
	if sum.Counts.Created != 750 || sum.Counts.Unchanged != 250 {
		t.Fatalf("counts do not add up over the two runs: %+v", sum.Counts)
	}
	if !strings.Contains(src.queries[1], "AND Id > '003000000000000399' ORDER BY Id") {
		t.Fatalf("resume query %q", src.queries[1])
	}
	ids := syn.ids()
	if len(ids) != 1000 {
		t.Fatalf("synced %d distinct records", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("%s synced %d times", id, n)
		}
	}
}

func TestCancelMidPageCheckpointsTheRecordsStarted(t *testing.T) {
	src, store := newSource(500, 500), &memkv.Store{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	syn := &fakeSync{fn: func(rec event.Record, call int) (recordsync.Outcome, error) {
		if call == 130 {
			cancel()
		}
		return recordsync.Created, nil
	}}
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 500, Parallelism: 4}).Run(ctx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v", err)
	}
	first := len(syn.ids())
	if sum.Done != first || first < 130 || first >= 500 || sum.Counts.Created != first {
		t.Fatalf("done %d, synced %d: %+v", sum.Done, first, sum)
	}
	syn.fn = nil
	sum, err = mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 500}).Run(context.Background())
	if err != nil || sum.Done != 500 || sum.Counts.Sum() != 500 {
		t.Fatalf("resume: %v %+v", err, sum)
	}
	for id, n := range syn.ids() {
		if n != 1 {
			t.Fatalf("%s synced %d times", id, n)
		}
	}
}

func TestCompleteRunIsNotRepeatedWithoutRestart(t *testing.T) {
	src, syn, store := newSource(50, 20), &fakeSync{}, &memkv.Store{}
	if _, err := mustNew(t, Config{Source: src, Sync: syn, Store: store}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store}).Run(context.Background())
	if !errors.Is(err, ErrAlreadyComplete) || sum.Done != 50 || sum.Counts.Created != 38 || len(syn.seen) != 50 || len(src.queries) != 1 {
		t.Fatalf("second run: %v %+v, %d syncs, %d queries", err, sum, len(syn.seen), len(src.queries))
	}
	// Another condition is another backfill.
	if _, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, Where: "FirstName != null"}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	syn.fn = func(event.Record, int) (recordsync.Outcome, error) { return recordsync.Unchanged, nil }
	sum, err = mustNew(t, Config{Source: src, Sync: syn, Store: store, Restart: true}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Done != 50 || sum.Counts.Unchanged != 50 || sum.Resumed {
		t.Fatalf("restart: %v %+v", err, sum)
	}
}

func TestMalformedConditionSyncsNothing(t *testing.T) {
	src, syn, store := newSource(10, 10), &fakeSync{}, &memkv.Store{}
	_, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, Where: "((Name = 'x'"}).Run(context.Background())
	var ce *ConditionError
	var apiErr *salesforce.APIError
	if !errors.As(err, &ce) || !errors.As(err, &apiErr) || apiErr.Code != "MALFORMED_QUERY" {
		t.Fatalf("want a ConditionError carrying Salesforce's error, got %v", err)
	}
	if len(syn.seen) != 0 || store.Sets() != 0 {
		t.Fatalf("%d syncs, %d checkpoint writes", len(syn.seen), store.Sets())
	}
}

func TestFailedRecordsAreCountedAndLoggedByIDOnly(t *testing.T) {
	src, store := newSource(100, 100), &memkv.Store{}
	syn := &fakeSync{fn: func(rec event.Record, _ int) (recordsync.Outcome, error) {
		if strings.HasSuffix(rec.RecordID, "7") {
			return "", fmt.Errorf("create task for %s: twilio: 503", rec.RecordID)
		}
		return recordsync.Created, nil
	}}
	var logBuf bytes.Buffer
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}).Run(context.Background())
	if err != nil || !sum.Complete || sum.Counts.Failed != 10 || sum.Counts.Created != 90 {
		t.Fatalf("%v %+v", err, sum)
	}
	log := logBuf.String()
	if !strings.Contains(log, "record_id=003000000000000017") || strings.Count(log, "backfill record failed") != 10 {
		t.Fatalf("failures not logged by id:\n%s", log)
	}
	if strings.Contains(log, "Person") || strings.Contains(log, "555-0123") || strings.Contains(log, "Secret") {
		t.Fatalf("a record value reached the log:\n%s", log)
	}
}

func TestBusyRecordIsRetried(t *testing.T) {
	src, store := newSource(3, 10), &memkv.Store{}
	var mu sync.Mutex
	tries := map[string]int{}
	syn := &fakeSync{fn: func(rec event.Record, _ int) (recordsync.Outcome, error) {
		mu.Lock()
		defer mu.Unlock()
		tries[rec.RecordID]++
		if tries[rec.RecordID] < 3 {
			return "", recordsync.ErrBusy
		}
		return recordsync.Updated, nil
	}}
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, BusyRetry: time.Millisecond}).Run(context.Background())
	if err != nil || sum.Counts.Updated != 3 || sum.Counts.Failed != 0 {
		t.Fatalf("%v %+v", err, sum)
	}
}

func TestExpiredQueryLocatorIsReplacedByAKeysetQuery(t *testing.T) {
	src, syn, store := newSource(100, 30), &fakeSync{}, &memkv.Store{}
	rep := &funcReporter{page: func(p Progress) {
		if p.Pages == 1 {
			src.mu.Lock()
			src.expire = true
			src.mu.Unlock()
		}
	}}
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 30, Reporter: rep}).Run(context.Background())
	if err != nil || sum.Done != 100 || len(syn.ids()) != 100 || len(syn.seen) != 100 {
		t.Fatalf("%v %+v, %d syncs", err, sum, len(syn.seen))
	}
	if len(src.queries) != 2 || !strings.Contains(src.queries[1], "Id > '003000000000000029'") {
		t.Fatalf("queries %q", src.queries)
	}
}

func TestDryRunSendsAndStoresNothing(t *testing.T) {
	src, store := newSource(40, 40), &memkv.Store{}
	delete(src.recs[5], "MobilePhone")
	sum, err := mustNew(t, Config{Source: src, Store: store, DryRun: true}).Run(context.Background())
	if err != nil || !sum.DryRun || sum.Counts.Created != 29 || sum.Counts.Canceled != 10 || sum.Counts.Failed != 1 {
		t.Fatalf("%v %+v", err, sum)
	}
	if store.Sets() != 0 {
		t.Fatalf("dry run wrote %d checkpoints", store.Sets())
	}
}

func TestStatusLine(t *testing.T) {
	p := Progress{Total: 10000, Done: 2000, Counts: Counts{Created: 1850, Unchanged: 150}, RunDone: 2000, RunElapsed: 4854 * time.Millisecond}
	if got, want := Status(p), "2000/10000 records, 1850 created, 150 unchanged, 0 failed, 412 rec/s"; got != want {
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
}

func TestOutageStopsWithoutCheckpointingThePage(t *testing.T) {
	src, store := newSource(100, 100), &memkv.Store{}
	down := true
	syn := &fakeSync{fn: func(rec event.Record, _ int) (recordsync.Outcome, error) {
		if down && rec.RecordID > "003000000000000049" {
			return "", errors.New("kv setnx: connection refused")
		}
		return recordsync.Created, nil
	}}
	sum, err := mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 50}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || sum.Done != 50 || sum.LastID != "003000000000000049" {
		t.Fatalf("%v %+v", err, sum)
	}
	down = false
	sum, err = mustNew(t, Config{Source: src, Sync: syn, Store: store, PageSize: 50}).Run(context.Background())
	if err != nil || sum.Done != 100 || sum.Counts.Created != 100 || sum.Counts.Failed != 0 {
		t.Fatalf("after the outage: %v %+v", err, sum)
	}

	// Records the mapping refuses are no outage, however many.
	syn.fn = func(rec event.Record, _ int) (recordsync.Outcome, error) {
		return "", queue.Permanent(errors.New("map record: required value is missing"))
	}
	sum, err = mustNew(t, Config{Source: src, Sync: syn, Store: store, Restart: true}).Run(context.Background())
	if err != nil || sum.Counts.Failed != 100 || !sum.Complete {
		t.Fatalf("permanent failures: %v %+v", err, sum)
	}
}
