package mapping

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// writeRule is one `SalesforceField: rule` of a writeback section.
type writeRule struct {
	field string
	rule  *rule
}

// writeFields compiles `fields:`; the external id and `taken` names are
// set by the bridge and may not be mapped.
func (p *parser) writeFields(e pair, scope ruleScope, extID string, taken map[string]string) []writeRule {
	ps, ok := p.pairs(e.val, e.fullPath)
	if !ok {
		return nil
	}
	var out []writeRule
	for _, kv := range ps {
		if !validSFName(kv.key, false) {
			p.add(kv.keyNode, kv.fullPath, "%q is not a Salesforce field name", kv.key)
			continue
		}
		if extID != "" && strings.EqualFold(kv.key, extID) {
			p.add(kv.keyNode, kv.fullPath, "is the external_id, which the bridge sets from the event")
			continue
		}
		if why, ok := taken[strings.ToLower(kv.key)]; ok {
			p.add(kv.keyNode, kv.fullPath, "is already written by %s", why)
			continue
		}
		if r := p.rule(kv.val, kv.fullPath, scope); r != nil {
			out = append(out, writeRule{field: kv.key, rule: r})
		}
	}
	return out
}

func applyWrites(ws []writeRule, ev map[string]any, out Record) error {
	for _, w := range ws {
		v, err := w.rule.eval(nil, ev)
		if err != nil {
			return err
		}
		if v != nil {
			out[w.field] = v
		}
	}
	return nil
}

// objectAndExternalID reads the two keys every writeback section needs.
func (p *parser) objectAndExternalID(m map[string]pair, e pair) (object, extID string) {
	if o, ok := p.need(m, e.val, e.fullPath, "object"); ok {
		object, _ = p.sfName(o, false)
	}
	if x, ok := p.need(m, e.val, e.fullPath, "external_id"); ok {
		extID, _ = p.sfName(x, false)
	}
	return object, extID
}

// Outcome is the compiled outcome_to_crm section. Its event is
//
//	{"task": {"sid", "age", "priority", "assignment_status", "reason",
//	          "queue_name", "channel", "attributes": {…parsed JSON…}},
//	 "worker": {"sid", "name"}, "event": {"sid", "type", "timestamp"}}
//
// and the external id is always task.sid.
type Outcome struct {
	object       string
	extID        string
	fields       []writeRule
	followUp     *rule
	followUpSubj string
	dispositions []string
}

// DefaultFollowUpSubject is used when follow_up has no subject.
const DefaultFollowUpSubject = "Follow-up call"

func (p *parser) outcome(e pair) *Outcome {
	m, ok := p.object(e.val, e.fullPath, "object", "external_id", "fields", "follow_up", "dispositions")
	if !ok {
		return nil
	}
	o := &Outcome{}
	o.object, o.extID = p.objectAndExternalID(m, e)
	if f, ok := m["fields"]; ok {
		o.fields = p.writeFields(f, outcomeScope, o.extID, nil)
	}
	if d, ok := m["dispositions"]; ok {
		o.dispositions = p.dispositions(d)
	}
	if f, ok := m["follow_up"]; ok {
		if o.object != "" && !strings.EqualFold(o.object, "Task") {
			p.add(f.keyNode, f.fullPath, "follow-ups are open Tasks: it needs object Task")
		}
		if fm, ok := p.object(f.val, f.fullPath, "path", "subject"); ok {
			if pe, ok := p.need(fm, f.val, f.fullPath, "path"); ok {
				if parts, ok := p.eventPath(pe, outcomeScope); ok {
					o.followUp = &rule{at: f.fullPath, kind: fromPath, name: pe.val.Value, parts: parts, transform: toDate}
				}
			}
			o.followUpSubj = DefaultFollowUpSubject
			if s, ok := fm["subject"]; ok {
				if v, ok := p.str(s); ok {
					if len(v) > 255 {
						p.add(s.val, s.fullPath, "must be at most 255 characters (Task.Subject)")
					}
					o.followUpSubj = v
				}
			}
		}
	}
	return o
}

// Object is the Salesforce object outcomes are upserted into.
func (o *Outcome) Object() string {
	if o == nil {
		return ""
	}
	return o.object
}

// ExternalIDField is the upsert key field; its value is the task sid.
func (o *Outcome) ExternalIDField() string {
	if o == nil {
		return ""
	}
	return o.extID
}

// ExternalID is the upsert key of the event: task.sid.
func (o *Outcome) ExternalID(event map[string]any) (string, error) {
	s, _ := stringForm(readPath(event, []string{"task", "sid"}))
	if strings.TrimSpace(s) == "" {
		return "", &RuleError{Path: "outcome_to_crm.external_id", Field: "path task.sid", Reason: "the event has no task sid"}
	}
	return s, nil
}

