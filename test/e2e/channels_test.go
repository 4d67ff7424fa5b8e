package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/sendgridsim"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// channelsMapping is the e2e mapping with every reminder channel: a
// per-contact time and channel, SMS falling back to voice, email, a
// WhatsApp template in English only and a spoken greeting.
func channelsMapping(t *testing.T) string {
	t.Helper()
	doc := string(mustRead(t, testdataPath("mapping.yaml")))
	anchor := "  language: {field: Preferred_Language__c, transform: lower, map: {spanish: es}, default: en}\ncase_contacts:"
	if !strings.Contains(doc, anchor) {
		t.Fatal("testdata/mapping.yaml changed: reminders.language is no longer followed by case_contacts")
	}
	return strings.Replace(doc, anchor, `  language: {field: Preferred_Language__c, transform: lower, map: {spanish: es}, default: en}
  time: {field: Preferred_Time__c}
  channel: {field: Preferred_Channel__c, transform: lower, map: {text: sms, phone: voice}, default: sms}
  fallback: voice
  email: {field: Email}
  email_subject: {en: Your daily health check, es: Su control de salud diario}
  whatsapp: {en: HX00000000000000000000000000000001}
  voice: {en: "Hello {{name}}, this is your daily health check from the health department.", es: "Hola {{name}}, este es su control de salud diario."}
case_contacts:`, 1)
}

type channelsEnv struct {
	b     *Bridge
	clock *shiftClock
	sg    *sendgridsim.Server
	ny    *time.Location
}

// channelsWorld is a bridge with the default 48 h horizon, a test clock
// shared with the Twilio stand-in (whose calls fetch the bridge's TwiML
// through lb), and the SendGrid stand-in. The clock starts at 09:00 New
// York time tomorrow.
func channelsWorld(t *testing.T, simOpts twiliosim.Options) *channelsEnv {
	t.Helper()
	ny, _ := time.LoadLocation("America/New_York")
	clock := &shiftClock{}
	tomorrow := time.Now().In(ny).AddDate(0, 0, 1)
	clock.Add(time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), 9, 0, 0, 0, ny).Sub(time.Now()))
	route := &lb{}
	simOpts.Now = clock.Now
	simOpts.SMSWebhookURL = PublicURL + "/webhooks/twilio/sms"
	simOpts.HTTPClient = &http.Client{Transport: route, Timeout: 15 * time.Second}
	sim := twiliosim.New(simOpts)
	t.Cleanup(sim.Close)
	sf := sfsim.New(sfsim.Options{OrgID: SampleOrgID})
	t.Cleanup(sf.Close)
	sg := sendgridsim.New(sendgridsim.Options{Now: clock.Now})
	t.Cleanup(sg.Close)
	tuning := DefaultTuning()
	tuning.MonitoringInterval = 50 * time.Millisecond
	b := MustStart(t, Options{Twilio: sim, SF: sf, Now: clock.Now, Tuning: &tuning, Mapping: channelsMapping(t),
		Env: map[string]string{
			"BRIDGE_REMINDER_HORIZON": "48h",
			"BRIDGE_SENDGRID_API_KEY": sg.APIKey, "BRIDGE_SENDGRID_API_URL": sg.URL,
			"BRIDGE_EMAIL_FROM":              "checks@health.example.gov",
			"BRIDGE_TWILIO_VOICE_FROM":       "+12125550100",
			"BRIDGE_TWILIO_CALLS_PER_SECOND": "5",
		}})
	route.set(b.URL)
	return &channelsEnv{b: b, clock: clock, sg: sg, ny: ny}
}

// today is the test clock's date in New York.
func (e *channelsEnv) today() string { return e.clock.Now().In(e.ny).Format("2006-01-02") }

// enroll seeds a contact in monitoring from start with its channel fields
// and sends the Outbound Message.
func (e *channelsEnv) enroll(t *testing.T, n int, start string, fields map[string]string) string {
	t.Helper()
	rec := map[string]any{"FirstName": "Rosa", "LastName": "Tester"}
	for k, v := range fields {
		rec[k] = v
	}
	id := e.b.SF.AddRecord("Contact", rec)
	out := map[string]*string{"Id": S(id), "FirstName": S("Rosa"), "Monitoring_Status__c": S("Active"),
		"Monitoring_Start__c": S(start), "Outreach_Status__c": S("Closed"), "Index_Case_Name__c": S("Jordan Example")}
	for k, v := range fields {
		out[k] = S(v)
	}
	e.b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(300 + n), Fields: out}))
	return id
}

