package monitoring

import (
	"fmt"
	"time"

	"github.com/cityhealth/bridge/mapping"
)

// Plan is what monitoring makes of a record's reminders, before any call
// to Twilio: the days, their send times and their bodies.
type Plan struct {
	Start           string // YYYY-MM-DD, the first day
	StartFromRecord bool   // false: the record gives no start day, so today
	Language        string // the record's language, as the mapping reads it
	Time            string // the contact's own HH:MM (reminders.time); "" = reminders.at
	Days            []DayPlan
}

// DayPlan is one reminder day of a Plan.
type DayPlan struct {
	Date   string    // YYYY-MM-DD
	SendAt time.Time // in the reminders' zone
	Body   string
}

// PlanReminders plans a record's reminder days from the mapping's
// reminders section: reminders.days days from the record's start day
// (today in loc when it gives none), each at the contact's own time
// (reminders.time) or else reminders.at in loc, with its body rendered in
// the record's language around link. It is pure: monitoring plans with it
// (each day's body is rendered again at its time, around the day's own
// link) and the admin preview shows it.
func PlanReminders(r *mapping.Reminders, rec mapping.Record, now time.Time, loc *time.Location, link string) Plan {
	p := Plan{Language: r.Language(rec)}
	start, fromRecord := r.Start(rec)
	// A Salesforce DateTime passes as a start day too: its day is its
	// first ten characters, as the mapping's date transform reads it.
	if len(start) > 10 {
		start = start[:10]
	}
	day, err := time.ParseInLocation("2006-01-02", start, loc)
	if !fromRecord || err != nil {
		now = now.In(loc)
		day = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
		fromRecord = false
	}
	p.Start, p.StartFromRecord = day.Format("2006-01-02"), fromRecord
	if h, mi, ok := r.TimeOf(rec); ok {
		p.Time = fmt.Sprintf("%02d:%02d", h, mi)
	}
	name := r.Name(rec)
	p.Days = make([]DayPlan, r.Days())
	for i := range p.Days {
		d := day.AddDate(0, 0, i)
		p.Days[i] = DayPlan{Date: d.Format("2006-01-02"), SendAt: dayAt(r, d, p.Time, loc), Body: r.Render(p.Language, name, link)}
	}
	return p
}

// dayAt is the reminder time of day d in loc: the contact's own HH:MM when
// it has one, else reminders.at. time.Date keeps 10:00 local across DST
// changes.
func dayAt(r *mapping.Reminders, d time.Time, own string, loc *time.Location) time.Time {
	h, mi := r.At()
	if own != "" {
		if th, tm, ok := mapping.ParseTimeOfDay(own); ok {
			h, mi = th, tm
		}
	}
	return time.Date(d.Year(), d.Month(), d.Day(), h, mi, 0, 0, loc)
}
