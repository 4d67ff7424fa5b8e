package contacts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/test/memkv"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/testclock"
)

// The registry's tests run against both stores the flows use, as
// test/kvcontract does: test/memkv with in-memory deadlines, and
// connector/redis.KV with redis.Schedule on a real redis-server.
func TestRegistry(t *testing.T) {
	backends := map[string]func(t *testing.T) (contacts.Store, contacts.Deadlines){
		"memkv": func(*testing.T) (contacts.Store, contacts.Deadlines) {
			return &memkv.Store{}, &memkv.Schedule{}
		},
		"redis": func(t *testing.T) (contacts.Store, contacts.Deadlines) {
			rdb := redistest.Start(t).Client(t)
			kv, err := redis.NewKV(rdb, "")
			if err != nil {
				t.Fatal(err)
			}
			dl, err := redis.NewSchedule(rdb, "monitoring:retention")
			if err != nil {
				t.Fatal(err)
			}
			return kv, dl
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, backend)
		})
	}
}

type env struct {
	reg   *contacts.Registry
	store contacts.Store
	dl    contacts.Deadlines
	clock *testclock.Clock
	ny    *time.Location
	fg    *fakeForgetter
}

const retention = 48 * time.Hour

func run(t *testing.T, backend func(t *testing.T) (contacts.Store, contacts.Deadlines)) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	newEnv := func(t *testing.T) *env {
		store, dl := backend(t)
		e := &env{store: store, dl: dl, clock: testclock.At(time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)), ny: ny,
			fg: &fakeForgetter{forgot: map[string][]string{}, sawState: map[string]bool{}}}
		e.reg, err = contacts.New(contacts.Config{Store: store, Location: ny, Now: e.clock.Now, Retention: retention,
			Deadlines: dl, Forgetters: []contacts.Forgetter{e.fg}})
		if err != nil {
			t.Fatal(err)
		}
		e.fg.reg = e.reg
		return e
	}
	ctx := context.Background()
	active := contacts.Contact{Object: "Contact", Phone: "+12125550123", FirstName: "Ana", Language: "es",
		Start: "2026-03-01", Days: 14, Active: true}

	t.Run("phone index: most recent first, WhatsApp is the same number", func(t *testing.T) {
		e := newEnv(t)
		if _, found, err := e.reg.ContactByPhone(ctx, "+12125550123"); found || err != nil {
			t.Fatalf("empty index: %v %v", found, err)
		}
		for _, id := range []string{"003A", "003B", "003A"} {
			if err := e.reg.RememberPhone(ctx, "+12125550123", id); err != nil {
				t.Fatal(err)
			}
		}
		ids, err := e.reg.ContactsByPhone(ctx, "whatsapp:+12125550123")
		if err != nil || !slices.Equal(ids, []string{"003A", "003B"}) {
			t.Fatalf("by WhatsApp address: %v %v", ids, err)
		}
		if err := e.reg.ForgetPhone(ctx, "whatsapp:+12125550123", "003A"); err != nil {
			t.Fatal(err)
		}
		if id, found, err := e.reg.ContactByPhone(ctx, " +12125550123 "); id != "003B" || !found || err != nil {
			t.Fatalf("after forgetting 003A: %q %v %v", id, found, err)
		}
		if err := e.reg.ForgetPhone(ctx, "+12125550123", "003B"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := e.store.Get(ctx, phoneKey("+12125550123")); found {
			t.Fatal("an empty phone entry was kept")
		}
		// No number, nothing to index (an email-only contact).
		if err := e.reg.RememberPhone(ctx, "  ", "003C"); err != nil {
			t.Fatal(err)
		}
		if ids, _ := e.reg.ContactsByPhone(ctx, ""); len(ids) != 0 {
			t.Fatalf("blank number indexed: %v", ids)
		}
	})

	t.Run("deployed data under the old key names is read", func(t *testing.T) {
		e := newEnv(t)
		// As flow/monitoring wrote them before the registry had a package.
		_ = e.store.Set(ctx, "monitoring:contact:003A", `{"object":"Contact","phone":"+12125550123","first_name":"Ana","language":"es","start":"2026-03-01","days":14,"active":true,"channel":"voice"}`, 0)
		_ = e.store.Set(ctx, phoneKey("+12125550123"), `["003A"]`, 0)
		_ = e.store.Set(ctx, "monitoring:optout:003A", "1", 0)
		c, found, err := e.reg.Load(ctx, "003A")
		if err != nil || !found || c.Phone != "+12125550123" || c.ChannelOrSMS() != "voice" || len(c.Dates()) != 14 {
			t.Fatalf("Load = %+v %v %v", c, found, err)
		}
		if id, found, _ := e.reg.ContactByPhone(ctx, "+12125550123"); !found || id != "003A" {
			t.Fatalf("phone index: %q %v", id, found)
		}
		if out, err := e.reg.OptedOut(ctx, "003A"); !out || err != nil {
			t.Fatalf("OptedOut = %v %v", out, err)
		}
		if g, found, _ := e.reg.Greeting(ctx, "003A"); !found || g != (contacts.Greeting{FirstName: "Ana", Language: "es"}) {
			t.Fatalf("Greeting = %+v %v", g, found)
		}
	})

	t.Run("an old-format phone index is read, moved into the set once, and forgotten", func(t *testing.T) {
		e := newEnv(t)
		phone := "+12125550123"
		set := "{" + e.store.Key(phoneKey(phone)) + "}:contacts"
		// As releases before the set wrote it: a JSON list, most recent first.
		_ = e.store.Set(ctx, phoneKey(phone), `["003A","003B"]`, 0)
		if ids, err := e.reg.ContactsByPhone(ctx, "whatsapp:"+phone); err != nil || !slices.Equal(ids, []string{"003A", "003B"}) {
			t.Fatalf("read through the old key: %v %v", ids, err)
		}
		if _, found, _ := e.store.Get(ctx, phoneKey(phone)); found {
			t.Fatal("the old key outlived its move")
		}
		// Written again by an instance not yet upgraded: moved again, below
		// what the set holds, each id once.
		_ = e.store.Set(ctx, phoneKey(phone), `["003B","003C"]`, 0)
		if err := e.reg.RememberPhone(ctx, phone, "003D"); err != nil {
			t.Fatal(err)
		}
		if ids, _ := e.reg.ContactsByPhone(ctx, phone); !slices.Equal(ids, []string{"003D", "003A", "003B", "003C"}) {
			t.Fatalf("after a second move and a remember: %v", ids)
		}
		for _, id := range []string{"003A", "003B", "003C", "003D"} {
			if err := e.reg.ForgetPhone(ctx, phone, id); err != nil {
				t.Fatal(err)
			}
		}
		if ids, err := e.store.ZRevMembers(ctx, set); len(ids) != 0 || err != nil {
			t.Fatalf("the set after forgetting all: %v %v", ids, err)
		}
		// A GET on a set is WRONGTYPE; absent, it finds nothing.
		if _, found, err := e.store.Get(ctx, set); found || err != nil {
			t.Fatalf("an empty set was kept: %v %v", found, err)
		}
	})

	t.Run("retention forgets a contact indexed only under the old key", func(t *testing.T) {
		e := newEnv(t)
		c := active
		c.Active = false
		if _, _, err := e.reg.Save(ctx, "003A", c); err != nil {
			t.Fatal(err)
		}
		_ = e.store.Set(ctx, phoneKey(c.Phone), `["003A"]`, 0)
		e.clock.Add(retention + time.Minute)
		if n, err := e.reg.SweepRetention(ctx); n != 1 || err != nil {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if _, found, _ := e.store.Get(ctx, phoneKey(c.Phone)); found {
			t.Fatal("the old key survived retention")
		}
		if ids, err := e.store.ZRevMembers(ctx, "{"+e.store.Key(phoneKey(c.Phone))+"}:contacts"); len(ids) != 0 || err != nil {
			t.Fatalf("the set survived retention: %v %v", ids, err)
		}
	})

	t.Run("a corrupt old phone index is a clear error and is left as it was", func(t *testing.T) {
		e := newEnv(t)
		_ = e.store.Set(ctx, phoneKey("+12125550123"), "{not json", 0)
		for name, op := range map[string]func() error{
			"read":     func() error { _, err := e.reg.ContactsByPhone(ctx, "+12125550123"); return err },
			"remember": func() error { return e.reg.RememberPhone(ctx, "+12125550123", "003A") },
			"forget":   func() error { return e.reg.ForgetPhone(ctx, "+12125550123", "003A") },
		} {
			if err := op(); err == nil || !strings.Contains(err.Error(), "phone index") || strings.Contains(err.Error(), "5550123") {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if v, _, _ := e.store.Get(ctx, phoneKey("+12125550123")); v != "{not json" {
			t.Fatalf("the old key became %q", v)
		}
	})

	t.Run("phone index: concurrent edits of one number lose nothing, wait for nothing", func(t *testing.T) {
		e := newEnv(t)
		phone := "+12125550123"
		// Half the household was indexed by a release before the set.
		_ = e.store.Set(ctx, phoneKey(phone), `["003X","003Y"]`, 0)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 20 {
			wg.Go(func() { errs <- e.reg.RememberPhone(ctx, phone, fmt.Sprintf("003%02d", i)) })
			wg.Go(func() { _, err := e.reg.ContactsByPhone(ctx, phone); errs <- err })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		ids, _ := e.reg.ContactsByPhone(ctx, phone)
		if len(ids) != 22 || !slices.Equal(ids[20:], []string{"003X", "003Y"}) {
			t.Fatalf("index after concurrent edits: %v", ids)
		}
		forgets := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() { forgets <- e.reg.ForgetPhone(ctx, phone, fmt.Sprintf("003%02d", i)) })
		}
		wg.Wait()
		close(forgets)
		for err := range forgets {
			if err != nil {
				t.Fatal(err)
			}
		}
		if ids, _ := e.reg.ContactsByPhone(ctx, phone); !slices.Equal(ids, []string{"003X", "003Y"}) {
			t.Fatalf("index after concurrent forgets: %v", ids)
		}
	})

	t.Run("a corrupt state is a clear error, not an empty contact", func(t *testing.T) {
		e := newEnv(t)
		_ = e.store.Set(ctx, "monitoring:contact:003A", "{not json", 0)
		if _, found, err := e.reg.Load(ctx, "003A"); err == nil || found || !strings.Contains(err.Error(), "load contact 003A") {
			t.Fatalf("Load = %v %v", found, err)
		}
		if _, _, err := e.reg.Greeting(ctx, "003A"); err == nil {
			t.Fatal("Greeting of a corrupt state gave no error")
		}
	})

	t.Run("retention deadline follows monitoring", func(t *testing.T) {
		e := newEnv(t)
		endOfLast := time.Date(2026, 3, 15, 0, 0, 0, 0, ny)
		saved, on, err := e.reg.Save(ctx, "003A", active)
		if err != nil || !on || saved.Ended != 0 {
			t.Fatalf("Save = %+v %v %v", saved, on, err)
		}
		if got := e.deadline(t, "003A"); !got.Equal(endOfLast.Add(retention)) {
			t.Fatalf("deadline in monitoring %s, want %s", got, endOfLast.Add(retention))
		}
		// Opted out: monitoring ended now, kept for the retention from now.
		if err := e.reg.SetOptOut(ctx, "003A", true); err != nil {
			t.Fatal(err)
		}
		stopped := e.clock.Now().Truncate(time.Second)
		saved, on, err = e.reg.Save(ctx, "003A", active)
		if err != nil || on || saved.Ended != stopped.Unix() {
			t.Fatalf("Save opted out = %+v %v %v", saved, on, err)
		}
		if got := e.deadline(t, "003A"); !got.Equal(stopped.Add(retention)) {
			t.Fatalf("deadline after opt-out %s", got)
		}
		// A later save keeps the first end: retention does not slide.
		e.clock.Add(time.Hour)
		if saved, _, _ = e.reg.Save(ctx, "003A", saved); saved.Ended != stopped.Unix() {
			t.Fatalf("end moved to %d", saved.Ended)
		}
		// Back in monitoring: the end is cleared and the deadline moves out.
		_ = e.reg.SetOptOut(ctx, "003A", false)
		if saved, on, _ = e.reg.Save(ctx, "003A", saved); !on || saved.Ended != 0 {
			t.Fatalf("resumed %+v %v", saved, on)
		}
		if got := e.deadline(t, "003A"); !got.Equal(endOfLast.Add(retention)) {
			t.Fatalf("deadline after resuming %s", got)
		}
		if c, _, _ := e.reg.Load(ctx, "003A"); c != saved {
			t.Fatalf("stored %+v, returned %+v", c, saved)
		}
	})

	t.Run("forget: on time, once, with the forgetters, opt-out kept", func(t *testing.T) {
		e := newEnv(t)
		c := active
		c.Active = false
		if _, _, err := e.reg.Save(ctx, "003A", c); err != nil {
			t.Fatal(err)
		}
		_ = e.reg.RememberPhone(ctx, c.Phone, "003A")
		_ = e.reg.RememberPhone(ctx, c.Phone, "003B") // a household: the other stays
		_ = e.reg.SetOptOut(ctx, "003A", true)
		e.clock.Add(retention - time.Minute)
		if n, err := e.reg.SweepRetention(ctx); n != 0 || err != nil {
			t.Fatalf("a minute early: %d %v", n, err)
		}
		e.clock.Add(2 * time.Minute)
		if n, err := e.reg.SweepRetention(ctx); n != 1 || err != nil {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if !slices.Equal(e.fg.forgot["003A"], []string{"+12125550123"}) {
			t.Fatalf("forgetters told %v", e.fg.forgot)
		}
		if !e.fg.sawState["003A"] {
			t.Fatal("a forgetter ran after the state was deleted")
		}
		if _, found, _ := e.reg.Load(ctx, "003A"); found {
			t.Fatal("the state survived retention")
		}
		if ids, _ := e.reg.ContactsByPhone(ctx, c.Phone); !slices.Equal(ids, []string{"003B"}) {
			t.Fatalf("phone index after forget: %v", ids)
		}
		if out, _ := e.reg.OptedOut(ctx, "003A"); !out {
			t.Fatal("the opt-out did not outlive retention")
		}
		e.clock.Add(2 * time.Minute)
		if n, _ := e.reg.SweepRetention(ctx); n != 0 {
			t.Fatal("forgotten twice")
		}
		if len(e.fg.forgot) != 1 {
			t.Fatalf("forgetters called again: %v", e.fg.forgot)
		}
	})

	t.Run("a contact back in monitoring is not forgotten; its deadline moves", func(t *testing.T) {
		e := newEnv(t)
		c := active
		c.Active = false
		_, _, _ = e.reg.Save(ctx, "003A", c)
		e.clock.Add(retention + time.Minute)
		// Back in monitoring without a Save reaching the deadlines (as if
		// the deadline write had been lost): the sweep finds it and moves it.
		_ = e.store.Set(ctx, "monitoring:contact:003A", `{"object":"Contact","start":"2026-03-01","days":14,"active":true}`, 0)
		if n, err := e.reg.SweepRetention(ctx); n != 0 || err != nil {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if _, found, _ := e.reg.Load(ctx, "003A"); !found {
			t.Fatal("a contact in monitoring was forgotten")
		}
		want := time.Date(2026, 3, 15, 0, 0, 0, 0, ny).Add(retention)
		if got := e.deadline(t, "003A"); !got.Equal(want) {
			t.Fatalf("deadline %s, want %s", got, want)
		}
		if len(e.fg.forgot) != 0 {
			t.Fatalf("forgetters called: %v", e.fg.forgot)
		}
	})

	t.Run("a failing forgetter or a busy contact loses nothing: forgotten on a later sweep", func(t *testing.T) {
		e := newEnv(t)
		c := active
		c.Active = false
		_, _, _ = e.reg.Save(ctx, "003A", c)
		_ = e.reg.RememberPhone(ctx, c.Phone, "003A")
		e.clock.Add(retention + time.Minute)
		e.fg.fail = errors.New("escalation store down")
		n, err := e.reg.SweepRetention(ctx)
		if n != 0 || err == nil || !strings.Contains(err.Error(), "forget contact 003A") || !strings.Contains(err.Error(), "escalation store down") {
			t.Fatalf("sweep with a failing forgetter: %d %v", n, err)
		}
		if _, found, _ := e.reg.Load(ctx, "003A"); !found {
			t.Fatal("the state went although a forgetter failed")
		}
		e.fg.fail = nil
		// Held for the lease: not taken again at once.
		if n, _ := e.reg.SweepRetention(ctx); n != 0 {
			t.Fatal("a claimed deadline was taken again within its lease")
		}
		// Busy: another worker holds the contact when the lease is over.
		e.clock.Add(2 * time.Minute)
		_, release, err := e.reg.Lock(ctx, "003A")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := e.reg.SweepRetention(ctx); n != 0 || !errors.Is(err, contacts.ErrBusy) {
			t.Fatalf("sweep of a busy contact: %d %v", n, err)
		}
		release()
		e.clock.Add(2 * time.Minute)
		if n, err := e.reg.SweepRetention(ctx); n != 1 || err != nil {
			t.Fatalf("later sweep: %d %v", n, err)
		}
		if _, found, _ := e.reg.ContactByPhone(ctx, c.Phone); found {
			t.Fatal("the phone index still finds the contact")
		}
	})

	t.Run("a backlog larger than one claim is swept at once", func(t *testing.T) {
		e := newEnv(t)
		c := active
		c.Active = false
		for i := range 250 {
			if _, _, err := e.reg.Save(ctx, fmt.Sprintf("003%04d", i), c); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Add(retention + time.Minute)
		if n, err := e.reg.SweepRetention(ctx); n != 250 || err != nil {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if len(e.fg.forgot) != 250 {
			t.Fatalf("forgetters told of %d contacts", len(e.fg.forgot))
		}
	})

	t.Run("the contact lock is exclusive and bounds the work under it", func(t *testing.T) {
		e := newEnv(t)
		lctx, release, err := e.reg.Lock(ctx, "003A")
		if err != nil {
			t.Fatal(err)
		}
		if dl, ok := lctx.Deadline(); !ok || time.Until(dl) > e.reg.LockTTL() {
			t.Fatalf("work not bounded by the lock: %v %v", dl, ok)
		}
		if _, _, err := e.reg.Lock(ctx, "003A"); !errors.Is(err, contacts.ErrBusy) {
			t.Fatalf("second Lock = %v", err)
		}
		release()
		if lctx.Err() == nil {
			t.Fatal("release left the work's context running")
		}
		_, again, err := e.reg.Lock(ctx, "003A")
		if err != nil {
			t.Fatalf("Lock after release = %v", err)
		}
		again()
	})
}

func TestNewNeedsAStore(t *testing.T) {
	if _, err := contacts.New(contacts.Config{}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Fatalf("New without a Store = %v", err)
	}
}

func TestDates(t *testing.T) {
	c := contacts.Contact{Start: "2026-03-07", Days: 3}
	if got := c.Dates(); !slices.Equal(got, []string{"2026-03-07", "2026-03-08", "2026-03-09"}) {
		t.Fatalf("Dates = %v", got)
	}
	if got := (contacts.Contact{Start: "soon", Days: 3}).Dates(); got != nil {
		t.Fatalf("Dates of a bad start = %v", got)
	}
	if ch := (contacts.Contact{}).ChannelOrSMS(); ch != "sms" {
		t.Fatalf("default channel %q", ch)
	}
}

// phoneKey is the deployed phone index's key: the number's SHA-256 (first
// 12 bytes, hex), without a whatsapp: prefix. Never the number itself.
func phoneKey(phone string) string {
	sum := sha256.Sum256([]byte(phone))
	return "monitoring:phone:" + hex.EncodeToString(sum[:12])
}

func (e *env) deadline(t *testing.T, id string) time.Time {
	t.Helper()
	switch dl := e.dl.(type) {
	case *memkv.Schedule:
		return dl.At(id)
	case *redis.Schedule:
		at, ok, err := dl.When(context.Background(), id)
		if err != nil || !ok {
			t.Fatalf("no deadline for %s: %v", id, err)
		}
		return at
	}
	t.Fatalf("deadlines %T", e.dl)
	return time.Time{}
}

// fakeForgetter records what it was told, checks the state is still there
// when it runs, and fails on demand.
type fakeForgetter struct {
	reg      *contacts.Registry
	forgot   map[string][]string
	sawState map[string]bool
	fail     error
}

var _ contacts.Forgetter = (*fakeForgetter)(nil)

func (f *fakeForgetter) Forget(ctx context.Context, id string, phones []string) error {
	if f.fail != nil {
		return f.fail
	}
	f.forgot[id] = phones
	_, found, err := f.reg.Load(ctx, id)
	f.sawState[id] = found
	return err
}

var _ contacts.Deadlines = (*memkv.Schedule)(nil)
