package monitoring

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/test/redistest"
)

// Two instances sharing Redis place calls at most CallsPerSecond together:
// each call gets its own slot of 1/CallsPerSecond.
func TestPaceAcrossInstances(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	flows := []*Flow{{cfg: Config{Store: kv, CallsPerSecond: 10}}, {cfg: Config{Store: kv, CallsPerSecond: 10}}}
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := flows[i%2].pace(context.Background()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
	if d := times[len(times)-1].Sub(start); d < 600*time.Millisecond {
		t.Fatalf("8 calls at 10/s took %v, want at least 0.6 s", d)
	}
	// Any 4 calls in a row span 3 slots (timers may wake a little late).
	for i := 3; i < len(times); i++ {
		if span := times[i].Sub(times[i-3]); span < 200*time.Millisecond {
			t.Fatalf("calls %d to %d within %v", i-3, i, span)
		}
	}
}

// A bridge upgraded from the JSON pending index moves its contacts into the
// rolling schedule, due at once, and deletes the old index.
func TestMigratePending(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	reg, err := contacts.New(contacts.Config{Store: kv})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Messages: nopMessages{}, CRM: nopCRM{}, Store: kv, Contacts: reg, Mappings: nopMappings{}, Links: nopLinks{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := kv.Set(ctx, legacyPendingKey, `{"003A":1772000000,"003B":1773000000}`, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.migratePending(ctx); err != nil {
		t.Fatal(err)
	}
	due, err := f.due(ctx, now, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due %v %v", due, err)
	}
	if _, found, _ := kv.Get(ctx, legacyPendingKey); found {
		t.Fatal("legacy index left behind")
	}
	if err := f.migratePending(ctx); err != nil {
		t.Fatal(err)
	}
}

type nopMessages struct{}

func (nopMessages) ScheduleMessage(context.Context, string, string, time.Time) (string, error) {
	return "", nil
}
func (nopMessages) CancelMessage(context.Context, string) error { return nil }
func (nopMessages) ListMessagesTo(context.Context, string) ([]twilio.Message, error) {
	return nil, nil
}

type nopCRM struct{}

func (nopCRM) Update(context.Context, string, string, salesforce.Record) error { return nil }

type nopMappings struct{}

func (nopMappings) Current() *mapping.Mapping { return nil }

type nopLinks struct{}

func (nopLinks) DayLink(string, string, string, *time.Location) (string, error) { return "", nil }
func (nopLinks) Language(tag string) string                                     { return tag }

// A bridge upgraded from the JSON unknown index moves its contacts into the
// sorted set at their attempt times, deletes the old blob, and finds them
// due once their grace is over.
func TestMigrateUnknown(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := contacts.New(contacts.Config{Store: kv})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	f, err := New(Config{Messages: nopMessages{}, CRM: nopCRM{}, Store: kv, Contacts: reg, Mappings: nopMappings{}, Links: nopLinks{},
		Now: func() time.Time { return now }, Grace: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old, recent := now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
	blob := fmt.Sprintf(`{"003A":%d,"003B":%d}`, old, recent)
	if err := kv.Set(ctx, legacyUnknownKey, blob, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.migrateUnknown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := kv.Get(ctx, legacyUnknownKey); found {
		t.Fatal("legacy unknown index left behind")
	}
	// Scores are the attempt times: only 003A is past its grace.
	if due, err := f.unknownDue(ctx, now, 10); err != nil || !slices.Equal(due, []string{"003A"}) {
		t.Fatalf("unknown due %v %v", due, err)
	}
	for id, want := range map[string]int64{"003A": old, "003B": recent} {
		if got, err := rdb.ZScore(ctx, kv.Key(unknownKey), id).Result(); err != nil || int64(got) != want {
			t.Fatalf("score of %s = %v %v, want %d", id, got, err, want)
		}
	}
	// A second run (another instance, a restart) finds nothing to move.
	if err := f.migrateUnknown(ctx); err != nil {
		t.Fatal(err)
	}
	// A malformed blob is an error and stays for a person to look at.
	if err := kv.Set(ctx, legacyUnknownKey, "not json", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.migrateUnknown(ctx); err == nil {
		t.Fatal("a malformed legacy index migrated without error")
	}
	if _, found, _ := kv.Get(ctx, legacyUnknownKey); !found {
		t.Fatal("a malformed legacy index was deleted")
	}
	// Taken out by editUnknown(0), as reconcile does once a day is settled.
	if err := f.editUnknown(ctx, "003A", 0); err != nil {
		t.Fatal(err)
	}
	if due, _ := f.unknownDue(ctx, now.Add(time.Hour), 10); !slices.Equal(due, []string{"003B"}) {
		t.Fatalf("unknown due after removal %v", due)
	}
}
