package redis_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/test/world"
)

func TestMappingStoreSaveHistoryGet(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	s := world.MustMappingStore(t, rdb)
	ctx := context.Background()
	doc1 := world.StoreMapping(t)
	doc2 := world.EditDoc(t, doc1, "to: {field: MobilePhone, transform: e164, required: true}", "to: {field: Phone, transform: e164, required: true}")

	if s.CurrentVersion() != 0 || s.Current().RecordToTask() != nil {
		t.Fatal("a new store without seed must start empty at version 0")
	}
	if _, err := s.Latest(ctx); !errors.Is(err, redis.ErrNoMappingVersion) {
		t.Fatalf("Latest on empty Redis = %v, want redis.ErrNoMappingVersion", err)
	}
	v1, err := s.Save(ctx, doc1, "alice", "", 0)
	if err != nil || v1 != 1 {
		t.Fatalf("Save = %d, %v", v1, err)
	}
	v2, err := s.Save(ctx, doc2, "bob", "", 0)
	if err != nil || v2 != 2 {
		t.Fatalf("Save = %d, %v", v2, err)
	}
	if s.CurrentVersion() != 2 || s.Current().RecordToTask().Fields()[0] != "Case_Number__c" {
		t.Fatalf("current version = %d", s.CurrentVersion())
	}
	hist, err := s.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Version != 2 || hist[0].Who != "bob" || hist[1].Who != "alice" {
		t.Fatalf("history = %+v", hist)
	}
	if hist[0].Doc != nil || hist[0].At.IsZero() {
		t.Fatalf("history entries carry no document but a time: %+v", hist[0])
	}
	if hist[0].Summary != "changed record_to_task.attributes.to" {
		t.Fatalf("summary = %q", hist[0].Summary)
	}
	if !strings.HasPrefix(hist[1].Summary, "added click_to_call, contact_updates, outcome_to_crm, protected") {
		t.Fatalf("first summary = %q", hist[1].Summary)
	}
	got, err := s.Get(ctx, 1)
	if err != nil || !bytes.Equal(got.Doc, doc1) {
		t.Fatalf("Get(1) = %q, %v", got.Doc, err)
	}
	if _, err := s.Get(ctx, 9); !errors.Is(err, redis.ErrNoMappingVersion) {
		t.Fatalf("Get(9) = %v", err)
	}
	latest, err := s.Latest(ctx)
	if err != nil || latest.Version != 2 || !bytes.Equal(latest.Doc, doc2) {
		t.Fatalf("Latest = %d, %v", latest.Version, err)
	}
}

func TestMappingStoreRejectsInvalidAndStoresNothing(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	s := world.MustMappingStore(t, rdb)
	ctx := context.Background()
	bad := world.EditDoc(t, world.StoreMapping(t), "transform: e164, required: true}", "transform: nope, required: true}")
	_, err := s.Save(ctx, bad, "alice", "", 0)
	var errs mapping.Errors
	if !errors.As(err, &errs) || errs[0].Path != "record_to_task.attributes.to.transform" {
		t.Fatalf("Save(bad) = %v", err)
	}
	if n, _ := rdb.DBSize(ctx).Result(); n != 0 {
		t.Fatalf("Redis holds %d keys after a refused save", n)
	}
}

func TestMappingStoreIfMatch(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	s := world.MustMappingStore(t, rdb)
	ctx := context.Background()
	doc := world.StoreMapping(t)
	if _, err := s.Save(ctx, doc, "a", "", 1); !errors.Is(err, redis.ErrMappingConflict) {
		t.Fatalf("If-Match 1 with nothing stored = %v, want redis.ErrMappingConflict", err)
	}
	if v, err := s.Save(ctx, doc, "a", "", -1); err != nil || v != 1 {
		t.Fatalf("only-if-none on empty = %d, %v", v, err)
	}
	if _, err := s.Save(ctx, doc, "a", "", -1); !errors.Is(err, redis.ErrMappingConflict) {
		t.Fatalf("only-if-none with a version = %v, want redis.ErrMappingConflict", err)
	}
	if v, err := s.Save(ctx, doc, "a", "", 1); err != nil || v != 2 {
		t.Fatalf("If-Match current = %d, %v", v, err)
	}
	if _, err := s.Save(ctx, doc, "a", "", 1); !errors.Is(err, redis.ErrMappingConflict) {
		t.Fatalf("stale If-Match = %v, want redis.ErrMappingConflict", err)
	}
	if h, _ := s.History(ctx, 0); len(h) != 2 {
		t.Fatalf("history has %d versions, want 2", len(h))
	}
}

