package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"
)

// The agent desktop's sections: caller_lookup (inbound screen pop) and
// outcome_to_crm.dispositions (the wrap-up panel's choices).

// Bounds that keep one inbound call cheap: each object is one SOQL query,
// each phone field one IN clause.
const (
	maxCallerObjects     = 5
	maxCallerPhoneFields = 5
	maxDispositions      = 50
	maxDispositionLen    = 255 // Task.CallDisposition is a 255-character text field
)

// CallerLookup is the compiled caller_lookup section.
type CallerLookup struct {
	objects     []CallerObject
	fingerprint string
}

// CallerObject is one object a caller's number is looked up in.
type CallerObject struct {
	object      string
	phoneFields []string
	label       *rule
}

func (p *parser) callerLookup(e pair) *CallerLookup {
	m, ok := p.object(e.val, e.fullPath, "objects")
	if !ok {
		return nil
	}
	o, ok := p.need(m, e.val, e.fullPath, "objects")
	if !ok {
		return nil
	}
	if o.val.Kind != yaml.SequenceNode || len(o.val.Content) == 0 {
		p.add(o.val, o.fullPath, "must be a non-empty list of {object, phone_fields, label}")
		return nil
	}
	if len(o.val.Content) > maxCallerObjects {
		p.add(o.val, o.fullPath, "at most %d objects (each is one Salesforce query per inbound call)", maxCallerObjects)
	}
	c := &CallerLookup{}
	seen := map[string]bool{}
	for i, n := range o.val.Content {
		path := fmt.Sprintf("%s[%d]", o.fullPath, i)
		om, ok := p.object(n, path, "object", "phone_fields", "label")
		if !ok {
			continue
		}
		var co CallerObject
		if x, ok := p.need(om, n, path, "object"); ok {
			if s, ok := p.sfName(x, false); ok {
				if seen[strings.ToLower(s)] {
					p.add(x.val, x.fullPath, "object %q is listed twice", s)
				}
				seen[strings.ToLower(s)] = true
				co.object = s
			}
		}
		if x, ok := p.need(om, n, path, "phone_fields"); ok {
			co.phoneFields = p.phoneFields(x)
		}
		if x, ok := p.need(om, n, path, "label"); ok {
			co.label = p.rule(x.val, x.fullPath, recordScope)
		}
		c.objects = append(c.objects, co)
	}
	sum := sha256.Sum256([]byte(mustJSON(toValue(e.val))))
	c.fingerprint = hex.EncodeToString(sum[:8])
	return c
}

func (p *parser) phoneFields(e pair) []string {
	if e.val.Kind != yaml.SequenceNode || len(e.val.Content) == 0 {
		p.add(e.val, e.fullPath, "must be a non-empty list of Salesforce phone fields")
		return nil
	}
	if len(e.val.Content) > maxCallerPhoneFields {
		p.add(e.val, e.fullPath, "at most %d phone fields", maxCallerPhoneFields)
	}
	var out []string
	seen := map[string]bool{}
	for i, n := range e.val.Content {
		ip := pair{val: n, fullPath: fmt.Sprintf("%s[%d]", e.fullPath, i)}
		s, ok := p.sfName(ip, false)
		if !ok {
			continue
		}
		if seen[strings.ToLower(s)] {
			p.add(n, ip.fullPath, "field %q is listed twice", s)
			continue
		}
		seen[strings.ToLower(s)] = true
		out = append(out, s)
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// CallerLookup is nil when the document has no caller_lookup section.
func (m *Mapping) CallerLookup() *CallerLookup { return m.callerLookup }

// Objects lists the objects to search, in the document's order.
func (c *CallerLookup) Objects() []CallerObject {
	if c == nil {
		return nil
	}
	return append([]CallerObject(nil), c.objects...)
}

// Fingerprint changes whenever the section does, so caches of its results
// never serve an old shape.
func (c *CallerLookup) Fingerprint() string {
	if c == nil {
		return ""
	}
	return c.fingerprint
}

// Object is the Salesforce object searched.
func (o CallerObject) Object() string { return o.object }

// PhoneFields are the fields a caller's number is compared with.
func (o CallerObject) PhoneFields() []string { return append([]string(nil), o.phoneFields...) }

// Fields lists what a lookup reads (Id aside): the phone fields and the
// label's fields, sorted. Never a protected field: the document was refused
// if any of them was.
func (o CallerObject) Fields() []string {
	return sortedFields(append(o.PhoneFields(), ruleFields(o.label)...)...)
}

// Label is what the picker shows for a record; empty when the rule yields
// nothing.
func (o CallerObject) Label(rec Record) string {
	if o.label == nil {
		return ""
	}
	v, err := o.label.eval(rec, nil)
	if err != nil || v == nil {
		return ""
	}
	s, _ := stringForm(v)
	return s
}

// dispositions reads outcome_to_crm.dispositions: distinct, non-empty
// labels that fit Task.CallDisposition.
func (p *parser) dispositions(e pair) []string {
	list, ok := p.stringList(e)
	if !ok {
		return nil
	}
	if e.val.Kind != yaml.SequenceNode {
		p.add(e.val, e.fullPath, "must be a list of dispositions")
		return nil
	}
	if len(list) > maxDispositions {
		p.add(e.val, e.fullPath, "at most %d dispositions", maxDispositions)
	}
	seen := map[string]bool{}
	var out []string
	for i, s := range list {
		ip := fmt.Sprintf("%s[%d]", e.fullPath, i)
		switch {
		case s == "":
			p.add(e.val.Content[i], ip, "must be a non-empty string")
		case len(s) > maxDispositionLen:
			p.add(e.val.Content[i], ip, "must be at most %d characters (Task.CallDisposition)", maxDispositionLen)
		case seen[strings.ToLower(s)]:
			p.add(e.val.Content[i], ip, "%q is listed twice", s)
		default:
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	return out
}

// Dispositions are the wrap-up panel's choices, in the document's order;
// nil when none are configured.
func (o *Outcome) Dispositions() []string {
	if o == nil {
		return nil
	}
	return append([]string(nil), o.dispositions...)
}
