package mapping

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// MaxDocumentSize bounds what Parse reads; real mappings are a few KiB.
const MaxDocumentSize = 1 << 20

var (
	// sfNameRe is one Salesforce API name: Name, Case_Number__c, ns__Field__c.
	sfNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	// attrNameRe is one segment of a task attribute name.
	attrNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	// langRe is a template or label language: en, es, pt-br, zh_Hant.
	langRe = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
	atRe   = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
)

// ruleScope says where a section's rules read from.
type ruleScope struct {
	record bool     // `field` reads the Salesforce record
	roots  []string // `path` roots the event offers
}

var (
	recordScope  = ruleScope{record: true}
	outcomeScope = ruleScope{roots: []string{"task", "worker", "event"}}
	surveyScope  = ruleScope{roots: []string{"contact", "survey"}}
)

var ruleKeys = []string{"field", "path", "const", "transform", "map", "default", "required"}

// maxErrors keeps a garbage upload from producing a megabyte of errors.
const maxErrors = 100

type parser struct {
	errs      Errors
	dropped   int
	protected map[string]bool // lower-cased
}

func (p *parser) add(n *yaml.Node, path, format string, a ...any) {
	if len(p.errs) >= maxErrors {
		p.dropped++
		return
	}
	fe := FieldError{Path: path, Message: fmt.Sprintf(format, a...)}
	if n != nil {
		fe.Line = n.Line
	}
	p.errs = append(p.errs, fe)
}

// result is the errors found in line order, with a note of any left out.
func (p *parser) result() Errors {
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	if p.dropped > 0 {
		return append(p.errs, FieldError{Message: fmt.Sprintf("%d more problems not listed", p.dropped)})
	}
	return p.errs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type pair struct {
	key      string
	keyNode  *yaml.Node
	val      *yaml.Node
	fullPath string
}

// pairs returns a mapping's entries in order, refusing duplicates.
func (p *parser) pairs(n *yaml.Node, path string) ([]pair, bool) {
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "must be a mapping of keys to values")
		return nil, false
	}
	out := make([]pair, 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.add(k, path, "keys must be plain strings")
			continue
		}
		kp := join(path, k.Value)
		if seen[k.Value] {
			p.add(k, kp, "duplicate key")
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, keyNode: k, val: v, fullPath: kp})
	}
	return out, true
}

// object reads a mapping with a fixed set of keys.
func (p *parser) object(n *yaml.Node, path string, allowed ...string) (map[string]pair, bool) {
	ps, ok := p.pairs(n, path)
	if !ok {
		return nil, false
	}
	out := make(map[string]pair, len(ps))
	for _, e := range ps {
		if !contains(allowed, e.key) {
			p.add(e.keyNode, e.fullPath, "unknown key (allowed: %s)", strings.Join(allowed, ", "))
			continue
		}
		out[e.key] = e
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hasKey reports whether a mapping node has key, valid or not.
func hasKey(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return true // already reported as not a mapping
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// str reads a non-empty scalar string.
func (p *parser) str(e pair) (string, bool) {
	if e.val.Kind != yaml.ScalarNode || isNull(e.val) || strings.TrimSpace(e.val.Value) == "" {
		p.add(e.val, e.fullPath, "must be a non-empty string")
		return "", false
	}
	return e.val.Value, true
}

// required reads a key that must be present.
func (p *parser) need(m map[string]pair, n *yaml.Node, path, key string) (pair, bool) {
	e, ok := m[key]
	if !ok {
		p.add(n, join(path, key), "is required")
	}
	return e, ok
}

// sfName reads a Salesforce API name; dotted allows relationship paths.
func (p *parser) sfName(e pair, dotted bool) (string, bool) {
	s, ok := p.str(e)
	if !ok {
		return "", false
	}
	if !validSFName(s, dotted) {
		if dotted {
			p.add(e.val, e.fullPath, "%q is not a Salesforce field name (letters, digits, underscores; Relationship.Field allowed)", s)
		} else {
			p.add(e.val, e.fullPath, "%q is not a Salesforce API name (letters, digits and underscores, starting with a letter)", s)
		}
		return "", false
	}
	return s, true
}

func validSFName(s string, dotted bool) bool {
	parts := []string{s}
	if dotted {
		parts = strings.Split(s, ".")
		if len(parts) > 6 { // SOQL allows five levels of parent relationships
			return false
		}
	}
	for _, x := range parts {
		if len(x) > 80 || !sfNameRe.MatchString(x) || strings.HasSuffix(x, "_") {
			return false
		}
	}
	return true
}

// scalarValue decodes a literal (const, default, map value) to a Go value.
func (p *parser) scalarValue(n *yaml.Node, path string) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		p.add(n, path, "must be a single value, not a list or mapping")
		return nil, false
	}
	var v any
	if err := n.Decode(&v); err != nil {
		p.add(n, path, "cannot read value: %v", cleanYAMLError(err))
		return nil, false
	}
	switch x := v.(type) {
	case nil, string, bool, int:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			p.add(n, path, "must be a finite number")
			return nil, false
		}
	case int64:
		v = int(x)
	case uint64:
		v = strconv.FormatUint(x, 10)
	default:
		// timestamps and binaries: keep what the admin wrote
		v = n.Value
	}
	return v, true
}

