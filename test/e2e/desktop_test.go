package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The Flex plugin's routes: inbound screen pop and the wrap-up choices.

func (b *Bridge) callers(token, phone string) (int, []map[string]any, string) {
	b.tb.Helper()
	resp, body := b.Do(http.MethodGet, "/v1/callers/"+url.PathEscape(phone), nil, map[string]string{"X-Flex-Token": token})
	var out struct {
		Records []map[string]any `json:"records"`
	}
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out.Records, string(body)
}

func TestCallerLookupScreenPop(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "(718) 555-0199", "718 555 0199", "Avery", "Blake")
	flex := b.Twilio.IssueFlexToken("tracer@cityhealth.example", b.WorkerSID, time.Hour)

	// Two records hold the number, written two ways, in different fields; a
	// third holds another number.
	a := b.SF.AddRecord("Contact", map[string]any{"FirstName": "Avery", "LastName": "T", "MobilePhone": "(718) 555-0199", "Index_Case_Name__c": "Jordan Example"})
	c := b.SF.AddRecord("Contact", map[string]any{"FirstName": "Blake", "LastName": "T", "Phone": "718 555 0199", "Index_Case_Name__c": "Jordan Example"})
	b.SF.AddRecord("Contact", map[string]any{"FirstName": "Casey", "LastName": "T", "MobilePhone": "(718) 555-0100"})

	for _, phone := range []string{"+17185550199", "(718) 555-0199", "718-555-0199", "718 555 0199", "7185550199"} {
		status, recs, body := b.callers(flex, phone)
		if status != http.StatusOK || len(recs) != 2 {
			t.Fatalf("%s: %d %s", phone, status, body)
		}
		got := map[any]any{recs[0]["record_id"]: recs[0]["label"], recs[1]["record_id"]: recs[1]["label"]}
		if got[a] != "Avery" || got[c] != "Blake" || recs[0]["object"] != "Contact" {
			t.Fatalf("%s: records %v", phone, recs)
		}
		if strings.Contains(body, "Jordan") || strings.Contains(body, "Index_Case") {
			t.Fatalf("protected field in the answer: %s", body)
		}
	}
	// One E.164 number, one cache entry: five spellings cost one query.
	var queries int64
	for k, n := range b.SF.CallCounts() {
		if strings.Contains(k, "/query") {
			queries += n
		}
	}
	if queries != 1 {
		t.Errorf("%d Salesforce queries for one number, want 1 (warm cache)", queries)
	}

	// None: an empty list, not null.
	status, recs, body := b.callers(flex, "+13475550000")
	if status != http.StatusOK || recs == nil || len(recs) != 0 || !strings.Contains(body, `"records":[]`) {
		t.Fatalf("no match: %d %s", status, body)
	}
	// A quote in the number cannot reach SOQL: it is not a number.
	for _, bad := range []string{"' OR Id != null", "abc", "12"} {
		if status, _, body := b.callers(flex, bad); status != http.StatusBadRequest || strings.Contains(body, bad) {
			t.Errorf("%q: %d %s", bad, status, body)
		}
	}
	// Without a token, or with a refused Flex token: 401.
	if resp, _ := b.Do(http.MethodGet, "/v1/callers/7185550199", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if status, _, _ := b.callers("eyJ.invalid.flex", "7185550199"); status != http.StatusUnauthorized {
		t.Errorf("invalid flex token: %d", status)
	}
}

func TestCallerLookupSalesforceDown(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.SF.Fail503(50)
	resp, body := b.Do(http.MethodGet, "/v1/callers/7185550199", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "try again") || strings.Contains(string(body), "555") {
		t.Fatalf("Salesforce down: %d %s", resp.StatusCode, body)
	}
}

func TestWrapupDispositions(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	resp, body := b.Do(http.MethodGet, "/v1/wrapup", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken})
	if resp.StatusCode != http.StatusOK || string(body) != `{"dispositions":["Reached","No answer","Left voicemail","Wrong number","Refused"]}` {
		t.Fatalf("wrapup: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(http.MethodGet, "/v1/wrapup", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}
