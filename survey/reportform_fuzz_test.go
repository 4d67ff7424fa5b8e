package survey_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/survey"
)

// FuzzReportForm: any body parses without panicking into at most 30 rows;
// an edit never yields more than 30 rows nor none; a list that validates
// has one contact per person, each with a name, an E.164 phone or a
// lower-cased email, and a date inside the 21 days.
func FuzzReportForm(f *testing.F) {
	f.Add("first_name.0=Ana&phone.0=2125550101&last_contact.0=2026-03-01&household.0=yes")
	f.Add("first_name.0=Ana&phone.0=2125550101&first_name.1=Ana&phone.1=%2B1+212+555+0101")
	f.Add("first_name.0=Ben&email.0=Ben%40Example.org&add=1")
	f.Add("first_name.29=x&phone.29=2125550101&remove=29")
	f.Add("first_name.30=x&first_name.007=y&phone.-1=1&remove=abc")
	f.Add("first_name.0=%00%FF&last_contact.0=2026-02-30")
	today := time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		rf := survey.ParseReportForm(form)
		if len(rf.Rows) > survey.MaxReportRows {
			t.Fatalf("%d rows", len(rf.Rows))
		}
		for _, r := range rf.Rows {
			for _, s := range []string{r.FirstName, r.Phone, r.Email, r.LastContact} {
				if !utf8.ValidString(s) || len(s) > 512 || strings.TrimSpace(s) != s {
					t.Fatalf("unclean value %q", s)
				}
			}
		}
		if rf.Add || rf.Remove {
			if n := len(rf.EditRows()); n < 1 || n > survey.MaxReportRows {
				t.Fatalf("edit gave %d rows", n)
			}
		}
		contacts, problems, formProblem := survey.ValidateReport("003RM00000Cs1a2YAB", rf, today)
		if len(problems) != len(rf.Rows) {
			t.Fatalf("%d problems for %d rows", len(problems), len(rf.Rows))
		}
		if contacts == nil {
			return
		}
		if formProblem != "" || len(contacts) > len(rf.Rows) {
			t.Fatalf("accepted with %q, %d contacts", formProblem, len(contacts))
		}
		keys := map[string]bool{}
		for _, c := range contacts {
			key := mapping.CaseContactKey("003RM00000Cs1a2YAB", c.Phone, c.Email)
			switch {
			case keys[key]:
				t.Fatalf("the same person twice: %s", key)
			case c.FirstName == "" || utf8.RuneCountInString(c.FirstName) > 40:
				t.Fatalf("name %q", c.FirstName)
			case c.Phone == "" && c.Email == "":
				t.Fatalf("neither phone nor email")
			case c.Phone != "" && !strings.HasPrefix(c.Phone, "+"):
				t.Fatalf("phone %q", c.Phone)
			case c.Email != strings.ToLower(c.Email):
				t.Fatalf("email %q", c.Email)
			case c.LastContact != "" && (c.LastContact > "2026-03-02" || c.LastContact < "2026-02-09"):
				t.Fatalf("date %q", c.LastContact)
			}
			keys[key] = true
		}
	})
}
