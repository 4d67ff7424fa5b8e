package writeback

import (
	"context"
	"encoding/json"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"strings"
	"testing"
)

func reportMsg(id string, r event.Report) queue.Message {
	b, _ := json.Marshal(event.Writeback{Report: &r})
	return queue.Message{ID: id, Key: "report:" + r.LinkID, Payload: b}
}

func TestReportRowsUpsertByCaseAndPhone(t *testing.T) {
	crm := &fakeCRM{}
	f := newFlow(t, crm)
	r := event.Report{CaseID: "003RM00000Cs1a2YAB", LinkID: "abcdefghijklmnop", Language: "es", Contacts: []event.ReportedContact{
		{FirstName: "Ana", Phone: "+12125550101", LastContact: "2026-03-01", Household: true},
		{FirstName: "Ben", Email: "ben@example.org"},
	}}
	// the same submission delivered twice in one batch: each person once
	errs := f.Handle(context.Background(), []queue.Message{reportMsg("1", r), reportMsg("2", r)})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(crm.calls) != 1 || len(crm.calls[0]) != 2 {
		t.Fatalf("calls %v", crm.calls)
	}
	ana, ben := crm.calls[0][0], crm.calls[0][1]
	want := salesforce.Record{
		"FirstName": "Ana", "LastName": "(self-reported)", "MobilePhone": "+12125550101", "Last_Exposure_Date__c": "2026-03-01",
		"Household_Contact__c": true, "Source_Case__c": "003RM00000Cs1a2YAB", "Outreach_Status__c": "Needs Outreach",
		"Elicitation_Key__c": "003RM00000Cs1a2YAB-+12125550101",
	}
	for k, v := range want {
		if ana[k] != v {
			t.Errorf("Ana %s = %v, want %v", k, ana[k], v)
		}
	}
	if len(ana) != len(want) {
		t.Errorf("Ana has extra fields: %v", ana)
	}
	if ben["Elicitation_Key__c"] != "003RM00000Cs1a2YAB-ben@example.org" || ben["Email"] != "ben@example.org" || ben["Household_Contact__c"] != false {
		t.Errorf("Ben %v", ben)
	}
	if _, ok := ben["MobilePhone"]; ok {
		t.Errorf("Ben has a phone: %v", ben)
	}
}

// A rejected row's error names the case and the row, never the phone or
// email in its external id (errors reach logs and dead letters).
func TestReportRowErrorsCarryNoContactData(t *testing.T) {
	crm := &fakeCRM{rowResult: func(salesforce.Record) salesforce.RowResult {
		return salesforce.RowResult{Errors: []salesforce.RowError{{StatusCode: "INVALID_FIELD", Message: "bad value +12125550101", Fields: []string{"MobilePhone"}}}}
	}}
	f := newFlow(t, crm)
	r := event.Report{CaseID: "003RM00000Cs1a2YAB", LinkID: "abcdefghijklmnop", Contacts: []event.ReportedContact{{FirstName: "Ana", Phone: "+12125550101"}}}
	errs := f.Handle(context.Background(), []queue.Message{reportMsg("1", r)})
	if errs[0] == nil || !queue.IsPermanent(errs[0]) {
		t.Fatalf("err %v", errs[0])
	}
	if msg := errs[0].Error(); strings.Contains(msg, "555") || strings.Contains(msg, "Ana") || !strings.Contains(msg, "case 003RM00000Cs1a2YAB") {
		t.Errorf("error %q", msg)
	}
}
