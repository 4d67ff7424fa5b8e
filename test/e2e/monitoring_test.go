package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/twiliosim"
)

var linkRE = regexp.MustCompile(`https?://\S+/survey/\S+`)

// monitoredContact seeds a Spanish-speaking contact in Salesforce and sends
// the Outbound Message that puts them under monitoring from tomorrow.
func monitoredContact(t *testing.T, b *Bridge, n int, phone string) (id, start string) {
	t.Helper()
	ny, _ := time.LoadLocation("America/New_York")
	start = time.Now().In(ny).AddDate(0, 0, 1).Format("2006-01-02")
	id = b.SF.AddRecord("Contact", map[string]any{"FirstName": "Inés", "LastName": "Tester", "MobilePhone": phone})
	fields := map[string]*string{
		"Id": S(id), "FirstName": S("Inés"), "MobilePhone": S(phone), "Preferred_Language__c": S("Spanish"),
		"Monitoring_Status__c": S("Active"), "Monitoring_Start__c": S(start), "Outreach_Status__c": S("Closed"),
		"Index_Case_Name__c": S("Jordan Example"),
	}
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(100 + n), Fields: fields}))
	return id, start
}

func TestMonitoringSchedulesFourteenRemindersOnce(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{Env: AllDaysAtTwilio})
	b.Log.Plant("Inés", "Jordan Example", "(917) 555-0190")
	id, start := monitoredContact(t, b, 1, "(917) 555-0190")
	Eventually(t, wait, "14 scheduled reminders", func() bool { return len(b.Twilio.Scheduled()) == 14 })
	b.Settle(wait)

	ny, _ := time.LoadLocation("America/New_York")
	days := map[string]bool{}
	for _, m := range b.Twilio.Scheduled() {
		local := m.SendAt.In(ny)
		days[local.Format("2006-01-02")] = true
		switch {
		case m.To != "+19175550190", m.MessagingServiceSID != b.Twilio.MessagingServiceSID:
			t.Fatalf("message to %s via %s", m.To, m.MessagingServiceSID)
		case local.Hour() != 10 || local.Minute() != 0:
			t.Fatalf("reminder at %s local, want 10:00", local.Format("15:04"))
		case !strings.HasPrefix(m.Body, "Hola Inés") || !linkRE.MatchString(m.Body):
			t.Fatalf("body not the Spanish template with a link: %q", m.Body)
		case strings.Contains(m.Body, "Jordan"):
			t.Fatalf("protected field in an SMS: %q", m.Body)
		}
	}
	if len(days) != 14 || !days[start] {
		t.Fatalf("reminders on %d distinct days (first %s expected)", len(days), start)
	}

	// Re-delivery (Salesforce retries, or a new notification): nothing twice.
	b.Twilio.ResetCalls()
	monitoredAgain := map[string]*string{"Id": S(id), "FirstName": S("Inés"), "MobilePhone": S("(917) 555-0190"),
		"Preferred_Language__c": S("Spanish"), "Monitoring_Status__c": S("Active"), "Monitoring_Start__c": S(start)}
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(150), Fields: monitoredAgain}))
	b.Settle(wait)
	if n := b.Twilio.TotalCalls(); n != 0 || len(b.Twilio.Scheduled()) != 14 {
		t.Fatalf("re-delivery: %d Twilio calls, %d scheduled", n, len(b.Twilio.Scheduled()))
	}
}

