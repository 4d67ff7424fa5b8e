package mapping

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// summaryDepth is how deep Summarize names a change:
// record_to_task.attributes.to, not …to.transform, so a line stays short.
const summaryDepth = 3

// summaryPerKind bounds the paths listed per kind of change.
const summaryPerKind = 4

// Summarize describes how the mapping document next differs from prev in a
// short line, for a version's history entry, e.g.
// "changed record_to_task.attributes.to; added reminders". It names keys
// only, never values. A nil prev is the first version.
func Summarize(prev, next []byte) string {
	var a, b any
	if len(prev) > 0 {
		if yaml.Unmarshal(prev, &a) != nil {
			return "replaced the document"
		}
	}
	if yaml.Unmarshal(next, &b) != nil {
		return "replaced the document"
	}
	var d differ
	d.walk(nil, a, b)
	var parts []string
	for _, g := range []struct {
		verb  string
		paths []string
	}{{"changed", d.changed}, {"added", d.added}, {"removed", d.removed}} {
		if len(g.paths) == 0 {
			continue
		}
		list := g.paths
		more := ""
		if len(list) > summaryPerKind {
			more = fmt.Sprintf(" and %d more", len(list)-summaryPerKind)
			list = list[:summaryPerKind]
		}
		parts = append(parts, g.verb+" "+strings.Join(list, ", ")+more)
	}
	if len(parts) == 0 {
		return "no changes (formatting or comments only)"
	}
	return strings.Join(parts, "; ")
}

type differ struct {
	changed, added, removed []string
}

func (d *differ) walk(path []string, a, b any) {
	am, aok := asMap(a)
	bm, bok := asMap(b)
	if len(path) == 0 {
		// The document root: an absent or empty document is an empty map.
		aok, bok = aok || a == nil, bok || b == nil
	}
	if !aok || !bok || len(path) >= summaryDepth {
		if !reflect.DeepEqual(a, b) {
			d.changed = append(d.changed, strings.Join(path, "."))
		}
		return
	}
	keys := make([]string, 0, len(am)+len(bm))
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		av, inA := am[k]
		bv, inB := bm[k]
		p := append(append([]string(nil), path...), k)
		switch {
		case !inA || (av == nil && bv != nil && len(path) == 0):
			d.added = append(d.added, strings.Join(p, "."))
		case !inB || (bv == nil && av != nil && len(path) == 0):
			d.removed = append(d.removed, strings.Join(p, "."))
		default:
			d.walk(p, av, bv)
		}
	}
}
