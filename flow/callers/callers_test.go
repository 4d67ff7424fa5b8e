package callers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/test/memkv"
)

type fakeCRM struct {
	mu      sync.Mutex
	queries []string
	rows    []salesforce.Record
	err     error
}

var _ CRM = (*fakeCRM)(nil)

func (f *fakeCRM) Query(_ context.Context, soql string) (salesforce.QueryPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, soql)
	if f.err != nil {
		return salesforce.QueryPage{}, f.err
	}
	return salesforce.QueryPage{Done: true, TotalSize: len(f.rows), Records: f.rows}, nil
}

var _ Store = (*memkv.Store)(nil)

type fixed struct{ m *mapping.Mapping }

func (f fixed) Current() *mapping.Mapping { return f.m }

func newFlow(t *testing.T, doc string, crm *fakeCRM, ttl time.Duration) *Flow {
	t.Helper()
	m, err := mapping.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{CRM: crm, Store: &memkv.Store{}, Mappings: fixed{m}, CacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLookup(t *testing.T) {
	crm := &fakeCRM{rows: []salesforce.Record{
		{"Id": "003RM00000Qx1a2YAB", "FirstName": "Alex", "MobilePhone": "(718) 555-0199", "Phone": nil},
		{"Id": "003RM00000Qx1a3YAB", "FirstName": "Jo", "MobilePhone": nil, "Phone": "718 555 0199"},
		{"Id": "003RM00000Qx1a4YAB", "FirstName": "Other", "MobilePhone": "(718) 555-0100"}, // not this number
	}}
	f := newFlow(t, config.ExampleMapping, crm, time.Minute)
	for _, phone := range []string{"+17185550199", "(718) 555-0199", "718-555-0199", "718 555 0199", "7185550199"} {
		got, err := f.Lookup(context.Background(), phone)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != (Match{"003RM00000Qx1a2YAB", "Contact", "Alex"}) || got[1].Label != "Jo" {
			t.Fatalf("%s: got %+v", phone, got)
		}
	}
	// Every spelling is one E.164 number, so one query served all five.
	if len(crm.queries) != 1 {
		t.Fatalf("queries = %d, want 1 (cached)", len(crm.queries))
	}
	q := crm.queries[0]
	for _, want := range []string{"SELECT Id, FirstName, MobilePhone, Phone FROM Contact WHERE ", "MobilePhone IN ('+17185550199', '(718) 555-0199', '718-555-0199', '718 555 0199', '7185550199'", " OR Phone IN (", "LIMIT 15"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %q lacks %q", q, want)
		}
	}
	if strings.Contains(q, "Index_Case_Name__c") {
		t.Error("a protected field was requested")
	}
}

func TestLookupNoneIsEmptyList(t *testing.T) {
	f := newFlow(t, config.ExampleMapping, &fakeCRM{}, 0)
	got, err := f.Lookup(context.Background(), "+442071838750")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("got %#v %v, want []", got, err)
	}
}

func TestLookupAtMostTen(t *testing.T) {
	crm := &fakeCRM{}
	for i := range 14 {
		crm.rows = append(crm.rows, salesforce.Record{"Id": "003RM00000Qx1a" + string(rune('A'+i)) + "YAB", "MobilePhone": "+17185550199"})
	}
	doc := "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [MobilePhone], label: {field: FirstName}}\n    - {object: Lead, phone_fields: [Phone], label: {field: FirstName}}\n"
	got, err := newFlow(t, doc, crm, 0).Lookup(context.Background(), "7185550199")
	if err != nil || len(got) != MaxRecords {
		t.Fatalf("got %d %v", len(got), err)
	}
	if len(crm.queries) != 1 {
		t.Errorf("a full first object must not query the next: %d queries", len(crm.queries))
	}
}

func TestLookupErrors(t *testing.T) {
	f := newFlow(t, config.ExampleMapping, &fakeCRM{err: errors.New("503 from Salesforce for 7185550199")}, time.Minute)
	if _, err := f.Lookup(context.Background(), "7185550199"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("CRM failure: %v", err)
	}
	for _, bad := range []string{"", "12", "not a number", "+1718555019912345", "' OR Id != null"} {
		if _, err := f.Lookup(context.Background(), bad); !errors.Is(err, ErrInvalidPhone) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	nomap := newFlow(t, "protected: [X__c]\n", &fakeCRM{}, 0)
	if _, err := nomap.Lookup(context.Background(), "7185550199"); !errors.Is(err, ErrNotMapped) {
		t.Errorf("no section: %v", err)
	}
}

func TestSpellings(t *testing.T) {
	got := Spellings("+17185550199")
	for _, want := range []string{"+17185550199", "(718) 555-0199", "718-555-0199", "718 555 0199", "7185550199"} {
		found := false
		for _, s := range got {
			found = found || s == want
		}
		if !found {
			t.Errorf("missing %q in %v", want, got)
		}
	}
	for _, s := range got {
		if n, ok := mapping.E164(s); !ok || n != "+17185550199" {
			t.Errorf("%q is not the same number", s)
		}
	}
	if got := Spellings("+442071838750"); len(got) != 2 || got[1] != "442071838750" {
		t.Errorf("non-NANP: %v", got)
	}
}