// stringList reads a list of scalars; a single scalar is a one-item list.
func (p *parser) stringList(e pair) ([]string, bool) {
	n := e.val
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return []string{strings.TrimSpace(n.Value)}, true
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.add(n, e.fullPath, "must be a non-empty list of values")
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode || isNull(c) {
			p.add(c, fmt.Sprintf("%s[%d]", e.fullPath, i), "must be a single value")
			ok = false
			continue
		}
		out = append(out, strings.TrimSpace(c.Value)) // record values are trimmed too
	}
	return out, ok
}

// rule compiles `{field|path|const, transform, map, default, required}`.
func (p *parser) rule(n *yaml.Node, path string, scope ruleScope) *rule {
	m, ok := p.object(n, path, ruleKeys...)
	if !ok {
		return nil
	}
	r := &rule{at: path}
	bad := false
	var srcs []string
	for _, k := range []string{"field", "path", "const"} {
		if _, ok := m[k]; ok {
			srcs = append(srcs, k)
		}
	}
	switch len(srcs) {
	case 0:
		p.add(n, path, "needs one of field, path or const")
		bad = true
	case 1:
	default:
		p.add(n, path, "has %s; use exactly one of field, path or const", strings.Join(srcs, " and "))
		bad = true
	}
	if e, ok := m["field"]; ok {
		if !scope.record {
			p.add(e.keyNode, e.fullPath, "this section reads an event, not a Salesforce record: use path (%s.…)", strings.Join(scope.roots, ".…, "))
			bad = true
		} else if s, ok := p.sfName(e, true); ok {
			r.kind, r.name, r.parts = fromField, s, strings.Split(s, ".")
		} else {
			bad = true
		}
	}
	if e, ok := m["path"]; ok {
		if scope.record {
			p.add(e.keyNode, e.fullPath, "this section reads a Salesforce record, not an event: use field")
			bad = true
		} else if parts, ok := p.eventPath(e, scope); ok {
			r.kind, r.name, r.parts = fromPath, e.val.Value, parts
		} else {
			bad = true
		}
	}
	if e, ok := m["const"]; ok {
		v, ok := p.scalarValue(e.val, e.fullPath)
		switch {
		case !ok:
			bad = true
		case v == nil:
			p.add(e.val, e.fullPath, "must have a value")
			bad = true
		default:
			r.kind, r.value = fromConst, v
		}
	}
	if e, ok := m["transform"]; ok {
		s, ok := p.str(e)
		if ok {
			if r.transform = transforms[s]; r.transform == nil {
				p.add(e.val, e.fullPath, "unknown transform %q (known: %s)", s, strings.Join(TransformNames(), ", "))
				bad = true
			}
		} else {
			bad = true
		}
	}
	if e, ok := m["map"]; ok {
		ps, ok := p.pairs(e.val, e.fullPath)
		if ok && len(ps) == 0 {
			p.add(e.val, e.fullPath, "must not be empty")
		}
		r.mapTo = make(map[string]any, len(ps))
		for _, kv := range ps {
			if v, ok := p.scalarValue(kv.val, kv.fullPath); ok {
				r.mapTo[kv.key] = v
			} else {
				bad = true
			}
		}
		if !ok {
			bad = true
		}
	}
	if e, ok := m["default"]; ok {
		if v, ok := p.scalarValue(e.val, e.fullPath); ok {
			r.def = v
		} else {
			bad = true
		}
	}
	if e, ok := m["required"]; ok {
		var b bool
		if e.val.Kind != yaml.ScalarNode || e.val.Decode(&b) != nil {
			p.add(e.val, e.fullPath, "must be true or false")
			bad = true
		}
		r.required = b
	}
	if bad {
		return nil
	}
	return r
}

// eventPath reads a dotted event path under one of scope's roots.
func (p *parser) eventPath(e pair, scope ruleScope) ([]string, bool) {
	s, ok := p.str(e)
	if !ok {
		return nil, false
	}
	parts := strings.Split(s, ".")
	valid := len(parts) >= 2
	for _, x := range parts {
		if x == "" || strings.TrimSpace(x) != x {
			valid = false
		}
	}
	switch {
	case !valid:
		p.add(e.val, e.fullPath, "%q is not a dotted path like %s.name", s, scope.roots[0])
		return nil, false
	case !contains(scope.roots, parts[0]):
		p.add(e.val, e.fullPath, "path must start with %s", strings.Join(scope.roots, ", "))
		return nil, false
	}
	return parts, true
}

