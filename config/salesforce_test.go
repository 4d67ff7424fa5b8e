package config

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cityhealth/bridge/mapping"
)

// outboundWorkflows are the shipped Outbound Message definitions: the one
// the flow sends and the workflow-rule alternative.
var outboundWorkflows = []string{
	"salesforce/force-app/main/default/workflows/Contact.workflow-meta.xml",
	"salesforce/alternatives/workflow-rule/workflows/Contact.workflow",
}

type workflowXML struct {
	OutboundMessages []struct {
		FullName string   `xml:"fullName"`
		Fields   []string `xml:"fields"`
	} `xml:"outboundMessages"`
}

// The Outbound Message selects every field the bridge reads from it: what
// record_to_task and reminders read in the example mapping, the opt-out
// field, Id, and LastModifiedDate (without it the stale-notification guard
// never runs). It never selects a protected field.
func TestShippedOutboundMessageSelectsWhatTheMappingReads(t *testing.T) {
	m, err := mapping.Parse([]byte(ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	object := m.RecordToTask().Object()
	need := []string{"Id", "LastModifiedDate"}
	need = append(need, m.RecordToTask().Fields()...)
	if r := m.Reminders(); r != nil && strings.EqualFold(r.Object(), object) {
		need = append(need, r.Fields()...)
	}
	if obj, field := m.OptOutField(); field != "" && strings.EqualFold(obj, object) {
		need = append(need, field)
	}
	for _, path := range outboundWorkflows {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var wf workflowXML
			if err := xml.Unmarshal(raw, &wf); err != nil {
				t.Fatal(err)
			}
			if len(wf.OutboundMessages) != 1 {
				t.Fatalf("%d outbound messages, want 1", len(wf.OutboundMessages))
			}
			selected := wf.OutboundMessages[0].Fields
			has := func(f string) bool {
				return slices.ContainsFunc(selected, func(s string) bool { return strings.EqualFold(s, f) })
			}
			for _, f := range need {
				if !has(f) {
					t.Errorf("%s does not select %s, which the bridge reads", wf.OutboundMessages[0].FullName, f)
				}
			}
			for _, f := range m.Protected() {
				if has(f) {
					t.Errorf("%s selects protected field %s", wf.OutboundMessages[0].FullName, f)
				}
			}
		})
	}
}
