package recordsync

import (
	"context"
	"testing"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

func TestDecide(t *testing.T) {
	m := example(t).Current()
	other := rec("Needs Outreach", "(212) 555-0123", "")
	other.Object = "Lead"
	tests := []struct {
		name    string
		rec     event.Record
		skip    bool
		action  mapping.Action
		wantErr bool
	}{
		{"needs outreach", rec("Needs Outreach", "(212) 555-0123", ""), false, mapping.ActionCreate, false},
		{"closed", rec("Closed", "(212) 555-0123", ""), false, mapping.ActionCancel, false},
		{"neither", rec("Reached", "(212) 555-0123", ""), false, mapping.ActionNone, false},
		{"required value missing", rec("Needs Outreach", "", ""), false, mapping.ActionCreate, true},
		{"another object", other, true, mapping.ActionNone, false},
	}
	for _, tt := range tests {
		d, err := Decide(m, tt.rec)
		if d.Skip != tt.skip || d.Action != tt.action || (err != nil) != tt.wantErr {
			t.Errorf("%s: Decide = %+v, %v", tt.name, d, err)
		}
		if tt.wantErr && !queue.IsPermanent(err) {
			t.Errorf("%s: a mapping error must be permanent: %v", tt.name, err)
		}
		if d.Action == mapping.ActionCreate && err == nil {
			crm, _ := d.Attributes["crm"].(map[string]any)
			if crm["record_id"] != tt.rec.RecordID || crm["object"] != tt.rec.Object {
				t.Errorf("%s: attributes %v", tt.name, d.Attributes)
			}
		}
	}
}

// Sync acts on Decide's answer: what a dry run reports is what Sync does.
func TestSyncFollowsDecide(t *testing.T) {
	f, _ := newFlow(t, &fakeTasks{})
	want := map[mapping.Action]Outcome{mapping.ActionCreate: Created, mapping.ActionCancel: Canceled, mapping.ActionNone: Unchanged}
	for _, r := range []event.Record{rec("Needs Outreach", "(212) 555-0123", ""), rec("Closed", "(212) 555-0123", ""), rec("Reached", "(212) 555-0123", "")} {
		d, err := Decide(example(t).Current(), r)
		if err != nil {
			t.Fatal(err)
		}
		out, err := f.Sync(context.Background(), r)
		if err != nil || out != want[d.Action] {
			t.Fatalf("%v: Sync = %s, %v; Decide said %s", r.Fields["Outreach_Status__c"], out, err, d.Action)
		}
	}
	bad := rec("Needs Outreach", "", "")
	_, derr := Decide(example(t).Current(), bad)
	if _, err := f.Sync(context.Background(), bad); err == nil || err.Error() != derr.Error() || !queue.IsPermanent(err) {
		t.Fatalf("Sync error %v, Decide error %v", err, derr)
	}
}