func messagesTo(b *Bridge, to string) (scheduled, all []twiliosim.Message) {
	for _, m := range b.Twilio.Messages() {
		if m.To != to {
			continue
		}
		all = append(all, m)
		if m.Status == "scheduled" {
			scheduled = append(scheduled, m)
		}
	}
	return scheduled, all
}

// At most the horizon's days are at Twilio per contact; the rest are
// handed over from the bridge's own schedule as the clock advances, and
// all 14 reach the contact, each once.
func TestRollingScheduleKeepsTwilioWithinHorizon(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	b.Log.Plant("(917) 555-0181", "+19175550181", "Rosa")
	start := e.today()
	e.enroll(t, 1, start, map[string]string{"MobilePhone": "(917) 555-0181", "Preferred_Time__c": "10:30:00.000Z"})
	const to = "+19175550181"
	// 10:30 today is 1.5 h away, tomorrow's 25.5 h: two within 48 h.
	Eventually(t, wait, "the days within 48 h at Twilio", func() bool { s, _ := messagesTo(b, to); return len(s) == 2 })
	first, _ := messagesTo(b, to)
	if at := first[0].SendAt.In(e.ny); at.Format("15:04") != "10:30" {
		t.Fatalf("reminder at %s, want the contact's 10:30", at.Format("15:04"))
	}

	maxOutstanding := 0
	startDay, _ := time.ParseInLocation("2006-01-02", start, e.ny)
	for step := 0; step < 15*4; step++ {
		e.clock.Add(6 * time.Hour)
		b.Twilio.SendDue()
		now := e.clock.Now()
		// Days whose time minus 48 h has come are at Twilio (or sent).
		want := 0
		for d := 0; d < 14; d++ {
			at := time.Date(startDay.Year(), startDay.Month(), startDay.Day()+d, 10, 30, 0, 0, e.ny)
			if !at.Add(-48 * time.Hour).After(now) {
				want++
			}
		}
		Eventually(t, wait, "the days handed over by now", func() bool { _, all := messagesTo(b, to); return len(all) == want })
		s, _ := messagesTo(b, to)
		maxOutstanding = max(maxOutstanding, len(s))
		if len(s) > 3 {
			t.Fatalf("step %d: %d reminders outstanding at Twilio for one contact, want at most 3", step, len(s))
		}
	}
	_, all := messagesTo(b, to)
	days := map[string]bool{}
	for _, m := range all {
		days[m.SendAt.In(e.ny).Format("2006-01-02")] = true
		if m.Status != "sent" {
			t.Fatalf("reminder %s is %s at the end", m.SID, m.Status)
		}
	}
	if len(all) != 14 || len(days) != 14 {
		t.Fatalf("%d reminders on %d days, want 14 on 14", len(all), len(days))
	}
	t.Logf("outstanding at Twilio per contact: at most %d; Twilio calls for 14 days: %d", maxOutstanding, b.Twilio.Calls(twiliosim.OpScheduleMessage))
	if n := b.Twilio.Calls(twiliosim.OpScheduleMessage); n != 14 {
		t.Fatalf("%d schedule calls, want 14", n)
	}
}

// STOP cancels what Twilio holds and drops the rest of the bridge's schedule.
func TestRollingScheduleStopDropsTheRest(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	e.enroll(t, 2, e.today(), map[string]string{"MobilePhone": "(917) 555-0182", "Preferred_Time__c": "10:30"})
	const to = "+19175550182"
	Eventually(t, wait, "two days at Twilio", func() bool { s, _ := messagesTo(b, to); return len(s) == 2 })
	if _, err := b.Twilio.ReceiveSMS(to, "+12125550000", "STOP", "STOP"); err != nil {
		t.Fatal(err)
	}
	Eventually(t, wait, "the outstanding days canceled", func() bool { s, _ := messagesTo(b, to); return len(s) == 0 })
	for i := 0; i < 8; i++ {
		e.clock.Add(12 * time.Hour)
		time.Sleep(150 * time.Millisecond) // rounds of the rolling schedule
	}
	if _, all := messagesTo(b, to); len(all) != 2 {
		t.Fatalf("%d messages after STOP, want only the 2 canceled", len(all))
	}
}