func TestMappingStoreConcurrentIfMatchOneWins(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	ctx := context.Background()
	base := world.MustMappingStore(t, rdb)
	if _, err := base.Save(ctx, world.StoreMapping(t), "seed", "", 0); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	results := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		// Separate instances, as separate bridge processes would be.
		s := world.MustMappingStore(t, rdb)
		doc := world.EditDoc(t, world.StoreMapping(t), "subject: Follow-up call", "subject: Follow-up call "+strings.Repeat("x", i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, results[i] = s.Save(ctx, doc, "w", "", 1)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, redis.ErrMappingConflict):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d saves won, want exactly 1", wins)
	}
	if h, _ := base.History(ctx, 0); len(h) != 2 {
		t.Fatalf("history has %d versions, want 2", len(h))
	}
}

func TestMappingStoreConcurrentUnconditionalAllLand(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		s := world.MustMappingStore(t, rdb)
		doc := world.EditDoc(t, world.StoreMapping(t), "days: 14", "days: "+string(rune('1'+i)))
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = s.Save(ctx, doc, "w", "", 0) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("last writer wins, so no save may fail: %v", err)
		}
	}
	h, _ := world.MustMappingStore(t, rdb).History(ctx, 0)
	if len(h) != n {
		t.Fatalf("history has %d versions, want %d", len(h), n)
	}
	// Each summary describes the change against the version just before it.
	for _, v := range h[:n-1] {
		if v.Summary != "changed reminders.days" {
			t.Fatalf("version %d summary = %q", v.Version, v.Summary)
		}
	}
}

