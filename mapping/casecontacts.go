package mapping

import (
	"strings"
)

// CaseContacts is the compiled case_contacts section: which case records
// are asked for their close contacts, the text that asks, and how each
// reported person becomes a record. Its write event is
//
//	{"reported": {"first_name", "phone", "email", "last_contact", "household"},
//	 "case": {"id"}}
type CaseContacts struct {
	source    string
	whenField string
	whenParts []string
	active    map[string]bool
	name      *rule
	to        *rule
	language  *rule
	templates map[string]string
	object    string
	extID     string
	fields    []writeRule
	caseLink  string // the field that holds case.id, always protected
}

var caseScope = ruleScope{roots: []string{"reported", "case"}}

func (p *parser) caseContacts(e pair) *CaseContacts {
	m, ok := p.object(e.val, e.fullPath, "source", "when", "name", "to", "language", "templates", "object", "external_id", "fields")
	if !ok {
		return nil
	}
	c := &CaseContacts{active: map[string]bool{}}
	if s, ok := p.need(m, e.val, e.fullPath, "source"); ok {
		c.source, _ = p.sfName(s, false)
	}
	if w, ok := p.need(m, e.val, e.fullPath, "when"); ok {
		if wm, ok := p.object(w.val, w.fullPath, "field", "active"); ok {
			if f, ok := p.need(wm, w.val, w.fullPath, "field"); ok {
				if s, ok := p.sfName(f, true); ok {
					c.whenField, c.whenParts = s, strings.Split(s, ".")
				}
			}
			if a, ok := p.need(wm, w.val, w.fullPath, "active"); ok {
				vals, _ := p.stringList(a)
				for _, v := range vals {
					c.active[v] = true
				}
			}
		}
	}
	if n, ok := m["name"]; ok {
		c.name = p.rule(n.val, n.fullPath, recordScope)
	}
	if t, ok := p.need(m, e.val, e.fullPath, "to"); ok {
		c.to = p.rule(t.val, t.fullPath, recordScope)
	}
	if l, ok := m["language"]; ok {
		c.language = p.rule(l.val, l.fullPath, recordScope)
	}
	if t, ok := p.need(m, e.val, e.fullPath, "templates"); ok {
		if texts, ok := p.languageTexts(t); ok {
			c.templates = texts
			p.placeholders(t, true)
		}
	}
	c.object, c.extID = p.objectAndExternalID(m, e)
	if f, ok := m["fields"]; ok {
		c.fields = p.writeFields(f, caseScope, c.extID, nil)
		for _, w := range c.fields {
			if w.rule.kind != fromPath || w.rule.parts[0] != "case" {
				continue
			}
			c.caseLink = w.field
			if !p.protected[strings.ToLower(w.field)] {
				p.add(f.val, join(f.fullPath, w.field), "links a reported person to the case who named them: list %s in protected, so it never leaves Salesforce", w.field)
			}
		}
	}
	return c
}

// Source is the object whose records are cases.
func (c *CaseContacts) Source() string { return c.source }

// Object is what each reported person becomes.
func (c *CaseContacts) Object() string { return c.object }

// ExternalIDField is the field the bridge fills with CaseContactKey.
func (c *CaseContacts) ExternalIDField() string { return c.extID }

// CaseLinkField is the (protected) field that holds the case's id, "" when
// the mapping links none.
func (c *CaseContacts) CaseLinkField() string { return c.caseLink }

// Fields lists the fields the section reads from a case record, sorted.
func (c *CaseContacts) Fields() []string {
	return sortedFields(append(ruleFields(c.name, c.to, c.language), c.whenField)...)
}

// Active reports whether a case record asks for its contacts now.
func (c *CaseContacts) Active(rec Record) bool {
	s, ok := stringForm(readField(rec, c.whenField, c.whenParts))
	return ok && c.active[strings.TrimSpace(s)]
}

// To is the case's number; a record without one fails with a *RuleError.
func (c *CaseContacts) To(rec Record) (string, error) {
	v, err := c.to.eval(rec, nil)
	if err == nil && v == nil {
		err = &RuleError{Path: c.to.at, Field: c.to.source(), Reason: "no number to send the link to"}
	}
	if err != nil {
		return "", err
	}
	s, _ := stringForm(v)
	return s, nil
}

// Name is the case's {{name}}, "" when absent.
func (c *CaseContacts) Name(rec Record) string {
	if c.name == nil {
		return ""
	}
	v, _ := c.name.eval(rec, nil)
	s, _ := stringForm(v)
	return s
}

// Language is the case's language code, "en" by default.
func (c *CaseContacts) Language(rec Record) string {
	if c.language == nil {
		return "en"
	}
	v, _ := c.language.eval(rec, nil)
	s, _ := stringForm(v)
	if s = strings.ToLower(strings.TrimSpace(s)); s == "" {
		return "en"
	}
	return s
}

// Render fills the request text in lang (falling back to en).
func (c *CaseContacts) Render(lang, name, link string) string {
	return strings.NewReplacer("{{name}}", name, "{{link}}", link).Replace(pickLang(c.templates, lang))
}

// CaseContactKey is the upsert key of one reported person: the case id and
// the E.164 phone, or the lower-cased email when there is no phone.
func CaseContactKey(caseID, phoneE164, email string) string {
	if phoneE164 != "" {
		return caseID + "-" + phoneE164
	}
	return caseID + "-" + strings.ToLower(strings.TrimSpace(email))
}

// Apply builds the row of one reported person. The event is
// {"reported": {...}, "case": {"id": ...}}; the external id is set from
// CaseContactKey by the caller's key.
func (c *CaseContacts) Apply(event map[string]any, key string) (Record, error) {
	out := Record{}
	if err := applyWrites(c.fields, event, out); err != nil {
		return nil, err
	}
	if c.extID != "" {
		out[c.extID] = key
	}
	return out, nil
}
