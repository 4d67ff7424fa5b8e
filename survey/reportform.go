package survey

import (
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
)

// Limits of the self-report form.
const (
	MaxReportRows  = 30 // rows a case may send at once
	ReportLookback = 21 // days: older contacts are past their quarantine
	maxNameRunes   = 40 // Contact.FirstName is 40 characters in Salesforce
	maxEmailBytes  = 254
)

// ReportRow is one row as typed (kept for the re-rendered page only).
type ReportRow struct {
	FirstName, Phone, Email, LastContact string
	Household                            bool
}

func (r ReportRow) empty() bool {
	return r.FirstName == "" && r.Phone == "" && r.Email == "" && r.LastContact == "" && !r.Household
}

// RowProblems names what is wrong with one row, as keys of the page text.
type RowProblems struct {
	Name, Contact, Date string
}

func (p RowProblems) any() bool { return p.Name != "" || p.Contact != "" || p.Date != "" }

// Problem keys (reportText fields carry their words).
const (
	probNameMissing    = "name_missing"
	probNameTooLong    = "name_too_long"
	probContactMissing = "contact_missing"
	probPhoneInvalid   = "phone_invalid"
	probEmailInvalid   = "email_invalid"
	probDateInvalid    = "date_invalid"
	probDateFuture     = "date_future"
	probDateTooOld     = "date_too_old"
	probEmpty          = "empty"
	probTooMany        = "too_many"
)

// ReportForm is a parsed POST of the report page.
type ReportForm struct {
	Rows []ReportRow
	// Add or Remove: the post only edits the rows (re-rendered, nothing
	// written). RemoveAt is the row to drop.
	Add, Remove bool
	RemoveAt    int
	// TooMany: a row past MaxReportRows carried something.
	TooMany bool
}

// ParseReportForm reads the rows first_name.N, phone.N, email.N,
// last_contact.N and household.N (N from 0 to 29), and the add/remove
// controls. It never fails: whatever it cannot use is left out or flagged.
func ParseReportForm(form url.Values) ReportForm {
	var f ReportForm
	n := 0
	for key, vals := range form {
		field, idx, ok := strings.Cut(key, ".")
		if !ok || !reportFields[field] {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || strconv.Itoa(i) != idx {
			continue
		}
		if i >= MaxReportRows {
			if len(vals) > 0 && strings.TrimSpace(vals[0]) != "" {
				f.TooMany = true
			}
			continue
		}
		n = max(n, i+1)
	}
	f.Rows = make([]ReportRow, n)
	for i := range f.Rows {
		get := func(field string) string { return cleanText(form.Get(field + "." + strconv.Itoa(i))) }
		f.Rows[i] = ReportRow{
			FirstName:   get("first_name"),
			Phone:       get("phone"),
			Email:       get("email"),
			LastContact: get("last_contact"),
			Household:   strings.EqualFold(get("household"), "yes"),
		}
	}
	if _, ok := form["add"]; ok {
		f.Add = true
	} else if v, ok := form["remove"]; ok {
		f.Remove, f.RemoveAt = true, -1
		if len(v) > 0 {
			if i, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil && i >= 0 && i < len(f.Rows) {
				f.RemoveAt = i
			}
		}
	}
	return f
}

var reportFields = map[string]bool{"first_name": true, "phone": true, "email": true, "last_contact": true, "household": true}

// cleanText trims, drops control characters and bounds the length, so
// nothing odd reaches Salesforce or the page.
func cleanText(s string) string {
	if len(s) > 512 {
		s = s[:512]
	}
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// EditRows applies an add or remove: at least one row, at most MaxReportRows.
func (f ReportForm) EditRows() []ReportRow {
	rows := append([]ReportRow(nil), f.Rows...)
	switch {
	case f.Add && len(rows) < MaxReportRows:
		rows = append(rows, ReportRow{})
	case f.Remove && len(rows) > 0:
		at := f.RemoveAt
		if at < 0 {
			at = len(rows) - 1
		}
		rows = append(rows[:at], rows[at+1:]...)
	}
	if len(rows) == 0 {
		rows = []ReportRow{{}}
	}
	return rows
}

// ValidateReport checks every row against today (the date in
// BRIDGE_TIMEZONE): a first name; a valid mobile phone or email; a last
// day together, when given, within the last ReportLookback days. Rows left
// wholly empty are skipped. It returns the contacts, one per person
// (CaseContactKey), or the problems row by row and for the whole form.
func ValidateReport(caseID string, f ReportForm, today time.Time) (contacts []event.ReportedContact, rows []RowProblems, formProblem string) {
	rows = make([]RowProblems, len(f.Rows))
	y, m, d := today.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	oldest := day.AddDate(0, 0, -ReportLookback)
	bad := false
	byKey := map[string]int{}
	for i, r := range f.Rows {
		if r.empty() {
			continue
		}
		var p RowProblems
		switch {
		case r.FirstName == "":
			p.Name = probNameMissing
		case utf8.RuneCountInString(r.FirstName) > maxNameRunes:
			p.Name = probNameTooLong
		}
		c := event.ReportedContact{FirstName: r.FirstName, Household: r.Household}
		if r.Phone != "" {
			if e, ok := mapping.E164(r.Phone); ok {
				c.Phone = e
			} else {
				p.Contact = probPhoneInvalid
			}
		}
		if r.Email != "" {
			if e, ok := validEmail(r.Email); ok {
				c.Email = e
			} else if p.Contact == "" {
				p.Contact = probEmailInvalid
			}
		}
		if r.Phone == "" && r.Email == "" {
			p.Contact = probContactMissing
		}
		if r.LastContact != "" {
			t, err := time.Parse("2006-01-02", r.LastContact)
			switch {
			case err != nil || !dateRe.MatchString(r.LastContact):
				p.Date = probDateInvalid
			case t.After(day):
				p.Date = probDateFuture
			case t.Before(oldest):
				p.Date = probDateTooOld
			default:
				c.LastContact = r.LastContact
			}
		}
		rows[i] = p
		if p.any() {
			bad = true
			continue
		}
		key := mapping.CaseContactKey(caseID, c.Phone, c.Email)
		if j, seen := byKey[key]; seen {
			// The same person twice: one record, the latest day, household if either said so.
			prev := &contacts[j]
			if c.LastContact > prev.LastContact {
				prev.LastContact = c.LastContact
			}
			prev.Household = prev.Household || c.Household
			if prev.Email == "" {
				prev.Email = c.Email
			}
			continue
		}
		byKey[key] = len(contacts)
		contacts = append(contacts, c)
	}
	switch {
	case f.TooMany:
		formProblem = probTooMany
	case bad:
	case len(contacts) == 0:
		formProblem = probEmpty
	}
	if bad || formProblem != "" {
		return nil, rows, formProblem
	}
	return contacts, rows, ""
}

// validEmail accepts a bare address (no display name), lower-cased.
func validEmail(s string) (string, bool) {
	if len(s) > maxEmailBytes || strings.ContainsAny(s, " <>\"") {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", false
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, ".") {
		return "", false
	}
	return strings.ToLower(a.Address), true
}