// A voice contact is called at its time, greeted in its language, answers
// by keypad (silence once, then the key), and its Symptom_Survey__c row
// carries booleans; the day's web link is used by then.
func TestVoiceReminderAnsweredByKeypad(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	b.Log.Plant("(917) 555-0183", "+19175550183")
	const to = "+19175550183"
	b.Twilio.ScriptCall(to, twiliosim.CallScript{Keys: []string{"1", "", "2"}})
	day := e.today()
	id := e.enroll(t, 3, day, map[string]string{"MobilePhone": "(917) 555-0183", "Preferred_Channel__c": "Phone", "Preferred_Time__c": "09:05"})
	b.Settle(wait)
	if n := len(b.Twilio.CallsMade()); n != 0 {
		t.Fatalf("%d calls before the contact's time", n)
	}
	if s, _ := messagesTo(b, to); len(s) != 0 {
		t.Fatalf("voice contact got %d scheduled texts", len(s))
	}
	e.clock.Add(6 * time.Minute)
	Eventually(t, wait, "the reminder call", func() bool { return len(b.Twilio.CallsMade()) == 1 })
	b.Twilio.WaitCalls()
	call := b.Twilio.CallsMade()[0]
	if call.From != "+12125550100" || call.To != to || !strings.HasPrefix(call.URL, PublicURL+"/webhooks/twilio/voice/") || call.Err != "" {
		t.Fatalf("call %+v", call)
	}
	said := strings.Join(call.Said, " | ")
	if !strings.Contains(said, "Hello Rosa") || !strings.Contains(said, "Do you have a fever? Press 1 for yes, 2 for no.") ||
		strings.Count(said, "Do you have a cough?") != 2 || !strings.Contains(said, "Your answers were received") || strings.Contains(said, "Jordan") {
		t.Fatalf("the callee heard: %s", said)
	}
	Eventually(t, wait, "the survey row", func() bool { return len(b.SF.Records("Symptom_Survey__c")) == 1 })
	row := b.SF.Records("Symptom_Survey__c")[0]
	if row["Fever__c"] != true || row["Cough__c"] != false || row["Contact__c"] != id || row["Survey_Date__c"] != day {
		t.Fatalf("survey row %v", row)
	}

	// The same day answered again (the web page or a second call): nothing more.
	token := strings.TrimPrefix(call.URL, PublicURL+"/webhooks/twilio/voice/")
	if resp, _ := b.Do(http.MethodGet, "/survey/"+token, nil, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("web link of an answered day: %d, want 409", resp.StatusCode)
	}
	b.Settle(wait)
	if n := len(b.SF.Records("Symptom_Survey__c")); n != 1 {
		t.Fatalf("%d survey rows, want 1", n)
	}
	// Unsigned: refused before anything is read.
	if resp, _ := b.Do(http.MethodPost, "/webhooks/twilio/voice/"+token+"/answer?q=0&a=&n=0", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned TwiML request: %d, want 403", resp.StatusCode)
	}
	// A forged token hears nothing and records nothing.
	if resp, body := b.PostTwilio("/webhooks/twilio/voice/forged", url.Values{"CallSid": {"CA" + strings.Repeat("0", 32)}}); resp.StatusCode != http.StatusOK || strings.Contains(string(body), "<Say") {
		t.Fatalf("forged token: %d %s", resp.StatusCode, body)
	}
	// Signed but without a well-formed CallSid: 400, nothing said.
	if resp, _ := b.PostTwilio("/webhooks/twilio/voice/"+token, url.Values{"CallSid": {"CAnothex"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed CallSid: %d, want 400", resp.StatusCode)
	}
}

// A voice contact who does not answer, or gives no input twice: no survey
// (a missed day), and no second call that day.
func TestVoiceReminderNoInputIsAMissedDay(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	const to = "+19175550184"
	b.Twilio.ScriptCall(to, twiliosim.CallScript{Keys: []string{"", ""}})
	e.enroll(t, 4, e.today(), map[string]string{"MobilePhone": "(917) 555-0184", "Preferred_Channel__c": "voice", "Preferred_Time__c": "09:05"})
	e.clock.Add(6 * time.Minute)
	Eventually(t, wait, "the reminder call", func() bool { return len(b.Twilio.CallsMade()) == 1 })
	b.Twilio.WaitCalls()
	if c := b.Twilio.CallsMade()[0]; len(c.Pressed) != 2 || !strings.Contains(strings.Join(c.Said, " "), "We did not get an answer") {
		t.Fatalf("call %+v", c)
	}
	e.clock.Add(2 * time.Hour)
	b.Settle(wait)
	if n := len(b.Twilio.CallsMade()); n != 1 {
		t.Fatalf("%d calls the same day, want 1", n)
	}
	if n := len(b.SF.Records("Symptom_Survey__c")); n != 0 {
		t.Fatalf("%d survey rows for an unanswered call", n)
	}
}

// A WhatsApp contact gets the language's Content template at its time; a
// Spanish one (no template) gets the SMS text instead.
func TestWhatsAppReminderUsesContentTemplate(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	b.Log.Plant("(917) 555-0185", "+19175550185", "(917) 555-0186")
	day := e.today()
	e.enroll(t, 5, day, map[string]string{"MobilePhone": "(917) 555-0185", "Preferred_Channel__c": "WhatsApp", "Preferred_Time__c": "09:05"})
	e.enroll(t, 6, day, map[string]string{"MobilePhone": "(917) 555-0186", "Preferred_Channel__c": "whatsapp", "Preferred_Time__c": "09:05",
		"Preferred_Language__c": "Spanish"})
	b.Settle(wait)
	if n := len(b.Twilio.Messages()); n != 0 {
		t.Fatalf("%d messages before the contacts' time", n)
	}
	e.clock.Add(6 * time.Minute)
	Eventually(t, wait, "the two reminders", func() bool { return len(b.Twilio.Messages()) == 2 })
	for _, m := range b.Twilio.Messages() {
		switch m.To {
		case "whatsapp:+19175550185":
			var vars map[string]string
			if err := json.Unmarshal([]byte(m.ContentVariables), &vars); err != nil {
				t.Fatal(err)
			}
			if m.ContentSid != "HX00000000000000000000000000000001" || m.Body != "" || vars["1"] != "Rosa" ||
				!strings.HasPrefix(vars["2"], PublicURL+"/survey/") || len(vars) != 2 || m.Status == "failed" {
				t.Fatalf("WhatsApp reminder %+v", m)
			}
		case "+19175550186":
			if m.ContentSid != "" || !strings.HasPrefix(m.Body, "Hola Rosa") || !linkRE.MatchString(m.Body) {
				t.Fatalf("Spanish reminder without a template: %+v", m)
			}
		default:
			t.Fatalf("reminder to %s", m.To)
		}
	}
}

// An email contact gets its link through SendGrid at its time.
func TestEmailReminderThroughSendGrid(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	b.Log.Plant("rosa.tester@example.org")
	e.enroll(t, 7, e.today(), map[string]string{"Email": "rosa.tester@example.org", "Preferred_Channel__c": "email", "Preferred_Time__c": "09:05"})
	b.Settle(wait)
	if n := e.sg.Calls(); n != 0 {
		t.Fatalf("%d SendGrid calls before the contact's time", n)
	}
	e.clock.Add(6 * time.Minute)
	Eventually(t, wait, "the email", func() bool { return len(e.sg.Mails()) == 1 })
	m := e.sg.Mails()[0]
	if len(m.To) != 1 || m.To[0] != "rosa.tester@example.org" || m.Subject != "Your daily health check" ||
		!strings.HasPrefix(m.Text, "Hi Rosa") || !strings.Contains(m.Text, PublicURL+"/survey/") || strings.Contains(m.Text, "Jordan") {
		t.Fatalf("email %+v", m)
	}
	if n := b.Twilio.TotalCalls(); n != 0 {
		t.Fatalf("%d Twilio calls for an email contact", n)
	}
	// The next day's email waits for the next day.
	e.clock.Add(2 * time.Hour)
	b.Settle(wait)
	if n := len(e.sg.Mails()); n != 1 {
		t.Fatalf("%d emails on day one", n)
	}
	e.clock.Add(22 * time.Hour)
	Eventually(t, wait, "the second day's email", func() bool { return len(e.sg.Mails()) == 2 })
}

// An SMS contact whose number is a landline (30006) moves to voice: what
// Twilio holds is canceled, the change is written once as an activity,
// and the next day comes by a call.
func TestLandlineMovesToVoice(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	b.Log.Plant("(917) 555-0187", "+19175550187")
	const to = "+19175550187"
	b.Twilio.ScriptCall(to, twiliosim.CallScript{Keys: []string{"2", "2"}})
	id := e.enroll(t, 8, e.today(), map[string]string{"MobilePhone": "(917) 555-0187", "Preferred_Time__c": "10:30"})
	Eventually(t, wait, "two days at Twilio", func() bool { s, _ := messagesTo(b, to); return len(s) == 2 })
	e.clock.Add(90 * time.Minute)
	b.Twilio.SendDue()
	_, all := messagesTo(b, to)
	var sent string
	for _, m := range all {
		if m.Status != "scheduled" {
			sent = m.SID
		}
	}
	if sent == "" {
		t.Fatal("no reminder sent")
	}
	// The carrier reports the landline, twice.
	for i := 0; i < 2; i++ {
		if err := b.Twilio.FailMessage(sent, "undelivered", 30006); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, wait, "tomorrow's text canceled", func() bool { s, _ := messagesTo(b, to); return len(s) == 0 })
	Eventually(t, wait, "the fallback activity", func() bool { return rowsByExternalID(b)[id+"-fallback"] == 1 })
	b.Settle(wait)
	if rows := rowsByExternalID(b); rows[id+"-fallback"] != 1 || rows[sent+"-delivery"] != 1 {
		t.Fatalf("activities %v, want one fallback and one delivery", rows)
	}
	for _, r := range b.SF.Records("Task") {
		if r["Twilio_Task_Sid__c"] == id+"-fallback" && (r["WhoId"] != id || !strings.Contains(r["Subject"].(string), "voice")) {
			t.Fatalf("fallback activity %v", r)
		}
	}
	// A record change (same number) keeps the contact on voice.
	e.b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(399), Fields: map[string]*string{
		"Id": S(id), "FirstName": S("Rosa"), "MobilePhone": S("(917) 555-0187"), "Monitoring_Status__c": S("Active"),
		"Monitoring_Start__c": S(e.today()), "Preferred_Time__c": S("10:30")}}))
	b.Settle(wait)
	if s, _ := messagesTo(b, to); len(s) != 0 {
		t.Fatalf("a record change scheduled %d texts again", len(s))
	}
	e.clock.Add(24 * time.Hour)
	Eventually(t, wait, "the next day's call", func() bool { return len(b.Twilio.CallsMade()) == 1 })
	b.Twilio.WaitCalls()
	Eventually(t, wait, "the survey row from the call", func() bool { return len(b.SF.Records("Symptom_Survey__c")) == 1 })
	if row := b.SF.Records("Symptom_Survey__c")[0]; row["Fever__c"] != false || row["Cough__c"] != false {
		t.Fatalf("survey row %v", row)
	}
}