func TestSurveyRoundTripToSalesforce(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{Env: AllDaysAtTwilio})
	id, start := monitoredContact(t, b, 2, "(917) 555-0191")
	Eventually(t, wait, "reminders", func() bool { return len(b.Twilio.Scheduled()) == 14 })
	path := strings.TrimPrefix(linkRE.FindString(firstReminder(b).Body), PublicURL)
	calls := b.SF.APICalls()

	resp, page := b.Do(http.MethodGet, path, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `lang="es"`) || !strings.Contains(string(page), "¿Tiene fiebre?") ||
		!strings.Contains(string(page), `name="Fever__c"`) || !strings.Contains(string(page), "viewport") {
		t.Fatalf("survey page: %d %s", resp.StatusCode, page)
	}
	if strings.Contains(string(page), "Jordan") || strings.Contains(string(page), "555-0191") {
		t.Fatal("the survey page shows more than the first name")
	}
	form := url.Values{"Fever__c": {"yes"}, "Cough__c": {"no"}, "Other_Symptoms__c": {"tired"}}
	post := func() int {
		resp, _ := b.Do(http.MethodPost, path, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		return resp.StatusCode
	}
	if s := post(); s != http.StatusOK {
		t.Fatalf("submit: %d", s)
	}
	if s := post(); s != http.StatusConflict {
		t.Fatalf("second submit: %d, want 409", s)
	}
	Eventually(t, wait, "the Symptom_Survey__c row", func() bool { return len(b.SF.Records("Symptom_Survey__c")) == 1 })
	b.Settle(wait)
	row := b.SF.Records("Symptom_Survey__c")[0]
	if row["Fever__c"] != true || row["Cough__c"] != false || row["Other_Symptoms__c"] != "tired" ||
		row["Survey_Key__c"] != id+"-"+start || row["Contact__c"] != id || row["Survey_Date__c"] != start {
		t.Fatalf("survey row: %v", row)
	}
	if n := len(b.SF.Records("Symptom_Survey__c")); n != 1 {
		t.Fatalf("%d survey rows", n)
	}
	// The page itself never called Salesforce: the one write is the upsert.
	if d := b.SF.APICalls() - calls; d != 1 {
		t.Fatalf("%d Salesforce calls for one survey, want 1 (the upsert)", d)
	}

	// Forged and malformed links: 404, no Salesforce call.
	calls = b.SF.APICalls()
	for _, bad := range []string{path[:len(path)-4] + "AAAA", "/survey/not-a-token", "/survey/" + strings.Repeat("x", 300)} {
		if resp, _ := b.Do(http.MethodGet, bad, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", bad, resp.StatusCode)
		}
	}
	if b.SF.APICalls() != calls {
		t.Fatal("a bad link reached Salesforce")
	}
}

// firstReminder is the earliest scheduled message: its link is for the start date.
func firstReminder(b *Bridge) twiliosim.Message {
	var first twiliosim.Message
	for _, m := range b.Twilio.Scheduled() {
		if first.SID == "" || m.SendAt.Before(first.SendAt) {
			first = m
		}
	}
	return first
}

func TestSMSReplyAndStop(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{Env: AllDaysAtTwilio})
	b.Log.Plant("feeling a bit tired", "(917) 555-0192")
	id, _ := monitoredContact(t, b, 3, "(917) 555-0192")
	Eventually(t, wait, "reminders", func() bool { return len(b.Twilio.Scheduled()) == 14 })

	// A reply becomes one activity, however often Twilio delivers it.
	reply := url.Values{"MessageSid": {sid("SM", 1)}, "From": {"+19175550192"}, "To": {"+12125550100"}, "Body": {"feeling a bit tired"}}
	for i := 0; i < 2; i++ {
		if resp, body := b.PostTwilio("/webhooks/twilio/sms", reply); resp.StatusCode != http.StatusOK {
			t.Fatalf("reply: %d %s", resp.StatusCode, body)
		}
	}
	Eventually(t, wait, "the reply activity", func() bool { return len(b.SF.Records("Task")) == 1 })
	b.Settle(wait)
	task := b.SF.Records("Task")[0]
	if task["WhoId"] != id || task["Description"] != "feeling a bit tired" || task["Twilio_Task_Sid__c"] != sid("SM", 1) {
		t.Fatalf("reply activity: %v", task)
	}

	// STOP cancels what is left and flags the contact.
	stop := url.Values{}
	for _, line := range strings.Split(Testdata(t, "twilio-sms-inbound.txt"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			stop.Set(k, v)
		}
	}
	stop.Set("From", "+19175550192")
	if resp, body := b.PostTwilio("/webhooks/twilio/sms", stop); resp.StatusCode != http.StatusOK {
		t.Fatalf("STOP: %d %s", resp.StatusCode, body)
	}
	Eventually(t, wait, "reminders canceled", func() bool { return len(b.Twilio.Scheduled()) == 0 })
	Eventually(t, wait, "opt-out flag in Salesforce", func() bool { return b.SF.Record("Contact", id)["SMS_Opt_Out__c"] == true })
	if n := len(b.SF.Records("Task")); n != 1 {
		t.Fatalf("STOP wrote %d activities; it is not a reply", n-1)
	}
}
