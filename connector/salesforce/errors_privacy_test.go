package salesforce

import (
	"strings"
	"testing"
)

// Salesforce's messages can quote values; the error text (logged, stored in
// dead letters) keeps only status, code and field names.
func TestAPIErrorTextHoldsNoValues(t *testing.T) {
	e := &APIError{Status: 400, Code: "STRING_TOO_LONG", Message: "Subject: data value too large: Jordan Example's call (max length=5)", Fields: []string{"Subject"}}
	got := e.Error()
	if strings.Contains(got, "Jordan") || !strings.Contains(got, "STRING_TOO_LONG") || !strings.Contains(got, "Subject") || !strings.Contains(got, "400") {
		t.Fatalf("error text %q", got)
	}
	if e.Message == "" {
		t.Fatal("the message must stay available to callers that show it to an operator")
	}
}
