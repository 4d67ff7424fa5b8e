package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// perLanguage are the mapping keys whose value is keyed by language code.
var perLanguage = []string{"label", "templates", "email_subject", "voice", "keywords"}

// The example mapping offers every question and template in every language
// it names, and reads the language field the same way in every flow (so the
// screen pop never says "english" while the reminders say "en").
func checkLanguages(t *testing.T, name, doc string) {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var langMaps []map[string]any
	var langMapPaths []string
	offered := map[string]bool{}
	type keyed struct {
		path  string
		langs []string
	}
	var tables []keyed
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				p := path + "." + k
				if k == "language" {
					if rule, ok := c.(map[string]any); ok {
						m, _ := rule["map"].(map[string]any)
						langMaps = append(langMaps, m)
						langMapPaths = append(langMapPaths, p)
						for _, code := range m {
							offered[code.(string)] = true
						}
						if d, ok := rule["default"].(string); ok {
							offered[d] = true
						}
					}
				}
				if slices.Contains(perLanguage, k) {
					if m, ok := c.(map[string]any); ok && !isRule(m) {
						tables = append(tables, keyed{p, slices.Sorted(maps.Keys(m))})
						for code := range m {
							offered[code] = true
						}
						continue
					}
				}
				walk(p, c)
			}
		case []any:
			for _, c := range x {
				walk(path+"[]", c)
			}
		}
	}
	walk("", root)
	if len(langMaps) < 2 {
		t.Fatalf("%s: want the language rule in several flows, found %v", name, langMapPaths)
	}
	for i := range langMaps {
		if !reflect.DeepEqual(langMaps[i], langMaps[0]) {
			t.Errorf("%s: %s maps %v, but %s maps %v", name, langMapPaths[i], langMaps[i], langMapPaths[0], langMaps[0])
		}
	}
	want := slices.Sorted(maps.Keys(offered))
	for _, tb := range tables {
		if !slices.Equal(tb.langs, want) {
			t.Errorf("%s: %s has %v, want every offered language %v", name, tb.path, tb.langs, want)
		}
	}
	// Each offered language is reachable from the field's own value.
	for _, code := range want {
		found := false
		for _, v := range langMaps[0] {
			found = found || v == code
		}
		if !found && code != "en" {
			t.Errorf("%s: language %s is offered but no Preferred_Language__c value maps to it", name, code)
		}
	}
}

func TestExampleMappingLanguagesConsistent(t *testing.T) {
	checkLanguages(t, "config/mapping.example.yaml", ExampleMapping)
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "kubernetes", "mapping-configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The ConfigMap carries the document under data."mapping.yaml".
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	for k, v := range cm.Data {
		if strings.HasSuffix(k, ".yaml") {
			checkLanguages(t, "deploy/kubernetes/mapping-configmap.yaml:"+k, v)
		}
	}
}

// isRule tells a rule ({field|path|const: …}, e.g. caller_lookup's label)
// from a table keyed by language.
func isRule(m map[string]any) bool {
	for _, k := range []string{"field", "path", "const"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}
