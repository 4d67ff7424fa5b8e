package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/cityhealth/bridge/test/sendgridsim"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// demoChannelContacts are in monitoring on each reminder channel, with
// their own time a few minutes after the demo starts, so every channel
// goes out while one watches.
var demoChannelContacts = []struct{ first, phone, email, channel string }{
	{"Priya", "(212) 555-0171", "", "text"},
	{"Tomás", "(212) 555-0172", "", "whatsapp"},
	{"Walter", "(212) 555-0173", "", "phone"}, // a landline: called, answers by keypad
	{"Grace", "", "grace.demo@example.org", "email"},
}

// seedChannelContacts adds them to the Salesforce stand-in; the voice one
// answers "no" to every question when called.
func seedChannelContacts(sf *sfsim.Server, tw *twiliosim.Server, loc *time.Location) (ids []string, at string) {
	now := time.Now().In(loc)
	at = now.Add(2 * time.Minute).Format("15:04")
	for _, c := range demoChannelContacts {
		rec := map[string]any{
			"FirstName": c.first, "LastName": "Demo", "Preferred_Language__c": "English", "Outreach_Status__c": "Closed",
			"Monitoring_Status__c": "Active", "Monitoring_Start__c": now.Format("2006-01-02"),
			"Preferred_Channel__c": c.channel, "Preferred_Time__c": at, "Index_Case_Name__c": "Protected Person",
		}
		if c.phone != "" {
			rec["MobilePhone"] = c.phone
		}
		if c.email != "" {
			rec["Email"] = c.email
		}
		ids = append(ids, sf.AddRecord("Contact", rec))
	}
	tw.ScriptCall("+12125550173", twiliosim.CallScript{Keys: []string{"2", "2"}})
	return ids, at
}

// channelsNote says what the channel contacts get, and where to see it.
func channelsNote(at string, sg *sendgridsim.Server) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - four contacts are in monitoring at %s today, one per channel: Priya by SMS (too near for\n", at)
	b.WriteString("    Twilio's scheduler today, so the bridge sends it; tomorrow's is at Twilio), Tomás by WhatsApp\n")
	b.WriteString("    (a Content template), Walter by a voice call he answers by keypad (a Symptom_Survey__c row\n")
	fmt.Fprintf(&b, "    follows), Grace by email (SendGrid sim at %s)\n", sg.URL)
	return b.String()
}
