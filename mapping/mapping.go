// Package mapping turns the admin-edited mapping document into a compiled,
// immutable *Mapping and applies it to Salesforce records and Twilio events.
// It is pure: no I/O, no clocks, no globals but constant tables.
//
// Every section is optional; a flow whose section is absent does nothing.
// Sections read from one side only: record_to_task, click_to_call and
// reminders read Salesforce records (`field`), outcome_to_crm and
// survey_to_crm read events (`path`). `const` works everywhere.
package mapping

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// ErrSectionMissing is returned by Apply on a section the document lacks.
var ErrSectionMissing = errors.New("mapping section is missing")

// Mapping is a validated, compiled document. It is safe for concurrent use.
type Mapping struct {
	source    []byte
	doc       any
	protected []string
	protSet   map[string]bool // lower-cased

	recordToTask *RecordToTask
	clickToCall  *ClickToCall
	outcome      *Outcome
	survey       *Survey
	contactObj   string
	optOutField  string
	reminders    *Reminders
	escalate     *Escalate
	caseContacts *CaseContacts
	callerLookup *CallerLookup
}

var sectionKeys = []string{"record_to_task", "click_to_call", "outcome_to_crm", "survey_to_crm", "contact_updates", "reminders", "escalate", "case_contacts", "caller_lookup", "protected"}

// Parse validates the whole document (YAML, or JSON, which is YAML) and
// compiles it. The error is Errors, listing every problem with its path.
func Parse(data []byte) (*Mapping, error) {
	return ParseProtected(data, nil)
}

