package event

import (
	"encoding/json"
	"testing"
)

func TestRecordItemsCarryTheRecordToBothQueues(t *testing.T) {
	rec := Record{NotificationID: "04l1", Object: "Contact", RecordID: "003A", Fields: map[string]any{"Id": "003A"}, Source: "backfill"}
	r, m, err := RecordItems("k1", rec)
	if err != nil || r.Key != "k1" || m.Key != "k1" {
		t.Fatalf("%+v %+v %v", r, m, err)
	}
	var got Record
	var mon Monitoring
	if err := json.Unmarshal(r.Payload, &got); err != nil || got.RecordID != "003A" || got.Source != "backfill" {
		t.Fatalf("record item %s: %v", r.Payload, err)
	}
	if err := json.Unmarshal(m.Payload, &mon); err != nil || mon.Record == nil || mon.Record.RecordID != "003A" || mon.SMS != nil {
		t.Fatalf("monitoring item %s: %v", m.Payload, err)
	}
	if _, _, err := RecordItems("k2", Record{Fields: map[string]any{"x": func() {}}}); err == nil {
		t.Fatal("an unencodable record was accepted")
	}
}