func TestMappingStoreWatchSecondInstanceWithin2s(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := world.MustMappingStore(t, rdb)
	b := world.MustMappingStore(t, rdb) // default poll interval, as in production
	go b.Watch(ctx)

	doc := world.StoreMapping(t)
	v, err := a.Save(ctx, doc, "alice", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	world.Eventually(t, 2*time.Second, "second instance sees version 1", func() bool {
		return b.CurrentVersion() == v && b.Current().RecordToTask() != nil
	})
	if !bytes.Equal(b.Current().Source(), doc) {
		t.Fatal("second instance holds a different document")
	}
}

func TestMappingStoreSeedOnlyOnce(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(seed, world.StoreMapping(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stores := make([]*redis.MappingStore, 6)
	for i := range stores {
		stores[i] = world.MustMappingStore(t, rdb, func(c *redis.MappingStoreConfig) { c.SeedFile = seed })
		if stores[i].Current().RecordToTask() == nil {
			t.Fatal("the seed is in force before Load")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stores[i].Load(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	h, _ := stores[0].History(ctx, 0)
	if len(h) != 1 || h[0].Who != "BRIDGE_MAPPING_FILE" {
		t.Fatalf("history after concurrent seeding = %+v", h)
	}
	for _, s := range stores {
		if s.CurrentVersion() != 1 {
			t.Fatalf("store at version %d, want 1", s.CurrentVersion())
		}
	}
	// A restart after an admin's save keeps the admin's version.
	changed := world.EditDoc(t, world.StoreMapping(t), "days: 14", "days: 10")
	if _, err := stores[0].Save(ctx, changed, "alice", "", 0); err != nil {
		t.Fatal(err)
	}
	again := world.MustMappingStore(t, rdb, func(c *redis.MappingStoreConfig) { c.SeedFile = seed })
	if err := again.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if again.CurrentVersion() != 2 || again.Current().Reminders().Days() != 10 {
		t.Fatalf("restart reseeded: version %d", again.CurrentVersion())
	}
}

func TestMappingStoreBadSeedFile(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	seed := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(seed, []byte("record_to_task: {colour: red}\n"), 0o600)
	_, err := redis.NewMappingStore(redis.MappingStoreConfig{Redis: rdb, SeedFile: seed})
	if err == nil || !strings.Contains(err.Error(), "BRIDGE_MAPPING_FILE") {
		t.Fatalf("NewStore(bad seed) = %v", err)
	}
	if _, err := redis.NewMappingStore(redis.MappingStoreConfig{Redis: rdb, SeedFile: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil {
		t.Fatal("a missing seed file must fail")
	}
	if _, err := redis.NewMappingStore(redis.MappingStoreConfig{}); err == nil {
		t.Fatal("no Redis must fail")
	}
}

func TestMappingStoreRollback(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	s := world.MustMappingStore(t, rdb)
	ctx := context.Background()
	doc1 := world.StoreMapping(t)
	doc2 := world.EditDoc(t, doc1, "days: 14", "days: 7")
	_, _ = s.Save(ctx, doc1, "alice", "", 0)
	_, _ = s.Save(ctx, doc2, "alice", "", 0)
	v, err := s.Rollback(ctx, 1, "bob")
	if err != nil || v != 3 {
		t.Fatalf("Rollback = %d, %v", v, err)
	}
	got, _ := s.Get(ctx, 3)
	if !bytes.Equal(got.Doc, doc1) || got.Who != "bob" || got.Summary != "rollback to version 1: changed reminders.days" {
		t.Fatalf("version 3 = %q by %s: %q", got.Doc, got.Who, got.Summary)
	}
	if s.Current().Reminders().Days() != 14 {
		t.Fatal("rollback is not in force")
	}
	if _, err := s.Rollback(ctx, 42, "bob"); !errors.Is(err, redis.ErrNoMappingVersion) {
		t.Fatalf("Rollback(42) = %v", err)
	}
}

// Deployed bridges hold their versions under these keys: a rename would
// lose every stored mapping.
func TestMappingStoreKeysUnchanged(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	ctx := context.Background()
	if _, err := world.MustMappingStore(t, rdb).Save(ctx, world.StoreMapping(t), "alice", "", 0); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	want := []string{"bridge:{mapping}:current", "bridge:{mapping}:history", "bridge:{mapping}:next", "bridge:{mapping}:v:1"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	h, _ := rdb.HGetAll(ctx, "bridge:{mapping}:v:1").Result()
	if h["who"] != "alice" || h["doc"] != string(world.StoreMapping(t)) || h["at"] == "" || h["summary"] == "" {
		t.Fatalf("version hash = %v", h)
	}
}

// The store's refusals carry kinds, so every route answers them the same way.
func TestMappingStoreErrorsHaveKinds(t *testing.T) {
	if fault.KindOf(redis.ErrMappingConflict) != fault.Conflict || fault.KindOf(redis.ErrNoMappingVersion) != fault.NotFound {
		t.Fatal("conflict and missing version must be Conflict and NotFound")
	}
}

func TestMappingStoreValidateKeepsProtection(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	s := world.MustMappingStore(t, rdb, func(c *redis.MappingStoreConfig) { c.Protected = []string{"Index_Case_Name__c"} })
	if errs := s.Validate(world.StoreMapping(t)); len(errs) != 0 {
		t.Fatalf("example = %v", errs)
	}
	doc := world.EditDoc(t, world.StoreMapping(t), "name: {field: FirstName}", "name: {field: Index_Case_Name__c}")
	errs := s.Validate(doc)
	if len(errs) == 0 || !strings.Contains(errs.Error(), "Index_Case_Name__c") {
		t.Fatalf("a protected field read must be refused: %v", errs)
	}
	if _, err := s.Save(context.Background(), doc, "alice", "", 0); err == nil {
		t.Fatal("Save must refuse what Validate refuses")
	}
	if n, _ := rdb.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("a refused save wrote %d keys", n)
	}
}
