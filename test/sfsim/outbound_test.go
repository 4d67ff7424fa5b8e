package sfsim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/webhooks"
)

const ack = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>`

// An insert through the REST API fires the rule's Outbound Message, with
// the latest data; a refused delivery is retried; seed data and rows that
// fail the entry condition or are rolled back fire nothing.
func TestOutboundMessageOnInsert(t *testing.T) {
	var mu sync.Mutex
	var got []string
	refuse := 1
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if refuse > 0 {
			refuse--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got = append(got, string(b))
		_, _ = io.WriteString(w, ack)
	}))
	t.Cleanup(ep.Close)
	s := MustServer(t, sfsim.Options{})
	s.SendOutboundOnInsert(sfsim.OutboundRule{Object: "Contact", URL: ep.URL, Fields: []string{"FirstName", "Outreach_Status__c", "Priority__c"},
		When: func(r map[string]any) bool { return r["Outreach_Status__c"] == "Needs Outreach" }})
	s.AddRecord("Contact", map[string]any{"LastName": "Seed", "Outreach_Status__c": "Needs Outreach"})
	tok := MustToken(t, s)

	if a := call(t, s, tok, "POST", "/sobjects/Contact", map[string]any{"LastName": "Quiet", "Outreach_Status__c": "Closed"}); a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	a := call(t, s, tok, "PATCH", "/composite/sobjects/Contact/Elicitation_Key__c", map[string]any{"allOrNone": false, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Elicitation_Key__c": "k1", "LastName": "(self-reported)", "FirstName": "Ana", "Outreach_Status__c": "Needs Outreach", "Priority__c": 2},
	}})
	if a.status != 200 {
		t.Fatalf("upsert: %d %s", a.status, a.body)
	}
	// allOrNone rolled back: no message
	call(t, s, tok, "PATCH", "/composite/sobjects/Contact/Elicitation_Key__c", map[string]any{"allOrNone": true, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Elicitation_Key__c": "k2", "LastName": "x", "Outreach_Status__c": "Needs Outreach"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Elicitation_Key__c": "k3", "No_Such_Field__c": "x"},
	}})
	deadline := time.Now().Add(5 * time.Second)
	for s.OutboundDelivered() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d messages delivered: %v", len(got), got)
	}
	for _, want := range []string{"<OrganizationId>" + s.OrgID + "</OrganizationId>", `xsi:type="sf:Contact"`, "<sf:FirstName>Ana</sf:FirstName>",
		"<sf:Outreach_Status__c>Needs Outreach</sf:Outreach_Status__c>", "<sf:Priority__c>2.0</sf:Priority__c>", "<sf:Id>003"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("message lacks %q:\n%s", want, got[0])
		}
	}
	if msg, err := webhooks.ParseOutbound(strings.NewReader(got[0])); err != nil || len(msg.Notifications) != 1 {
		t.Errorf("the bridge cannot read the message: %v", err)
	}
	if strings.Contains(got[0], "Elicitation_Key__c") || strings.Contains(got[0], "LastName") {
		t.Errorf("message carries fields the rule did not select:\n%s", got[0])
	}
}