// FollowUp is an open Task to create on the same record.
type FollowUp struct {
	ExternalID string // <TaskSid>-follow-up
	RecordID   string // task.attributes.crm.record_id
	Date       string // YYYY-MM-DD
	Subject    string
}

// Record is the follow-up as a Task row for an upsert on extField. Contacts
// (003) and Leads (00Q) are a Task's WhoId; other records its WhatId.
func (f *FollowUp) Record(extField string) Record {
	rel := "WhatId"
	if strings.HasPrefix(f.RecordID, "003") || strings.HasPrefix(f.RecordID, "00Q") {
		rel = "WhoId"
	}
	r := Record{
		extField:       f.ExternalID,
		"ActivityDate": f.Date,
		"Status":       "Not Started",
		"Subject":      f.Subject,
	}
	if f.RecordID != "" {
		r[rel] = f.RecordID
	}
	return r
}

// Apply maps a TaskRouter event to the fields of one row, the external id
// field included. followUp is nil when the event sets no follow-up date; a
// date that cannot be read fails the event with a *RuleError.
func (o *Outcome) Apply(event map[string]any) (fields Record, followUp *FollowUp, err error) {
	if o == nil {
		return nil, nil, ErrSectionMissing
	}
	sid, err := o.ExternalID(event)
	if err != nil {
		return nil, nil, err
	}
	fields = Record{o.extID: sid}
	if err := applyWrites(o.fields, event, fields); err != nil {
		return nil, nil, err
	}
	if o.followUp != nil {
		raw := readPath(event, o.followUp.parts)
		v, _ := o.followUp.eval(nil, event)
		switch {
		case v != nil:
			rid, _ := stringForm(readPath(event, []string{"task", "attributes", "crm", "record_id"}))
			followUp = &FollowUp{ExternalID: sid + "-follow-up", RecordID: rid, Date: v.(string), Subject: o.followUpSubj}
		case !isNothing(raw):
			return nil, nil, &RuleError{Path: o.followUp.at, Field: o.followUp.source(), Reason: "follow-up date is not YYYY-MM-DD or an RFC 3339 time"}
		}
	}
	return fields, followUp, nil
}

// QuestionType is how a survey question is asked and written.
type QuestionType string

const (
	YesNo  QuestionType = "yesno"  // answers yes or no; written as a boolean
	Text   QuestionType = "text"   // free text, trimmed
	Number QuestionType = "number" // a number, e.g. a temperature
)

// Question is one survey question, in page order.
type Question struct {
	Field string
	Type  QuestionType
	Label map[string]string // language -> text; en is always present
}

// LabelFor is the label in lang (es-MX falls back to es), else in en.
func (q Question) LabelFor(lang string) string {
	return pickLang(q.Label, lang)
}

// pickLang finds lang, then its base language, then en.
func pickLang(m map[string]string, lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if s, ok := m[lang]; ok {
		return s
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		if s, ok := m[lang[:i]]; ok {
			return s
		}
	}
	return m["en"]
}

// Survey is the compiled survey_to_crm section. Its event is
// {"contact": {"id", "language", …}, "survey": {"date", …}}; the external
// id is SurveyKey(contact.id, survey.date).
type Survey struct {
	object    string
	extID     string
	questions []Question
	fields    []writeRule
}

// SurveyKey is the upsert key of one contact's survey for one day.
func SurveyKey(contactID, date string) string { return contactID + "-" + date }

func (p *parser) survey(e pair) *Survey {
	m, ok := p.object(e.val, e.fullPath, "object", "external_id", "questions", "fields")
	if !ok {
		return nil
	}
	s := &Survey{}
	s.object, s.extID = p.objectAndExternalID(m, e)
	taken := map[string]string{}
	if q, ok := p.need(m, e.val, e.fullPath, "questions"); ok {
		if q.val.Kind != yaml.SequenceNode || len(q.val.Content) == 0 {
			p.add(q.val, q.fullPath, "must be a non-empty list of questions")
		} else {
			for i, n := range q.val.Content {
				qp := fmt.Sprintf("%s[%d]", q.fullPath, i)
				if qq, ok := p.question(n, qp); ok {
					low := strings.ToLower(qq.Field)
					switch {
					case taken[low] != "":
						p.add(n, qp+".field", "%s is already asked by %s", qq.Field, taken[low])
					case strings.EqualFold(qq.Field, s.extID):
						p.add(n, qp+".field", "is the external_id, which the bridge sets")
					default:
						taken[low] = qp
						s.questions = append(s.questions, qq)
					}
				}
			}
		}
	}
	if f, ok := m["fields"]; ok {
		s.fields = p.writeFields(f, surveyScope, s.extID, taken)
	}
	return s
}

