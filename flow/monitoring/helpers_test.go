package monitoring_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/testclock"
	"github.com/cityhealth/bridge/test/twiliosim"
	goredis "github.com/redis/go-redis/v9"
)

type env struct {
	flow  *monitoring.Flow
	reg   *contacts.Registry
	tw    *twiliosim.Server
	sf    *sfsim.Server
	kv    *redis.KV
	rdb   *goredis.Client
	links *survey.Links
	clock *testclock.Clock
	ny    *time.Location
	m     *mapping.Mapping
}

const secret = "test-survey-secret-0123456789abcdef"

// start of the tests' world: Saturday 28 Feb 2026, 07:00 in New York.
var epoch = time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)

func MustEnv(tb testing.TB, mods ...func(*monitoring.Config, *twilio.Config)) *env {
	tb.Helper()
	return MustEnvWith(tb, nil, mods...)
}

// flowRef lets the registry forget a contact's days with the flow, which
// is built after it (as server wires it).
type flowRef struct{ *monitoring.Flow }

// MustEnvWith is MustEnv with the contact registry's config changed by cmod.
func MustEnvWith(tb testing.TB, cmod func(*contacts.Config), mods ...func(*monitoring.Config, *twilio.Config)) *env {
	tb.Helper()
	clk := testclock.At(epoch)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redistest.Start(tb).Client(tb)
	kv, err := redis.NewKV(rdb, "")
	if err != nil {
		tb.Fatal(err)
	}
	tw := twiliosim.New(twiliosim.Options{Now: clk.Now})
	tb.Cleanup(tw.Close)
	sf := sfsim.New(sfsim.Options{PrivateKey: testKey()})
	tb.Cleanup(sf.Close)
	key, err := salesforce.ParsePrivateKey(sf.PrivateKeyPEM())
	if err != nil {
		tb.Fatal(err)
	}
	crm, err := salesforce.NewClient(salesforce.Config{LoginURL: sf.URL, ClientID: sf.ClientID, Username: sf.Username, PrivateKey: key,
		HTTPClient: salesforce.NewHTTPClient(salesforce.RetryPolicy{MaxAttempts: 1}, nil)})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		tb.Fatal(err)
	}
	links, err := survey.NewLinks(survey.LinksConfig{Secret: []byte(secret), PublicURL: "https://bridge.example.org", Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tcfg := twilio.Config{AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, WorkspaceSID: tw.WorkspaceSID,
		WorkflowSID: tw.WorkflowSID, MessagingServiceSID: tw.MessagingServiceSID, APIURL: tw.URL}
	ref := &flowRef{}
	ccfg := contacts.Config{Store: kv, Location: ny, Now: clk.Now}
	if cmod != nil {
		cmod(&ccfg)
	}
	ccfg.Forgetters = append([]contacts.Forgetter{ref}, ccfg.Forgetters...)
	reg, err := contacts.New(ccfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := monitoring.Config{CRM: crm, Store: kv, Contacts: reg, Mappings: mapping.NewHolder(m, 1), Links: links,
		Location: ny, Enabled: true, Now: clk.Now, Interval: 10 * time.Millisecond, Horizon: monitoring.MaxLead,
		UsedKey: survey.UsedKey}
	for _, mod := range mods {
		mod(&cfg, &tcfg)
	}
	tc, err := twilio.NewClient(tcfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Messages = tc
	f, err := monitoring.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ref.Flow = f
	return &env{flow: f, reg: reg, rdb: rdb, tw: tw, sf: sf, kv: kv, links: links, clock: clk, ny: ny, m: m}
}

// contact adds a Contact in monitoring to sfsim and returns its id and fields
// as an outbound message would carry them.
func (e *env) contact(tb testing.TB, fields map[string]any) (string, map[string]any) {
	tb.Helper()
	rec := map[string]any{
		"FirstName": "Ana", "LastName": "García", "MobilePhone": "(212) 555-0123",
		"Preferred_Language__c": "Spanish", "Monitoring_Status__c": "Active",
		"Monitoring_Start__c": "2026-03-01", "SMS_Opt_Out__c": false, "Index_Case_Name__c": "Never Shown",
	}
	for k, v := range fields {
		rec[k] = v
	}
	id := e.sf.AddRecord("Contact", rec)
	rec["Id"] = id
	delete(rec, "Index_Case_Name__c") // the intake strips protected fields
	return id, rec
}

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var seq int

func recordMsg(id string, fields map[string]any) queue.Message {
	seq++
	rec := event.Record{NotificationID: "04l" + strings.Repeat("0", 10) + string(rune('A'+seq%26)), Object: "Contact",
		RecordID: id, Fields: fields, ReceivedAt: time.Now(), Source: "outbound"}
	raw, _ := json.Marshal(rec) // the bare shape the outbound intake queues
	return queue.Message{ID: "1-0", Key: rec.NotificationID, Payload: raw}
}

func smsMsg(from, body, kind string) queue.Message {
	seq++
	raw, _ := json.Marshal(event.Monitoring{SMS: &event.SMS{MessageSID: "SM" + strings.Repeat("a", 31) + string(rune('a'+seq%26)),
		From: from, To: "+12125550000", Body: body, OptOutType: kind, ReceivedAt: epoch.Add(time.Duration(seq) * time.Second)}})
	return queue.Message{ID: "2-0", Payload: raw}
}

func (e *env) handle(tb testing.TB, msgs ...queue.Message) []error {
	tb.Helper()
	return e.flow.Handle(context.Background(), msgs)
}

func (e *env) mustHandle(tb testing.TB, msgs ...queue.Message) {
	tb.Helper()
	for i, err := range e.handle(tb, msgs...) {
		if err != nil {
			tb.Fatalf("message %d: %v", i, err)
		}
	}
}

func with(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// tokenOf cuts the survey token out of a reminder body.
func tokenOf(tb testing.TB, body string) string {
	tb.Helper()
	i := strings.Index(body, "/survey/")
	if i < 0 {
		tb.Fatalf("no survey link in reminder")
	}
	return strings.Fields(body[i+len("/survey/"):])[0]
}