// attributes compiles `name: rule` pairs; dotted names nest.
func (p *parser) attributes(e pair, reserved []string) []attribute {
	ps, ok := p.pairs(e.val, e.fullPath)
	if !ok {
		return nil
	}
	out := make([]attribute, 0, len(ps))
	leaves := map[string]bool{}    // full names
	parents := map[string]string{} // dotted prefix -> a full name under it
	for _, kv := range ps {
		parts := strings.Split(kv.key, ".")
		valid := true
		for _, x := range parts {
			if !attrNameRe.MatchString(x) {
				valid = false
			}
		}
		if !valid {
			p.add(kv.keyNode, kv.fullPath, "attribute name must be letters, digits, _ or -, with dots for nesting")
			continue
		}
		if r := reservedIn(parts[0], reserved); r != "" {
			p.add(kv.keyNode, kv.fullPath, "%q is set by the bridge and cannot be mapped", r)
			continue
		}
		conflict := parents[kv.key]
		for i := 1; i < len(parts) && conflict == ""; i++ {
			if prefix := strings.Join(parts[:i], "."); leaves[prefix] {
				conflict = prefix
			}
		}
		if conflict != "" {
			p.add(kv.keyNode, kv.fullPath, "conflicts with attribute %q: a name cannot be both a value and a parent", conflict)
			continue
		}
		leaves[kv.key] = true
		for i := 1; i < len(parts); i++ {
			parents[strings.Join(parts[:i], ".")] = kv.key
		}
		if r := p.rule(kv.val, kv.fullPath, recordScope); r != nil {
			out = append(out, attribute{parts: parts, rule: r})
		}
	}
	return out
}

func reservedIn(first string, reserved []string) string {
	for _, r := range reserved {
		if strings.EqualFold(first, r) {
			return r
		}
	}
	return ""
}

// protectedWriteTargets is the one map whose keys may name protected fields.
const protectedWriteTargets = "case_contacts.fields"

// scanProtected refuses any scalar that names a protected field, as a whole
// or as one segment of a dotted name or path, anywhere in n.
func (p *parser) scanProtected(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			// A protected field may be the target of a write (the link from
			// a reported person to its case): that value stays in Salesforce.
			if k.Kind == yaml.ScalarNode && p.namesProtected(k.Value) && path != protectedWriteTargets {
				p.add(k, kp, "uses protected field %q", k.Value)
			}
			p.scanProtected(v, kp)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.scanProtected(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		if p.namesProtected(n.Value) {
			p.add(n, path, "uses protected field %q", n.Value)
		}
	}
}

func (p *parser) namesProtected(s string) bool {
	if len(p.protected) == 0 {
		return false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if p.protected[s] {
		return true
	}
	if strings.Contains(s, ".") {
		for _, x := range strings.Split(s, ".") {
			if p.protected[x] {
				return true
			}
		}
	}
	return false
}

// checkNodes refuses anchors, aliases and merge keys: they make one edit
// change several sections at once, and aliases can blow up a walk.
func (p *parser) checkNodes(n *yaml.Node, path string) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.add(n, path, "anchors and aliases are not supported")
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			kp := join(path, k.Value)
			if k.Kind == yaml.AliasNode || k.Anchor != "" {
				p.add(k, kp, "anchors and aliases are not supported")
				continue
			}
			p.checkNodes(n.Content[i+1], kp)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.checkNodes(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func cleanYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// decodeRoot reads exactly one YAML (or JSON) document.
func decodeRoot(data []byte) (*yaml.Node, *FieldError) {
	if len(data) > MaxDocumentSize {
		return nil, &FieldError{Message: fmt.Sprintf("document is larger than %d bytes", MaxDocumentSize)}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{Message: "document is empty"}
		}
		return nil, &FieldError{Message: "not valid YAML or JSON: " + cleanYAMLError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Message: "must hold exactly one document", Line: extra.Line}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &FieldError{Message: "document is empty"}
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil, &FieldError{Message: "document is empty", Line: root.Line}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{Message: "document must be a mapping of sections", Line: root.Line}
	}
	return root, nil
}

// toValue converts a checked node tree into plain Go values for JSON.
func toValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = toValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = toValue(c)
		}
		return l
	case yaml.ScalarNode:
		var v any
		if n.Decode(&v) != nil {
			return n.Value
		}
		switch x := v.(type) {
		case nil, string, bool, int, int64, float64:
			return x
		case uint64:
			return strconv.FormatUint(x, 10)
		}
		return n.Value
	}
	return nil
}

// sortedFields dedupes Salesforce names case-insensitively and sorts them.
func sortedFields(names ...string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n == "" || seen[strings.ToLower(n)] {
			continue
		}
		seen[strings.ToLower(n)] = true
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func ruleFields(rules ...*rule) []string {
	var out []string
	for _, r := range rules {
		if r != nil && r.kind == fromField {
			out = append(out, r.name)
		}
	}
	return out
}
