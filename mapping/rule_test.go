package mapping

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ruleDoc puts one rule at record_to_task.attributes.v.
func ruleDoc(rule string) string {
	return "record_to_task:\n  object: Contact\n  when: {field: Status__c, create: [Go]}\n  attributes:\n    v: " + rule + "\n"
}

func mustParse(tb testing.TB, doc string) *Mapping {
	tb.Helper()
	m, err := Parse([]byte(doc))
	if err != nil {
		tb.Fatalf("Parse: %v\n%s", err, doc)
	}
	return m
}

func TestRuleApply(t *testing.T) {
	tests := []struct {
		name    string
		mapping string // the rule
		input   Record
		want    any // nil: attribute absent
		wantErr string
	}{
		// sources
		{name: "field string", mapping: `{field: FirstName}`, input: Record{"FirstName": "Ana"}, want: "Ana"},
		{name: "field missing", mapping: `{field: FirstName}`, input: Record{}, want: nil},
		{name: "field xsi nil", mapping: `{field: FirstName}`, input: Record{"FirstName": nil}, want: nil},
		{name: "field blank is nothing", mapping: `{field: FirstName}`, input: Record{"FirstName": "   "}, want: nil},
		{name: "field case-insensitive", mapping: `{field: firstname}`, input: Record{"FirstName": "Ana"}, want: "Ana"},
		// Numbers read the same from REST (41) and from an Outbound Message ("41.0").
		{name: "field REST number normalised", mapping: `{field: Age__c}`, input: Record{"Age__c": 41.0}, want: "41"},
		{name: "field SOAP number normalised", mapping: `{field: Age__c}`, input: Record{"Age__c": "41.0"}, want: "41"},
		{name: "field SOAP fraction kept", mapping: `{field: Age__c}`, input: Record{"Age__c": "41.5"}, want: "41.5"},
		{name: "field REST fraction", mapping: `{field: Age__c}`, input: Record{"Age__c": 41.5}, want: "41.5"},
		{name: "map after SOAP number", mapping: `{field: P__c, map: {"2": high}}`, input: Record{"P__c": "2.0"}, want: "high"},
		{name: "map after REST number", mapping: `{field: P__c, map: {"2": high}}`, input: Record{"P__c": 2.0}, want: "high"},
		{name: "text with leading zeros kept", mapping: `{field: Zip__c}`, input: Record{"Zip__c": "02134"}, want: "02134"},
		{name: "field bool kept", mapping: `{field: Flag__c}`, input: Record{"Flag__c": true}, want: true},
		{name: "relationship nested", mapping: `{field: Account.Name}`, input: Record{"Account": map[string]any{"Name": "Clinic"}}, want: "Clinic"},
		{name: "relationship flat key", mapping: `{field: Account.Name}`, input: Record{"Account.Name": "Clinic"}, want: "Clinic"},
		{name: "relationship missing parent", mapping: `{field: Account.Name}`, input: Record{"Account": nil}, want: nil},
		{name: "nested map never leaves", mapping: `{field: Account}`, input: Record{"Account": map[string]any{"Name": "x"}}, want: nil},
		{name: "const", mapping: `{const: outreach}`, input: Record{}, want: "outreach"},
		{name: "const number", mapping: `{const: 3}`, input: Record{}, want: 3},
		{name: "const transformed", mapping: `{const: abc, transform: upper}`, input: Record{}, want: "ABC"},

		// e164
		{name: "e164 national", mapping: `{field: P, transform: e164}`, input: Record{"P": "(617) 555-0199"}, want: "+16175550199"},
		{name: "e164 dots", mapping: `{field: P, transform: e164}`, input: Record{"P": "617.555.0199"}, want: "+16175550199"},
		{name: "e164 already", mapping: `{field: P, transform: e164}`, input: Record{"P": "+16175550199"}, want: "+16175550199"},
		{name: "e164 foreign", mapping: `{field: P, transform: e164}`, input: Record{"P": "+44 20 7946 0958"}, want: "+442079460958"},
		{name: "e164 from number", mapping: `{field: P, transform: e164}`, input: Record{"P": 6175550199.0}, want: "+16175550199"},
		{name: "e164 too short", mapping: `{field: P, transform: e164}`, input: Record{"P": "555-1234"}, want: nil},
		{name: "e164 garbage", mapping: `{field: P, transform: e164}`, input: Record{"P": "call me"}, want: nil},
		{name: "e164 invalid falls to default", mapping: `{field: P, transform: e164, default: none}`, input: Record{"P": "12"}, want: "none"},
		{name: "e164 invalid required", mapping: `{field: P, transform: e164, required: true}`, input: Record{"P": "12"}, wantErr: "record_to_task.attributes.v"},

		// strings
		{name: "lower", mapping: `{field: L, transform: lower}`, input: Record{"L": "SPANISH"}, want: "spanish"},
		{name: "upper", mapping: `{field: L, transform: upper}`, input: Record{"L": "es"}, want: "ES"},
		{name: "trim", mapping: `{field: L, transform: trim}`, input: Record{"L": "  x y "}, want: "x y"},
		{name: "lower of number", mapping: `{field: L, transform: lower}`, input: Record{"L": 2.0}, want: "2"},
		{name: "lower of map is nothing", mapping: `{field: L, transform: lower, default: d}`, input: Record{"L": map[string]any{}}, want: "d"},

		// int
		{name: "int string", mapping: `{field: N, transform: int}`, input: Record{"N": "2"}, want: 2},
		{name: "int string float", mapping: `{field: N, transform: int}`, input: Record{"N": "2.0"}, want: 2},
		{name: "int spaces", mapping: `{field: N, transform: int}`, input: Record{"N": " 7 "}, want: 7},
		{name: "int json number", mapping: `{field: N, transform: int}`, input: Record{"N": 12.0}, want: 12},
		{name: "int negative", mapping: `{field: N, transform: int}`, input: Record{"N": "-3"}, want: -3},
		{name: "int fraction refused", mapping: `{field: N, transform: int}`, input: Record{"N": "2.5"}, want: nil},
		{name: "int word refused", mapping: `{field: N, transform: int, default: 0}`, input: Record{"N": "high"}, want: 0},
		{name: "int bool refused", mapping: `{field: N, transform: int}`, input: Record{"N": true}, want: nil},
		{name: "int json.Number", mapping: `{field: N, transform: int}`, input: Record{"N": json.Number("4")}, want: 4},
		{name: "json.Number as text", mapping: `{field: N}`, input: Record{"N": json.Number("4.5")}, want: "4.5"},
		{name: "int huge refused", mapping: `{field: N, transform: int}`, input: Record{"N": "1e300"}, want: nil},

		// bool
		{name: "bool true", mapping: `{field: B, transform: bool}`, input: Record{"B": "true"}, want: true},
		{name: "bool YES", mapping: `{field: B, transform: bool}`, input: Record{"B": "YES"}, want: true},
		{name: "bool no", mapping: `{field: B, transform: bool}`, input: Record{"B": "no"}, want: false},
		{name: "bool 0", mapping: `{field: B, transform: bool}`, input: Record{"B": "0"}, want: false},
		{name: "bool 1 number", mapping: `{field: B, transform: bool}`, input: Record{"B": 1.0}, want: true},
		{name: "bool native", mapping: `{field: B, transform: bool}`, input: Record{"B": false}, want: false},
		{name: "bool maybe", mapping: `{field: B, transform: bool}`, input: Record{"B": "maybe"}, want: nil},

		// date
		{name: "date plain", mapping: `{field: D, transform: date}`, input: Record{"D": "2025-03-01"}, want: "2025-03-01"},
		{name: "date rfc3339 keeps own offset", mapping: `{field: D, transform: date}`, input: Record{"D": "2025-03-01T23:30:00-05:00"}, want: "2025-03-01"},
		{name: "date utc", mapping: `{field: D, transform: date}`, input: Record{"D": "2025-03-01T10:00:00Z"}, want: "2025-03-01"},
		{name: "date salesforce datetime", mapping: `{field: D, transform: date}`, input: Record{"D": "2025-03-01T10:00:00.000+0000"}, want: "2025-03-01"},
		{name: "date us format refused", mapping: `{field: D, transform: date}`, input: Record{"D": "03/01/2025"}, want: nil},
		{name: "date impossible refused", mapping: `{field: D, transform: date}`, input: Record{"D": "2025-02-30"}, want: nil},

		// mask
		{name: "mask", mapping: `{field: M, transform: mask}`, input: Record{"M": "6175550199"}, want: "******0199"},
		{name: "mask short kept", mapping: `{field: M, transform: mask}`, input: Record{"M": "abc"}, want: "abc"},
		{name: "mask runes", mapping: `{field: M, transform: mask}`, input: Record{"M": "ñandú1234"}, want: "*****1234"},

		// map
		{name: "map after transform", mapping: `{field: L, transform: lower, map: {spanish: es}}`, input: Record{"L": "Spanish"}, want: "es"},
		{name: "map unmapped passes", mapping: `{field: L, transform: lower, map: {spanish: es}}`, input: Record{"L": "French"}, want: "french"},
		{name: "map number key", mapping: `{field: N, map: {"2": high}}`, input: Record{"N": 2.0}, want: "high"},
		{name: "map to number", mapping: `{field: L, map: {High: 10}}`, input: Record{"L": "High"}, want: 10},
		{name: "map bool key", mapping: `{field: B, transform: bool, map: {"true": Y}}`, input: Record{"B": "yes"}, want: "Y"},
		{name: "map yes is a string key", mapping: `{field: L, map: {yes: si}}`, input: Record{"L": "yes"}, want: "si"},

		// default and required
		{name: "default missing", mapping: `{field: L, default: en}`, input: Record{}, want: "en"},
		{name: "default blank", mapping: `{field: L, default: en}`, input: Record{"L": " "}, want: "en"},
		{name: "default not used", mapping: `{field: L, default: en}`, input: Record{"L": "es"}, want: "es"},
		{name: "default satisfies required", mapping: `{field: L, default: en, required: true}`, input: Record{}, want: "en"},
		{name: "required present", mapping: `{field: L, required: true}`, input: Record{"L": "x"}, want: "x"},
		{name: "required missing", mapping: `{field: L, required: true}`, input: Record{}, wantErr: "record_to_task.attributes.v: required value is missing or invalid (field L)"},
		{name: "required false", mapping: `{field: L, required: false}`, input: Record{}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, ruleDoc(tt.mapping))
			attrs, _, err := m.RecordToTask().Apply(tt.input)
			if tt.wantErr != "" {
				var re *RuleError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want *RuleError", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
				}
				for _, v := range tt.input {
					if s, ok := v.(string); ok && strings.Contains(err.Error(), s) {
						t.Fatalf("error %q leaks the value %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got, ok := attrs["v"]
			if tt.want == nil {
				if ok {
					t.Fatalf("v = %#v, want absent", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("v = %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestNestedAttributes(t *testing.T) {
	tests := []struct {
		name    string
		mapping string
		input   Record
		want    map[string]any
	}{
		{
			name: "dotted names nest",
			mapping: `
    case.number: {field: Case_Number__c}
    case.status: {const: open}
    name: {field: FirstName}`,
			input: Record{"Case_Number__c": "C-1", "FirstName": "Ana"},
			want:  map[string]any{"case": map[string]any{"number": "C-1", "status": "open"}, "name": "Ana"},
		},
		{
			name: "empty values leave no parent",
			mapping: `
    case.number: {field: Case_Number__c}`,
			input: Record{},
			want:  map[string]any{},
		},
		{
			name: "three levels",
			mapping: `
    a.b.c: {const: 1}
    a.b.d: {const: 2}
    a.e: {const: 3}`,
			input: Record{},
			want:  map[string]any{"a": map[string]any{"b": map[string]any{"c": 1, "d": 2}, "e": 3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "record_to_task:\n  object: Contact\n  when: {field: S, create: [Go]}\n  attributes:" + tt.mapping + "\n"
			got, _, err := mustParse(t, doc).RecordToTask().Apply(tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("attrs = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		name    string
		mapping string
		input   Record
		want    int
	}{
		{name: "int transform", mapping: `{field: P, transform: int, default: 0}`, input: Record{"P": "3"}, want: 3},
		{name: "default", mapping: `{field: P, transform: int, default: 5}`, input: Record{}, want: 5},
		{name: "implicit int", mapping: `{field: P}`, input: Record{"P": "7.0"}, want: 7},
		{name: "not a number is 0", mapping: `{field: P}`, input: Record{"P": "urgent"}, want: 0},
		{name: "labels mapped", mapping: `{field: P, map: {High: 10, Low: 1}, default: 5}`, input: Record{"P": "High"}, want: 10},
		{name: "const", mapping: `{const: 4}`, input: Record{}, want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "record_to_task:\n  object: Contact\n  when: {field: S, create: [Go]}\n  priority: " + tt.mapping + "\n"
			_, got, err := mustParse(t, doc).RecordToTask().Apply(tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("priority = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAction(t *testing.T) {
	m := mustParse(t, `
record_to_task:
  object: Contact
  when: {field: Outreach_Status__c, create: [Needs Outreach, Reopened], cancel: [Closed, Unreachable]}
`).RecordToTask()
	tests := []struct {
		name  string
		input Record
		want  Action
	}{
		{name: "create", input: Record{"Outreach_Status__c": "Needs Outreach"}, want: ActionCreate},
		{name: "second create value", input: Record{"Outreach_Status__c": "Reopened"}, want: ActionCreate},
		{name: "cancel", input: Record{"Outreach_Status__c": "Unreachable"}, want: ActionCancel},
		{name: "trimmed", input: Record{"Outreach_Status__c": " Closed\n"}, want: ActionCancel},
		{name: "case matters", input: Record{"Outreach_Status__c": "closed"}, want: ActionNone},
		{name: "other value", input: Record{"Outreach_Status__c": "In Progress"}, want: ActionNone},
		{name: "missing", input: Record{}, want: ActionNone},
		{name: "nil", input: Record{"Outreach_Status__c": nil}, want: ActionNone},
		{name: "field name case-insensitive", input: Record{"outreach_status__c": "Closed"}, want: ActionCancel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Action(tt.input); got != tt.want {
				t.Fatalf("Action = %v, want %v", got, tt.want)
			}
		})
	}
	var absent *RecordToTask
	if absent.Action(Record{"Outreach_Status__c": "Closed"}) != ActionNone {
		t.Fatal("nil section must do nothing")
	}
	if _, _, err := absent.Apply(Record{}); !errors.Is(err, ErrSectionMissing) {
		t.Fatalf("nil Apply err = %v", err)
	}
}

func TestClickToCall(t *testing.T) {
	doc := `
click_to_call:
  object: Contact
  attributes:
    name: {field: FirstName}
    to: {field: MobilePhone, transform: e164}
`
	c := mustParse(t, doc).ClickToCall()
	tests := []struct {
		name    string
		input   Record
		want    map[string]any
		wantErr string
	}{
		{name: "ok", input: Record{"FirstName": "Ana", "MobilePhone": "617-555-0199"}, want: map[string]any{"name": "Ana", "to": "+16175550199"}},
		{name: "no number is always an error", input: Record{"FirstName": "Ana"}, wantErr: "field MobilePhone"},
		{name: "bad number is always an error", input: Record{"MobilePhone": "n/a"}, wantErr: "click_to_call.attributes.to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Apply(tt.input)
			if tt.wantErr != "" {
				var re *RuleError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want RuleError with %q", err, tt.wantErr)
				}
				if re.Field != "field MobilePhone" || re.Path != "click_to_call.attributes.to" {
					t.Fatalf("RuleError = %+v", re)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Apply = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if got, want := c.Fields(), []string{"FirstName", "MobilePhone"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Fields = %v, want %v", got, want)
	}
}

func BenchmarkRecordToTaskApply(b *testing.B) {
	m := mustParse(b, string(mustRead(b, "testdata/example.yaml"))).RecordToTask()
	rec := Record{
		"Outreach_Status__c": "Needs Outreach", "Priority__c": "2", "FirstName": "Ana",
		"MobilePhone": "(617) 555-0199", "Preferred_Language__c": "Spanish", "Case_Number__c": "C-00042",
		"Index_Case_Name__c": "never read",
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Apply(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	doc := mustRead(b, "testdata/example.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}
