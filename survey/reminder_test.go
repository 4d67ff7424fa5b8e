package survey_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	registry "github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// TestReminderLinkOpensThePage follows a real reminder: monitoring
// schedules it through twiliosim, the page opens from its link and greets
// by the name monitoring remembered, and nothing on the page side ever
// calls Salesforce.
func TestReminderLinkOpensThePage(t *testing.T) {
	gin.SetMode(gin.TestMode)
	ctx := context.Background()
	ny, _ := time.LoadLocation("America/New_York")
	clk := &clock{t: time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)}
	kv, err := redis.NewKV(redistest.Start(t).Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	tw := twiliosim.New(twiliosim.Options{Now: clk.Now})
	t.Cleanup(tw.Close)
	sf := sfsim.New(sfsim.Options{})
	t.Cleanup(sf.Close)
	key, _ := salesforce.ParsePrivateKey(sf.PrivateKeyPEM())
	crm, err := salesforce.NewClient(salesforce.Config{LoginURL: sf.URL, ClientID: sf.ClientID, Username: sf.Username, PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := twilio.NewClient(twilio.Config{AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, WorkspaceSID: tw.WorkspaceSID,
		WorkflowSID: tw.WorkflowSID, MessagingServiceSID: tw.MessagingServiceSID, APIURL: tw.URL})
	if err != nil {
		t.Fatal(err)
	}
	m := mustMapping(t)
	holder := mapping.NewHolder(m, 1)
	links := mustLinks(t, clk)
	reg, err := registry.New(registry.Config{Store: kv, Location: ny, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mon, err := monitoring.New(monitoring.Config{Messages: tc, CRM: crm, Store: kv, Contacts: reg, Mappings: holder, Links: links,
		Location: ny, Enabled: true, Now: clk.Now, Horizon: monitoring.MaxLead})
	if err != nil {
		t.Fatal(err)
	}
	subs := &submissions{}
	pages, err := survey.NewPages(survey.PagesConfig{Links: links, Mappings: holder, Submissions: subs, Contacts: reg, Store: kv, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	pages.Register(e)

	id := sf.AddRecord("Contact", map[string]any{"FirstName": "Lucía", "LastName": "Pérez", "MobilePhone": "+12125550142",
		"Preferred_Language__c": "Spanish", "Monitoring_Status__c": "Active", "Monitoring_Start__c": "2026-03-01"})
	raw, _ := json.Marshal(event.Record{NotificationID: "04l1", Object: "Contact", RecordID: id, Fields: sf.Record("Contact", id)})
	for _, err := range mon.Handle(ctx, []queue.Message{{ID: "1-0", Payload: raw}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs := tw.Scheduled()
	if len(msgs) != 14 {
		t.Fatalf("%d reminders", len(msgs))
	}
	sf.ResetCounters()
	link := strings.Fields(msgs[1].Body[strings.Index(msgs[1].Body, "https://"):])[0]
	u, _ := url.Parse(link)

	env := &pagesEnv{h: e, links: links, clock: clk, subs: subs, kv: kv, m: m, ny: ny}
	clk.t = msgs[1].SendAt.Add(5 * time.Minute)
	tok := strings.TrimPrefix(u.Path, "/survey/")
	a := env.do(t, "GET", tok, nil)
	if a.code != 200 {
		t.Fatalf("GET %d", a.code)
	}
	mustContain(t, a.body, "Hola, Lucía:", `<html lang="es">`, "Control de salud del 2026-03-02")
	if strings.Contains(a.body, "Pérez") {
		t.Error("page shows more than the first name")
	}
	if a := env.do(t, "POST", tok, url.Values{"Fever__c": {"no"}, "Cough__c": {"yes"}}); a.code != 200 {
		t.Fatalf("POST %d", a.code)
	}
	if items := subs.Items(); len(items) != 1 || items[0].Key != id+"-2026-03-02" {
		t.Fatalf("items %+v", items)
	}
	clk.t = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	if a := env.do(t, "GET", strings.TrimPrefix(msgs[3].Body[strings.Index(msgs[3].Body, "/survey/")+8:], ""), nil); a.code != http.StatusGone {
		t.Fatalf("expired: %d", a.code)
	}
	if a := env.do(t, "GET", tok[:len(tok)-4]+"AAAA", nil); a.code != http.StatusNotFound {
		t.Fatalf("forged: %d", a.code)
	}
	if n := sf.APICalls(); n != 0 {
		t.Fatalf("the pages made %d Salesforce calls", n)
	}
}