func (p *parser) question(n *yaml.Node, path string) (Question, bool) {
	m, ok := p.object(n, path, "field", "label", "type")
	if !ok {
		return Question{}, false
	}
	var q Question
	good := true
	if f, ok := p.need(m, n, path, "field"); !ok {
		good = false
	} else if q.Field, ok = p.sfName(f, false); !ok {
		good = false
	}
	if t, ok := p.need(m, n, path, "type"); !ok {
		good = false
	} else if v, ok := p.str(t); ok {
		switch QuestionType(v) {
		case YesNo, Text, Number:
			q.Type = QuestionType(v)
		default:
			p.add(t.val, t.fullPath, "unknown question type %q (known: yesno, text, number)", v)
			good = false
		}
	} else {
		good = false
	}
	if l, ok := p.need(m, n, path, "label"); !ok {
		good = false
	} else if labels, ok := p.languageTexts(l); ok {
		q.Label = labels
	} else {
		good = false
	}
	return q, good
}

// languageTexts reads `{en: …, es: …}`; en is required as the fallback.
func (p *parser) languageTexts(e pair) (map[string]string, bool) {
	ps, ok := p.pairs(e.val, e.fullPath)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(ps))
	good := true
	for _, kv := range ps {
		if !langRe.MatchString(kv.key) {
			p.add(kv.keyNode, kv.fullPath, "%q is not a language code like en or es-MX", kv.key)
			good = false
			continue
		}
		s, ok := p.str(kv)
		if !ok {
			good = false
			continue
		}
		out[strings.ToLower(kv.key)] = s
	}
	if _, ok := out["en"]; !ok && good {
		p.add(e.val, join(e.fullPath, "en"), "is required: other languages fall back to it")
		good = false
	}
	return out, good
}

// Object is the Salesforce object surveys are upserted into.
func (s *Survey) Object() string {
	if s == nil {
		return ""
	}
	return s.object
}

// ExternalIDField is the upsert key field; its value is SurveyKey.
func (s *Survey) ExternalIDField() string {
	if s == nil {
		return ""
	}
	return s.extID
}

// Questions are the questions in page order; the caller must not modify
// the label maps.
func (s *Survey) Questions() []Question {
	if s == nil {
		return nil
	}
	return append([]Question(nil), s.questions...)
}

// ExternalID is SurveyKey(contact.id, survey.date) of the event.
func (s *Survey) ExternalID(event map[string]any) (string, error) {
	id, _ := stringForm(readPath(event, []string{"contact", "id"}))
	date, _ := stringForm(readPath(event, []string{"survey", "date"}))
	if strings.TrimSpace(id) == "" || strings.TrimSpace(date) == "" {
		return "", &RuleError{Path: "survey_to_crm.external_id", Field: "path contact.id, survey.date", Reason: "the event has no contact id or survey date"}
	}
	return SurveyKey(id, date), nil
}

// Apply maps a submitted survey to one row, the external id field included.
// answers are keyed by question field, as the form names its inputs; keys
// that are not questions are ignored, and empty answers are left unwritten.
// yesno answers must be yes or no and become booleans.
func (s *Survey) Apply(event map[string]any, answers map[string]string) (Record, error) {
	if s == nil {
		return nil, ErrSectionMissing
	}
	key, err := s.ExternalID(event)
	if err != nil {
		return nil, err
	}
	out := Record{s.extID: key}
	if err := applyWrites(s.fields, event, out); err != nil {
		return nil, err
	}
	for i, q := range s.questions {
		a := strings.TrimSpace(answers[q.Field])
		if a == "" {
			continue
		}
		bad := func(reason string) error {
			return &RuleError{Path: fmt.Sprintf("survey_to_crm.questions[%d]", i), Field: "field " + q.Field, Reason: reason}
		}
		switch q.Type {
		case YesNo:
			switch strings.ToLower(a) {
			case "yes":
				out[q.Field] = true
			case "no":
				out[q.Field] = false
			default:
				return nil, bad("answer must be yes or no")
			}
		case Number:
			f, err := strconv.ParseFloat(a, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, bad("answer must be a number")
			}
			out[q.Field] = f
		default:
			out[q.Field] = a
		}
	}
	return out, nil
}

// asks reports whether field is one of the survey's questions.
func (s *Survey) asks(field string) bool {
	for _, q := range s.questions {
		if strings.EqualFold(q.Field, field) {
			return true
		}
	}
	return false
}
