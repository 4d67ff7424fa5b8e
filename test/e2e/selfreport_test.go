package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

var reportLinkRE = regexp.MustCompile(`https?://\S+(/report/\S+)`)

// The planted case: nothing of it may reach a contact's task, or the log.
const (
	caseFirst   = "Marisol"
	caseLast    = "Quintanilla-Index"
	casePhone   = "(917) 555-0142"
	caseE164    = "+19175550142"
	caseProtect = "Protected Index Name"
)

// selfReportWorld starts a bridge whose Salesforce stand-in sends an
// Outbound Message when a contact is created with Outreach_Status__c =
// Needs Outreach (a record-triggered flow in production), and seeds a case.
func selfReportWorld(t *testing.T, status string) (*Bridge, string) {
	t.Helper()
	b := MustStart(t, Options{})
	b.Log.Plant(caseFirst, caseLast, caseProtect, casePhone, caseE164, "Anabel", "Benito", "Carmelo", "carmelo@example.org", "5550177", "5550178")
	path := "/webhooks/salesforce/outbound"
	if tok := b.Config.Salesforce.OutboundToken; tok != "" {
		path += "?token=" + url.QueryEscape(tok)
	}
	b.SF.SendOutboundOnInsert(sfsim.OutboundRule{Object: "Contact", URL: b.URL + path,
		When: func(r map[string]any) bool { return r["Outreach_Status__c"] == "Needs Outreach" }})
	id := b.SF.AddRecord("Contact", map[string]any{
		"FirstName": caseFirst, "LastName": caseLast, "MobilePhone": casePhone, "Preferred_Language__c": "Spanish",
		"Outreach_Status__c": "Closed", "Index_Case_Name__c": caseProtect, "Elicitation_Status__c": status,
	})
	return b, id
}

func caseNotification(id string, n int, status string) string {
	return OutboundMessage(SampleOrgID, Notification{ID: NotificationID(n), Fields: map[string]*string{
		"Id": S(id), "FirstName": S(caseFirst), "LastName": S(caseLast), "MobilePhone": S(casePhone),
		"Preferred_Language__c": S("Spanish"), "Outreach_Status__c": S("Closed"), "Elicitation_Status__c": S(status),
		"Index_Case_Name__c": S(caseProtect),
	}})
}

func reportTexts(b *Bridge) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range b.Twilio.Messages() {
		if strings.Contains(m.Body, "/report/") {
			out = append(out, m)
		}
	}
	return out
}

func reportPath(t *testing.T, m twiliosim.Message) string {
	t.Helper()
	p := reportLinkRE.FindStringSubmatch(m.Body)
	if p == nil {
		t.Fatalf("no report link in %q", m.Body)
	}
	return p[1]
}