// ParseProtected is Parse with fields that are protected whatever the
// document says (BRIDGE_PROTECTED_FIELDS): a document that reads one is
// refused as if it listed it, and the compiled mapping protects it.
func ParseProtected(data []byte, always []string) (*Mapping, error) {
	m, errs := parse(data, always)
	if len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

// Validate lists every problem in a document; nil means Parse would succeed.
func Validate(data []byte) Errors {
	_, errs := parse(data, nil)
	return errs
}

// ValidateProtected is Validate with ParseProtected's always-protected fields.
func ValidateProtected(data []byte, always []string) Errors {
	_, errs := parse(data, always)
	return errs
}

func parse(data []byte, always []string) (*Mapping, Errors) {
	root, fe := decodeRoot(data)
	if fe != nil {
		return nil, Errors{*fe}
	}
	p := &parser{protected: map[string]bool{}}
	p.checkNodes(root, "")
	if len(p.errs) > 0 {
		return nil, p.result()
	}
	top, _ := p.object(root, "", sectionKeys...)
	for k, e := range top {
		if isNull(e.val) {
			delete(top, k) // an emptied section is an absent one
		}
	}
	m := &Mapping{protSet: p.protected}
	for _, f := range always {
		if f = strings.TrimSpace(f); f != "" && !p.protected[strings.ToLower(f)] {
			p.protected[strings.ToLower(f)] = true
			m.protected = append(m.protected, f)
		}
	}

	// protected first: every other section is checked against it.
	if e, ok := top["protected"]; ok {
		if e.val.Kind != yaml.SequenceNode {
			p.add(e.val, e.fullPath, "must be a list of Salesforce field names")
		} else {
			for i, c := range e.val.Content {
				ip := pair{val: c, fullPath: e.fullPath + "[" + strconv.Itoa(i) + "]"}
				if s, ok := p.sfName(ip, false); ok && !p.protected[strings.ToLower(s)] {
					p.protected[strings.ToLower(s)] = true
					m.protected = append(m.protected, s)
				}
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Value != "protected" {
			p.scanProtected(root.Content[i+1], k.Value)
		}
	}

	if e, ok := top["record_to_task"]; ok {
		m.recordToTask = p.recordToTask(e)
	}
	if e, ok := top["click_to_call"]; ok {
		m.clickToCall = p.clickToCall(e)
	}
	if e, ok := top["outcome_to_crm"]; ok {
		m.outcome = p.outcome(e)
	}
	if e, ok := top["caller_lookup"]; ok {
		m.callerLookup = p.callerLookup(e)
	}
	if e, ok := top["survey_to_crm"]; ok {
		m.survey = p.survey(e)
	}
	if e, ok := top["contact_updates"]; ok {
		if c, ok := p.object(e.val, e.fullPath, "object", "opt_out_field"); ok {
			if o, ok := p.need(c, e.val, e.fullPath, "object"); ok {
				m.contactObj, _ = p.sfName(o, false)
			}
			if o, ok := p.need(c, e.val, e.fullPath, "opt_out_field"); ok {
				m.optOutField, _ = p.sfName(o, false)
			}
		}
	}
	if e, ok := top["reminders"]; ok {
		m.reminders = p.reminders(e)
		if m.reminders != nil {
			m.reminders.object = m.remindersObject()
			if strings.EqualFold(m.reminders.object, m.contactObj) {
				m.reminders.optOut = m.optOutField
			}
		}
	}
	if e, ok := top["escalate"]; ok {
		m.escalate = p.escalate(e, m.survey)
	}
	if e, ok := top["case_contacts"]; ok {
		m.caseContacts = p.caseContacts(e)
	}
	if len(p.errs) > 0 {
		return nil, p.result()
	}
	m.source = append([]byte(nil), data...)
	m.doc = toValue(root)
	return m, nil
}

// remindersObject: reminders go to contacts, so they read the object the
// bridge writes opt-outs on, else the record_to_task object, else Contact.
func (m *Mapping) remindersObject() string {
	switch {
	case m.contactObj != "":
		return m.contactObj
	case m.recordToTask != nil:
		return m.recordToTask.object
	}
	return "Contact"
}

// Source is the document exactly as it was given to Parse.
func (m *Mapping) Source() []byte { return append([]byte(nil), m.source...) }

// JSON is the document as JSON (comments and key order are lost).
func (m *Mapping) JSON() ([]byte, error) { return json.Marshal(m.doc) }

// RecordToTask is nil when the document has no record_to_task section.
func (m *Mapping) RecordToTask() *RecordToTask { return m.recordToTask }

// ClickToCall is nil when the document has no click_to_call section.
func (m *Mapping) ClickToCall() *ClickToCall { return m.clickToCall }

// OutcomeToCRM is nil when the document has no outcome_to_crm section.
func (m *Mapping) OutcomeToCRM() *Outcome { return m.outcome }

// SurveyToCRM is nil when the document has no survey_to_crm section.
func (m *Mapping) SurveyToCRM() *Survey { return m.survey }

// Reminders is nil when the document has no reminders section.
func (m *Mapping) Reminders() *Reminders { return m.reminders }

// Escalate is nil when the document has no escalate section.
func (m *Mapping) Escalate() *Escalate { return m.escalate }

// CaseContacts is nil when the document has no case_contacts section.
func (m *Mapping) CaseContacts() *CaseContacts { return m.caseContacts }

// OptOutField is where STOP is written; both are empty without
// contact_updates.
func (m *Mapping) OptOutField() (object, field string) { return m.contactObj, m.optOutField }

// Protected lists the protected fields as written.
func (m *Mapping) Protected() []string { return append([]string(nil), m.protected...) }

// IsProtected reports whether a field (or any part of a relationship path
// like Account.Field__c) is protected; names compare case-insensitively.
func (m *Mapping) IsProtected(field string) bool {
	p := parser{protected: m.protSet}
	return p.namesProtected(field)
}

// Redact returns a copy of rec without protected fields, at any depth, for
// anything that must hold a record outside Salesforce (queues, previews).
func (m *Mapping) Redact(rec Record) Record {
	out := make(Record, len(rec))
	for k, v := range rec {
		if m.IsProtected(k) {
			continue
		}
		if sub, ok := asMap(v); ok {
			v = map[string]any(m.Redact(sub))
		}
		out[k] = v
	}
	return out
}

// RecordFields lists every Salesforce field the record-reading sections on
// object need (record_to_task, click_to_call, reminders), for SOQL and
// outbound-message setup. Never a protected field.
func (m *Mapping) RecordFields(object string) []string {
	var all []string
	if r := m.recordToTask; r != nil && strings.EqualFold(r.object, object) {
		all = append(all, r.Fields()...)
	}
	if c := m.clickToCall; c != nil && strings.EqualFold(c.object, object) {
		all = append(all, c.Fields()...)
	}
	if r := m.reminders; r != nil && strings.EqualFold(r.object, object) {
		all = append(all, r.Fields()...)
	}
	if c := m.caseContacts; c != nil && strings.EqualFold(c.source, object) {
		all = append(all, c.Fields()...)
	}
	return sortedFields(all...)
}
