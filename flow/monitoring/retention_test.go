package monitoring_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/memkv"
)

var _ contacts.Deadlines = (*memkv.Schedule)(nil)

type fakeWatcher struct {
	mu   sync.Mutex
	last map[string]contacts.Change
}

func (w *fakeWatcher) ContactChanged(_ context.Context, c contacts.Change) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last[c.ID] = c
	return nil
}

type fakeForgetter struct {
	forgot map[string][]string
}

func (f *fakeForgetter) Forget(_ context.Context, id string, phones []string) error {
	f.forgot[id] = phones
	return nil
}

func TestRetentionFollowsMonitoringAndForgets(t *testing.T) {
	dl := &memkv.Schedule{}
	w := &fakeWatcher{last: map[string]contacts.Change{}}
	fg := &fakeForgetter{forgot: map[string][]string{}}
	e := MustEnvWith(t, func(c *contacts.Config) {
		c.Retention, c.Deadlines, c.Forgetters = 48*time.Hour, dl, []contacts.Forgetter{fg}
	}, func(c *monitoring.Config, _ *twilio.Config) { c.Watcher = w })
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))

	// In monitoring: kept until 48 h after the end of the last day (14 March).
	endOfLast := time.Date(2026, 3, 15, 0, 0, 0, 0, e.ny)
	if at := dl.At(id); !at.Equal(endOfLast.Add(48 * time.Hour)) {
		t.Fatalf("deadline %s, want %s", at, endOfLast.Add(48*time.Hour))
	}
	c := w.last[id]
	if !c.Active || c.Channel != "sms" || len(c.Days) != 14 || c.Days[0].Date != "2026-03-01" ||
		!c.Days[1].SendAt.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, e.ny)) {
		t.Fatalf("watcher saw %+v", c)
	}
	if ok, err := e.flow.Reminded(ctx, id, "2026-03-02"); err != nil || !ok {
		t.Fatalf("a scheduled day: reminded %v, %v", ok, err)
	}
	if ok, _ := e.flow.Reminded(ctx, id, "2026-04-01"); ok {
		t.Fatal("a day outside monitoring counts as reminded")
	}

	// STOP ends monitoring: kept 48 h from now.
	e.mustHandle(t, smsMsg(phone, "STOP", "STOP"))
	stopAt := e.clock.Now()
	if at := dl.At(id); !at.Equal(stopAt.Truncate(time.Second).Add(48 * time.Hour)) {
		t.Fatalf("deadline after STOP %s, want %s", at, stopAt.Add(48*time.Hour))
	}
	if w.last[id].Active {
		t.Fatal("watcher still sees the contact active after STOP")
	}
	if ok, _ := e.flow.Reminded(ctx, id, "2026-03-02"); ok {
		t.Fatal("an opted-out contact's day counts as reminded")
	}

	// START within the 48 h: monitoring resumes, the deadline moves back out.
	e.clock.Add(47 * time.Hour)
	e.mustHandle(t, smsMsg(phone, "START", "START"))
	if at := dl.At(id); !at.Equal(endOfLast.Add(48 * time.Hour)) {
		t.Fatalf("deadline after START %s", at)
	}
	e.clock.Add(2 * time.Hour)
	if n, err := e.reg.SweepRetention(ctx); err != nil || n != 0 {
		t.Fatalf("sweep of a contact back in monitoring: %d, %v", n, err)
	}

	// Past the end of monitoring plus 48 h: forgotten.
	e.clock.Add(endOfLast.Add(48*time.Hour - time.Minute).Sub(e.clock.Now()))
	if n, _ := e.reg.SweepRetention(ctx); n != 0 {
		t.Fatal("forgotten a minute early")
	}
	e.clock.Add(2 * time.Minute)
	if n, err := e.reg.SweepRetention(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if !slices.Equal(fg.forgot[id], []string{"+12125550123"}) {
		t.Fatalf("forgetters told %v", fg.forgot)
	}
	if _, found, _ := e.reg.ContactByPhone(ctx, phone); found {
		t.Fatal("the phone index still finds the contact")
	}
	if _, found, _ := e.reg.Greeting(ctx, id); found {
		t.Fatal("the contact's state survives retention")
	}
	if ok, _ := e.flow.Reminded(ctx, id, "2026-03-02"); ok {
		t.Fatal("a forgotten contact's day counts as reminded")
	}
	if e.sf.Record("Contact", id)["FirstName"] != "Ana" {
		t.Fatal("retention touched Salesforce")
	}
	if n, _ := e.reg.SweepRetention(ctx); n != 0 {
		t.Fatal("forgotten twice")
	}
}

// Forgetting a contact leaves none of the flow's keys naming it but the
// opt-out flag: not its days, their survey used marks, the rolling schedule
// or the unknown index.
func TestForgetLeavesOnlyTheOptOut(t *testing.T) {
	dl := &memkv.Schedule{}
	e := MustEnvWith(t, func(c *contacts.Config) { c.Retention, c.Deadlines = 48*time.Hour, dl })
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	if err := e.kv.Set(ctx, survey.UsedKey(id, "2026-03-02"), "1", time.Hour); err != nil {
		t.Fatal(err)
	}
	// In the unknown index and the rolling schedule, as an ambiguous
	// attempt and a far day leave it.
	_ = e.kv.ZAdd(ctx, "monitoring:{schedule}:unknown", id, float64(e.clock.Now().Unix()))
	_ = e.kv.ZAdd(ctx, "monitoring:{schedule}:due", id, float64(e.clock.Now().Add(time.Hour).Unix()))
	e.mustHandle(t, smsMsg(phone, "STOP", "STOP"))
	e.clock.Add(49 * time.Hour)
	if n, err := e.reg.SweepRetention(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, "monitoring:optout:"+id), strings.HasSuffix(k, "monitoring:keyword:"+id):
			// A STOP outlives retention (and the order it was applied in).
		case strings.Contains(k, id):
			t.Errorf("key %s survives retention", k)
		}
	}
	for _, set := range []string{"monitoring:{schedule}:unknown", "monitoring:{schedule}:due"} {
		if _, err := e.rdb.ZScore(ctx, e.kv.Key(set), id).Result(); err == nil {
			t.Errorf("%s still holds the contact", set)
		}
	}
}
