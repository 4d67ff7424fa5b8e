package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMappingSaveReachesEveryInstanceAndTheNextMessage(t *testing.T) {
	t.Parallel()
	b1 := MustStart(t, Options{})
	b2 := MustStart(t, Options{Redis: b1.Redis, SF: b1.SF, Twilio: b1.Twilio})
	admin := map[string]string{"Authorization": "Bearer " + b1.AdminToken, "Content-Type": "application/yaml"}

	resp, _ := b1.Do(http.MethodGet, "/admin/api/mappings", nil, admin)
	version := resp.Header.Get("X-Mapping-Version")
	doc := strings.Replace(Testdata(t, "mapping.yaml"), "    case_number: {field: Case_Number__c}\n",
		"    case_number: {field: Case_Number__c}\n    case.priority_label: {field: Priority__c, map: {\"1\": low, \"2\": high}}\n", 1)

	// A stale If-Match is refused and stores nothing.
	admin["If-Match"] = `"999"`
	if resp, body := b1.Do(http.MethodPut, "/admin/api/mappings", doc, admin); resp.StatusCode != http.StatusConflict {
		t.Fatalf("stale If-Match: %d %s", resp.StatusCode, body)
	}
	admin["If-Match"] = `"` + version + `"`
	resp, body := b1.Do(http.MethodPut, "/admin/api/mappings", doc, admin)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	var saved struct{ Version int64 }
	_ = json.Unmarshal(body, &saved)

	// The other instance has it in force within 2 s (it polls every 100 ms
	// here, every second in production).
	start := time.Now()
	Eventually(t, 2*time.Second, "the new mapping in force on the second instance", func() bool {
		return b2.Server.MappingVersion() == saved.Version
	})
	t.Logf("second instance had version %d in force after %s", saved.Version, time.Since(start).Round(time.Millisecond))
	// The next outbound message, taken by the other instance, uses it.
	b2.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(60), Fields: contact(ContactID(60), "Vic", "(212) 555-0160", "Needs Outreach")}))
	Eventually(t, wait, "a task with the new attribute", func() bool {
		for _, task := range b1.Twilio.Tasks() {
			if c, ok := task.Attributes["case"].(map[string]any); ok && c["priority_label"] == "low" {
				return true
			}
		}
		return false
	})

	// History names who saved; rollback makes a new version equal to the old one.
	resp, body = b2.Do(http.MethodGet, "/admin/api/mappings/history", nil, map[string]string{"Authorization": "Bearer " + b2.AdminToken})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ada-admin") {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	resp, body = b2.Do(http.MethodPost, "/admin/api/mappings/rollback?version="+version, nil, map[string]string{"Authorization": "Bearer " + b2.AdminToken})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rollback: %d %s", resp.StatusCode, body)
	}
}

func TestMappingSaveRefusesWithPaths(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	admin := map[string]string{"Authorization": "Bearer " + b.AdminToken, "Content-Type": "application/yaml"}
	doc := Testdata(t, "mapping.yaml")
	cases := map[string]struct{ from, to, path string }{
		"unknown key":       {"  days: 14\n", "  days: 14\n  dayz: 3\n", "reminders.dayz"},
		"unknown transform": {"{field: MobilePhone, transform: e164, required: true}", "{field: MobilePhone, transform: e165, required: true}", "record_to_task.attributes.to"},
		"protected field":   {"case_number: {field: Case_Number__c}", "case_number: {field: Index_Case_Name__c}", "record_to_task.attributes.case_number"},
		"bad placeholder":   {"please answer today's short health check: {{link}}", "please answer, {{case}}: {{link}}", "reminders.templates.en"},
		"no external_id":    {"  external_id: Survey_Key__c\n", "", "survey_to_crm"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			bad := strings.Replace(doc, tc.from, tc.to, 1)
			if bad == doc {
				t.Fatal("test document unchanged")
			}
			resp, body := b.Do(http.MethodPut, "/admin/api/mappings", bad, admin)
			var out struct {
				Errors []struct{ Path, Message string }
			}
			_ = json.Unmarshal(body, &out)
			found := false
			for _, e := range out.Errors {
				found = found || strings.HasPrefix(e.Path, tc.path)
			}
			if resp.StatusCode != http.StatusBadRequest || !found {
				t.Fatalf("want 400 with an error at %s, got %d %s", tc.path, resp.StatusCode, body)
			}
		})
	}
	resp, body := b.Do(http.MethodGet, "/admin/api/mappings/history", nil, admin)
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), `"version"`) != 1 {
		t.Fatalf("refused saves were stored: %s", body)
	}
}