// The cost of 14 days per channel, measured: one contact on each channel,
// the clock run through its 14 days. Each gets exactly one reminder a day;
// the counts are the Twilio and SendGrid calls SCALE.md multiplies out.
func TestChannelsCostForFourteenDays(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	b.Twilio.ScriptCall("+19175550193", twiliosim.CallScript{Keys: []string{"2", "2"}})
	start := e.today()
	e.enroll(t, 11, start, map[string]string{"MobilePhone": "(917) 555-0191", "Preferred_Time__c": "10:30"})
	e.enroll(t, 12, start, map[string]string{"MobilePhone": "(917) 555-0192", "Preferred_Channel__c": "whatsapp", "Preferred_Time__c": "10:30"})
	e.enroll(t, 13, start, map[string]string{"MobilePhone": "(917) 555-0193", "Preferred_Channel__c": "voice", "Preferred_Time__c": "10:30"})
	e.enroll(t, 14, start, map[string]string{"Email": "cost.test@example.org", "Preferred_Channel__c": "email", "Preferred_Time__c": "10:30"})
	b.Settle(wait)
	maxOutstanding := 0
	// To each day's 10:31, then on by a day: every step makes one day due
	// on every channel.
	e.clock.Add(91 * time.Minute)
	for day := 0; day < 15; day++ {
		b.Twilio.SendDue()
		want := min(day+1, 14)
		Eventually(t, wait, "the day's reminders", func() bool {
			_, wa := messagesTo(b, "whatsapp:+19175550192")
			return len(wa) == want && len(b.Twilio.CallsMade()) == want && len(e.sg.Mails()) == want
		})
		s, _ := messagesTo(b, "+19175550191")
		maxOutstanding = max(maxOutstanding, len(s))
		e.clock.Add(24 * time.Hour)
	}
	b.Twilio.WaitCalls()
	Eventually(t, wait, "14 survey rows from the calls", func() bool { return len(b.SF.Records("Symptom_Survey__c")) == 14 })
	_, sms := messagesTo(b, "+19175550191")
	_, wa := messagesTo(b, "whatsapp:+19175550192")
	calls := b.Twilio.CallsMade()
	if len(sms) != 14 || len(wa) != 14 || len(calls) != 14 || len(e.sg.Mails()) != 14 || maxOutstanding > 3 {
		t.Fatalf("14 days: %d SMS, %d WhatsApp, %d calls, %d emails; %d SMS outstanding at most", len(sms), len(wa), len(calls), len(e.sg.Mails()), maxOutstanding)
	}
	_, metrics := b.Do(http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{
		`bridge_monitoring_reminders_total{channel="sms",result="ok",via="twilio_scheduler"} 14`,
		`bridge_monitoring_reminders_total{channel="whatsapp",result="ok",via="bridge"} 14`,
		`bridge_monitoring_reminders_total{channel="voice",result="ok",via="bridge"} 14`,
		`bridge_monitoring_reminders_total{channel="email",result="ok",via="bridge"} 14`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	t.Logf("per contact for 14 days: sms %d Twilio creates (%d outstanding at most), whatsapp %d, voice %d calls, email %d SendGrid sends; Twilio API calls in all %d, SendGrid %d",
		len(sms), maxOutstanding, len(wa), len(calls), len(e.sg.Mails()), b.Twilio.TotalCalls(), e.sg.Calls())
}

// Twilio's account cap (35125) refuses a day: it stays in the bridge's
// schedule, is tried again, and once too near for Twilio's scheduler the
// bridge sends it itself at its time. Nothing is dropped.
func TestTwilioCapKeepsTheDay(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{MaxScheduled: 1})
	b := e.b
	e.enroll(t, 21, e.today(), map[string]string{"MobilePhone": "(917) 555-0201", "Preferred_Time__c": "10:30"})
	Eventually(t, wait, "the first contact's first day at Twilio", func() bool { s, _ := messagesTo(b, "+19175550201"); return len(s) == 1 })
	e.enroll(t, 22, e.today(), map[string]string{"MobilePhone": "(917) 555-0202", "Preferred_Time__c": "10:30"})
	b.Settle(wait)
	if _, all := messagesTo(b, "+19175550202"); len(all) != 0 {
		t.Fatalf("%d messages beyond the cap", len(all))
	}
	// 10:31: the second contact's day, refused by the cap, goes out from the bridge.
	for i := 0; i < 19; i++ {
		e.clock.Add(5 * time.Minute)
		time.Sleep(60 * time.Millisecond)
	}
	e.clock.Add(2 * time.Minute)
	Eventually(t, wait, "the refused day sent by the bridge", func() bool {
		_, all := messagesTo(b, "+19175550202")
		return len(all) == 1 && all[0].Status != "scheduled" && all[0].SendAt.IsZero()
	})
	// Once Twilio has room, the next days are handed over again.
	b.Twilio.SendDue()
	e.clock.Add(6 * time.Minute)
	Eventually(t, wait, "tomorrow's day at Twilio", func() bool { return b.Twilio.Outstanding() == 1 })
}

// A new number cancels what Twilio holds for the old one and hands the
// horizon's days to the new one; leaving monitoring cancels those and
// drops the rest.
func TestRollingScheduleNewNumberAndLeaving(t *testing.T) {
	t.Parallel()
	e := channelsWorld(t, twiliosim.Options{})
	b := e.b
	day := e.today()
	id := e.enroll(t, 31, day, map[string]string{"MobilePhone": "(917) 555-0211", "Preferred_Time__c": "10:30"})
	Eventually(t, wait, "two days at Twilio", func() bool { s, _ := messagesTo(b, "+19175550211"); return len(s) == 2 })
	update := func(n int, phone, status string) {
		b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(n), Fields: map[string]*string{
			"Id": S(id), "FirstName": S("Rosa"), "MobilePhone": S(phone), "Monitoring_Status__c": S(status),
			"Monitoring_Start__c": S(day), "Preferred_Time__c": S("10:30")}}))
	}
	update(431, "(917) 555-0212", "Active")
	Eventually(t, wait, "the days moved to the new number", func() bool {
		old, _ := messagesTo(b, "+19175550211")
		cur, _ := messagesTo(b, "+19175550212")
		return len(old) == 0 && len(cur) == 2
	})
	update(432, "(917) 555-0212", "Completed")
	Eventually(t, wait, "the days canceled", func() bool { s, _ := messagesTo(b, "+19175550212"); return len(s) == 0 })
	for i := 0; i < 6; i++ {
		e.clock.Add(12 * time.Hour)
		time.Sleep(120 * time.Millisecond)
	}
	_, old := messagesTo(b, "+19175550211")
	_, cur := messagesTo(b, "+19175550212")
	if len(old) != 2 || len(cur) != 2 {
		t.Fatalf("%d and %d messages after leaving monitoring, want only the 2 and 2 canceled", len(old), len(cur))
	}
}
