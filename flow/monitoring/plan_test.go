package monitoring_test

import (
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/mapping"
)

func TestPlanReminders(t *testing.T) {
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Date(2026, 3, 5, 3, 0, 0, 0, time.UTC) // 4 March, 22:00 in New York
	tests := []struct {
		name       string
		rec        mapping.Record
		start      string
		fromRecord bool
		lang, time string
		firstAt    time.Time
		lastDate   string
		firstBody  string
	}{
		{"start and language from the record", mapping.Record{"FirstName": "Ana", "Monitoring_Start__c": "2026-03-02", "Preferred_Language__c": "Spanish"},
			"2026-03-02", true, "es", "", time.Date(2026, 3, 2, 10, 0, 0, 0, ny), "2026-03-15", "Hola Ana, responda el control de salud de hoy: LINK"},
		{"no start: today in the reminders' zone, not UTC's", mapping.Record{"FirstName": "Bo"},
			"2026-03-04", false, "en", "", time.Date(2026, 3, 4, 10, 0, 0, 0, ny), "2026-03-17", "Hi Bo, please answer today's short health check: LINK"},
		{"the contact's own time, across the DST change of 8 March", mapping.Record{"Monitoring_Start__c": "2026-03-07", "Preferred_Time__c": "18:30:00.000Z"},
			"2026-03-07", true, "en", "18:30", time.Date(2026, 3, 7, 18, 30, 0, 0, ny), "2026-03-20", "Hi , please answer today's short health check: LINK"},
		{"a DateTime start is its day", mapping.Record{"Monitoring_Start__c": "2026-03-03T00:00:00.000+0000"},
			"2026-03-03", true, "en", "", time.Date(2026, 3, 3, 10, 0, 0, 0, ny), "2026-03-16", "Hi , please answer today's short health check: LINK"},
		{"a start that is not a date counts as none", mapping.Record{"Monitoring_Start__c": "soon"},
			"2026-03-04", false, "en", "", time.Date(2026, 3, 4, 10, 0, 0, 0, ny), "2026-03-17", "Hi , please answer today's short health check: LINK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := monitoring.PlanReminders(m.Reminders(), tt.rec, now, ny, "LINK")
			if p.Start != tt.start || p.StartFromRecord != tt.fromRecord || p.Language != tt.lang || p.Time != tt.time {
				t.Fatalf("plan %+v", p)
			}
			if len(p.Days) != 14 || !p.Days[0].SendAt.Equal(tt.firstAt) || p.Days[13].Date != tt.lastDate || p.Days[0].Body != tt.firstBody {
				t.Fatalf("days %+v", p.Days)
			}
			// Local time holds across the DST change: same wall clock every day.
			for _, d := range p.Days {
				if d.SendAt.In(ny).Format("15:04") != p.Days[0].SendAt.In(ny).Format("15:04") || d.SendAt.Location() != ny {
					t.Fatalf("day %s at %s", d.Date, d.SendAt)
				}
			}
		})
	}
}