func (b *Bridge) postForm(path string, form url.Values) (*http.Response, string) {
	b.tb.Helper()
	resp, body := b.Do(http.MethodPost, path, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	return resp, string(body)
}

func reportedContacts(b *Bridge) []map[string]any {
	var out []map[string]any
	for _, r := range b.SF.Records("Contact") {
		if k, _ := r["Elicitation_Key__c"].(string); k != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestSelfReportEndToEnd: a case entering Requested is texted one link
// (however often Salesforce delivers); the case names three contacts, one
// twice; Salesforce holds two new contacts, each gets an outreach task
// through the Outbound Message its creation fires, and nothing of the case
// reaches the tasks.
func TestSelfReportEndToEnd(t *testing.T) {
	t.Parallel()
	b, caseID := selfReportWorld(t, "Requested")
	msg := caseNotification(caseID, 500, "Requested")
	b.MustOutbound(msg)
	Eventually(t, wait, "the report link SMS", func() bool { return len(reportTexts(b)) == 1 })
	b.MustOutbound(msg)                                        // Salesforce's retry
	b.MustOutbound(caseNotification(caseID, 501, "Requested")) // another change, still Requested
	resp, body := b.Do(http.MethodPost, "/v1/records/"+caseID+"/elicitation", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken})
	if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(string(body)) != `{"sent":false}` {
		t.Fatalf("elicitation with a link out: %d %s", resp.StatusCode, body)
	}
	b.Settle(wait)
	texts := reportTexts(b)
	if len(texts) != 1 {
		t.Fatalf("%d report texts, want 1", len(texts))
	}
	sms := texts[0]
	if sms.To != caseE164 || sms.MessagingServiceSID != b.Twilio.MessagingServiceSID || !strings.HasPrefix(sms.Body, "Hola "+caseFirst+", díganos") || strings.Contains(sms.Body, caseLast) {
		t.Fatalf("text to %s via %s: %q", sms.To, sms.MessagingServiceSID, sms.Body)
	}
	link := reportPath(t, sms)

	resp, body = b.Do(http.MethodGet, link, nil, nil)
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, "Hola, "+caseFirst+":") || strings.Contains(page, caseLast) || strings.Contains(page, caseProtect) {
		t.Fatalf("page %d:\n%s", resp.StatusCode, page)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("headers %v", resp.Header)
	}
	t.Logf("report page weight: %d bytes (GET, one row, es)", len(body))

	ny, _ := time.LoadLocation("America/New_York")
	today := time.Now().In(ny)
	form := url.Values{
		"first_name.0": {"Anabel"}, "phone.0": {"(646) 555-0177"}, "last_contact.0": {today.AddDate(0, 0, -2).Format("2006-01-02")}, "household.0": {"yes"},
		"first_name.1": {"Benito"}, "phone.1": {"718.555.0178"}, "last_contact.1": {today.Format("2006-01-02")},
		"first_name.2": {"Anabel"}, "phone.2": {"+1 646 555 0177"}, "last_contact.2": {today.AddDate(0, 0, -1).Format("2006-01-02")},
	}
	b.SF.ResetCounters()
	resp, page = b.postForm(link, form)
	if resp.StatusCode != 200 || strings.Contains(page, "Anabel") || strings.Contains(page, "555") {
		t.Fatalf("submission %d:\n%s", resp.StatusCode, page)
	}
	Eventually(t, wait, "two reported contacts in Salesforce", func() bool { return len(reportedContacts(b)) == 2 })
	Eventually(t, wait, "two outreach tasks", func() bool { return len(b.Twilio.OpenTasks()) == 2 })
	b.Settle(wait)
	calls := b.SF.CallCounts()
	t.Logf("Salesforce calls for the submission and the contacts' record sync: %v", calls)
	collections := int64(0)
	for path, n := range calls {
		if strings.Contains(path, "/composite/sobjects") {
			collections += n
		}
	}
	if collections != 1 {
		t.Errorf("%d Collections calls for one submission, want 1", collections)
	}

	contacts := reportedContacts(b)
	byName := map[string]map[string]any{}
	for _, c := range contacts {
		byName[c["FirstName"].(string)] = c
		if c["Source_Case__c"] != caseID || c["LastName"] != "(self-reported)" || c["Outreach_Status__c"] != "Needs Outreach" {
			t.Errorf("contact %v", c)
		}
	}
	ana, ben := byName["Anabel"], byName["Benito"]
	if ana == nil || ben == nil || ana["MobilePhone"] != "+16465550177" || ana["Household_Contact__c"] != true ||
		ana["Last_Exposure_Date__c"] != today.AddDate(0, 0, -1).Format("2006-01-02") || ana["Elicitation_Key__c"] != caseID+"-+16465550177" ||
		ben["Household_Contact__c"] != false {
		t.Fatalf("contacts %v", contacts)
	}
	for _, task := range b.Twilio.OpenTasks() {
		raw, _ := json.Marshal(task.Attributes)
		attrs := string(raw)
		for _, leak := range []string{caseID, caseID[:15], caseFirst, caseLast, caseProtect, "19175550142", "Source_Case__c", "Elicitation"} {
			if strings.Contains(attrs, leak) {
				t.Errorf("task attributes carry %q of the case: %s", leak, attrs)
			}
		}
		crm, _ := task.Attributes["crm"].(map[string]any)
		if id := crm["record_id"]; id != ana["Id"] && id != ben["Id"] {
			t.Errorf("task for %v", id)
		}
	}

	// The link is used: 409, no CRM call; a new request may now send a new link.
	b.SF.ResetCounters()
	if resp, _ := b.postForm(link, form); resp.StatusCode != http.StatusConflict {
		t.Errorf("resubmission: %d", resp.StatusCode)
	}
	b.Settle(wait)
	if n := b.SF.APICalls(); n != 0 {
		t.Errorf("a resubmission made %d Salesforce calls", n)
	}
	if len(reportedContacts(b)) != 2 {
		t.Errorf("resubmission changed Salesforce")
	}
}

// TestSelfReportRequestFromFlex: a tracer's request texts one link; bad
// input on the page answers 422 and writes nothing; links of other
// purposes or forged ones are refused.
func TestSelfReportRequestFromFlex(t *testing.T) {
	t.Parallel()
	b, caseID := selfReportWorld(t, "")
	auth := map[string]string{"Authorization": "Bearer " + b.AgentToken}
	resp, body := b.Do(http.MethodPost, "/v1/records/"+caseID[:15]+"/elicitation", nil, auth)
	if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(string(body)) != `{"sent":true}` {
		t.Fatalf("elicitation: %d %s", resp.StatusCode, body)
	}
	resp, body = b.Do(http.MethodPost, "/v1/records/"+caseID+"/elicitation", nil, auth)
	if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(string(body)) != `{"sent":false}` {
		t.Fatalf("second elicitation: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(http.MethodPost, "/v1/records/"+caseID+"/elicitation", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	if resp, _ := b.Do(http.MethodPost, "/v1/records/003RM0000000000AAA/elicitation", nil, auth); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown case: %d", resp.StatusCode)
	}
	noPhone := b.SF.AddRecord("Contact", map[string]any{"FirstName": "Nadie", "LastName": "Sin-Numero"})
	if resp, body := b.Do(http.MethodPost, "/v1/records/"+noPhone+"/elicitation", nil, auth); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "MobilePhone") {
		t.Errorf("case without a number: %d %s", resp.StatusCode, body)
	}
	texts := reportTexts(b)
	if len(texts) != 1 || texts[0].To != caseE164 {
		t.Fatalf("texts %v", texts)
	}
	link := reportPath(t, texts[0])

	ny, _ := time.LoadLocation("America/New_York")
	today := time.Now().In(ny)
	good := url.Values{"first_name.0": {"Carmelo"}, "email.0": {"carmelo@example.org"}, "last_contact.0": {today.Format("2006-01-02")}}
	bad := []url.Values{
		{"first_name.0": {""}, "phone.0": {"6465550177"}},
		{"first_name.0": {"Carmelo"}},
		{"first_name.0": {"Carmelo"}, "phone.0": {"555"}},
		{"first_name.0": {"Carmelo"}, "email.0": {"carmelo@"}},
		{"first_name.0": {"Carmelo"}, "phone.0": {"6465550177"}, "last_contact.0": {today.AddDate(0, 0, 1).Format("2006-01-02")}},
		{"first_name.0": {"Carmelo"}, "phone.0": {"6465550177"}, "last_contact.0": {today.AddDate(0, 0, -22).Format("2006-01-02")}},
	}
	b.SF.ResetCounters()
	for i, f := range bad {
		resp, page := b.postForm(link, f)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `class="rowerr"`) {
			t.Errorf("bad form %d: %d", i, resp.StatusCode)
		}
	}
	for _, f := range []url.Values{{"add": {"1"}}, {"remove": {"0"}}} {
		if resp, _ := b.postForm(link, f); resp.StatusCode != 200 {
			t.Errorf("edit %v: %d", f, resp.StatusCode)
		}
	}
	b.Settle(wait)
	if n := b.SF.APICalls(); n != 0 || len(reportedContacts(b)) != 0 {
		t.Fatalf("bad input reached Salesforce: %d calls", n)
	}
	// forged and cross-purpose links: 404, no CRM call
	for _, p := range []string{"/report/" + "eyJhbGciOiJIUzI1NiJ9.e30.x", "/report/" + strings.TrimPrefix(link, "/report/")[:20]} {
		if resp, _ := b.postForm(p, good); resp.StatusCode != http.StatusNotFound {
			t.Errorf("forged %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := b.Do(http.MethodGet, "/survey/"+strings.TrimPrefix(link, "/report/"), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a report token on the survey page: %d", resp.StatusCode)
	}
	if resp, page := b.postForm(link, good); resp.StatusCode != 200 {
		t.Fatalf("good form: %d %s", resp.StatusCode, page)
	}
	Eventually(t, wait, "the reported contact", func() bool { return len(reportedContacts(b)) == 1 })
	if c := reportedContacts(b)[0]; c["Elicitation_Key__c"] != caseID+"-carmelo@example.org" {
		t.Errorf("contact %v", c)
	}
	// the used link lets a tracer ask again
	resp, body = b.Do(http.MethodPost, "/v1/records/"+caseID+"/elicitation", nil, auth)
	if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(string(body)) != `{"sent":true}` {
		t.Fatalf("elicitation after use: %d %s", resp.StatusCode, body)
	}
}
