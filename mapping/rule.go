package mapping

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Record is one Salesforce record: strings and nil from SOAP (xsi:nil), or
// JSON values from REST with relationships as nested maps.
type Record map[string]any

type sourceKind int

const (
	fromField sourceKind = iota + 1 // the Salesforce record
	fromPath                        // the event tree
	fromConst
)

// rule is one compiled `{field|path|const, transform, map, default, required}`.
type rule struct {
	at        string // where the rule is in the document, for RuleError
	kind      sourceKind
	name      string   // field name or event path, as written
	parts     []string // relationship parts of a field, or path segments
	value     any      // const
	transform transformFunc
	mapTo     map[string]any
	def       any
	required  bool
}

// eval yields the rule's value, or nil for nothing. Only scalars come out:
// a nested map or list never leaves through a rule, so relationships can
// not carry unlisted (possibly protected) fields along.
func (r *rule) eval(rec Record, ev map[string]any) (any, error) {
	var v any
	switch r.kind {
	case fromField:
		v = readField(rec, r.name, r.parts)
	case fromPath:
		v = readPath(ev, r.parts)
	case fromConst:
		v = r.value
	}
	if !isScalar(v) {
		v = nil
	}
	if v != nil && r.transform != nil {
		if t, ok := r.transform(v); ok {
			v = t
		} else {
			v = nil
		}
	}
	if r.mapTo != nil && !isNothing(v) {
		if s, ok := stringForm(v); ok {
			if m, ok := r.mapTo[s]; ok {
				v = m
			}
		}
	}
	if isNothing(v) {
		v = r.def
	}
	if isNothing(v) {
		if r.required {
			return nil, &RuleError{Path: r.at, Field: r.source(), Reason: "required value is missing or invalid"}
		}
		return nil, nil
	}
	return v, nil
}

// source names what the rule reads, for errors.
func (r *rule) source() string {
	switch r.kind {
	case fromField:
		return "field " + r.name
	case fromPath:
		return "path " + r.name
	}
	return "const"
}

// isNothing: nil, or a string of only spaces.
func isNothing(v any) bool {
	if v == nil {
		return true
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s) == ""
	}
	return false
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int64, uint64, float64, json.Number:
		return true
	}
	return false
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case Record:
		return m, true
	}
	return nil, false
}

// lookupFold finds a Salesforce field: API names are case-insensitive.
func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// readField reads Name or a relationship path like Account.Name, which REST
// nests and a flat record may carry under the dotted key. Numbers come out
// in one form whichever way the record was read (see normalizeNumber).
func readField(rec Record, name string, parts []string) any {
	return normalizeNumber(readFieldRaw(rec, name, parts))
}

// reSOAPWhole is an Outbound Message's rendering of a whole number: SOAP
// carries every number field as an xsd:double, so 2 arrives as "2.0".
var reSOAPWhole = regexp.MustCompile(`^-?[0-9]+\.0+$`)

// normalizeNumber gives a number field one form for both Salesforce APIs:
// Outbound Messages send "2.0" or "39.5" (text), the REST API sends 2 or
// 39.5 (JSON numbers). Both become the shortest decimal text ("2", "39.5"),
// so `map` keys, attributes and their hashes do not depend on the reader.
func normalizeNumber(v any) any {
	switch x := v.(type) {
	case string:
		if reSOAPWhole.MatchString(x) {
			return x[:strings.IndexByte(x, '.')]
		}
	case float64, int, int64, uint64, json.Number:
		if s, ok := stringForm(x); ok {
			if reSOAPWhole.MatchString(s) {
				s = s[:strings.IndexByte(s, '.')]
			}
			return s
		}
		return nil
	}
	return v
}

func readFieldRaw(rec Record, name string, parts []string) any {
	if v, ok := lookupFold(rec, name); ok || len(parts) < 2 {
		return v
	}
	var cur map[string]any = rec
	for i, p := range parts {
		v, ok := lookupFold(cur, p)
		if !ok {
			return nil
		}
		if i == len(parts)-1 {
			return v
		}
		if cur, ok = asMap(v); !ok {
			return nil
		}
	}
	return nil
}

// readPath walks the event tree; keys there are JSON and case-sensitive.
func readPath(ev map[string]any, parts []string) any {
	var cur = ev
	for i, p := range parts {
		v, ok := cur[p]
		if !ok {
			return nil
		}
		if i == len(parts)-1 {
			return v
		}
		if cur, ok = asMap(v); !ok {
			return nil
		}
	}
	return nil
}

// attribute is one compiled task attribute: a dotted name and its rule.
type attribute struct {
	parts []string
	rule  *rule
}

// applyAttributes builds the nested attribute tree. Parse guarantees no
// name is both a leaf and a parent.
func applyAttributes(attrs []attribute, rec Record) (map[string]any, error) {
	out := make(map[string]any, len(attrs))
	for _, a := range attrs {
		v, err := a.rule.eval(rec, nil)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		cur := out
		for _, p := range a.parts[:len(a.parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[a.parts[len(a.parts)-1]] = v
	}
	return out, nil
}
