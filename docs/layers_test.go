package docs

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cityhealth/bridge"

// goPackages reads every non-test package of the module: its path relative
// to the module root, and what its non-test files import.
func goPackages(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		pkgs[filepath.ToSlash(rel)] = p.Imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// deps is every import reachable from pkg: the module's packages by their
// relative path, outside packages by their import path.
func deps(pkgs map[string][]string, pkg string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, imp := range pkgs[p] {
			rel, inModule := strings.CutPrefix(imp, module+"/")
			if !inModule {
				rel = imp
			}
			if !seen[rel] {
				seen[rel] = true
				if inModule {
					walk(rel)
				}
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// TestLayers keeps the cut DESIGN.md describes: data walks one way, and a
// flow reaches storage and other flows only through the small interfaces it
// declares, wired in server.
func TestLayers(t *testing.T) {
	pkgs := goPackages(t)
	if len(pkgs) < 20 {
		t.Fatalf("found %d packages; is the test running from docs/?", len(pkgs))
	}
	for pkg, imports := range pkgs {
		base := pkg[strings.LastIndex(pkg, "/")+1:]
		if slices.Contains([]string{"api", "util", "utils", "common", "helpers"}, base) {
			t.Errorf("%s: a package is named for its job, not %q", pkg, base)
		}
		flow := strings.HasPrefix(pkg, "flow/")
		if flow {
			for _, imp := range imports {
				if other, ok := strings.CutPrefix(imp, module+"/flow/"); ok {
					t.Errorf("%s imports flow/%s: flows meet in server, through interfaces", pkg, other)
				}
			}
		}
		if flow || pkg == "webhooks" || pkg == "survey" || pkg == "contacts" || pkg == "queue" || pkg == "event" {
			for _, d := range deps(pkgs, pkg) {
				if d == "connector/redis" || strings.HasPrefix(d, "github.com/redis/go-redis") {
					t.Errorf("%s depends on %s: it takes a small store interface instead", pkg, d)
				}
			}
		}
	}
	for pkg, forbidden := range map[string][]string{
		// mapping is pure: documents and records in, attributes out.
		"mapping": {module + "/"},
		// The queue's contract and the error kinds depend on nothing of ours.
		"queue": {module + "/"},
		"fault": {module + "/"},
		// The vendor adapters know neither each other nor gin.
		"connector/salesforce": {module + "/connector/twilio", "github.com/gin-gonic/gin"},
		"connector/twilio":     {module + "/connector/salesforce", "github.com/gin-gonic/gin"},
		// admin is HTTP only: no store, no Lua.
		"admin": {"github.com/redis/go-redis"},
	} {
		if _, ok := pkgs[pkg]; !ok {
			t.Errorf("package %s not found", pkg)
			continue
		}
		for _, imp := range pkgs[pkg] {
			for _, f := range forbidden {
				if strings.HasPrefix(imp, f) {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
	// Backfill is a producer: it reaches no flow, even through another package.
	for _, d := range deps(pkgs, "flow/backfill") {
		if strings.HasPrefix(d, "flow/") {
			t.Errorf("flow/backfill depends on %s", d)
		}
	}
}

// TestAdminHoldsNoLua: the mapping version store's scripts live in
// connector/redis.
func TestAdminHoldsNoLua(t *testing.T) {
	files, err := filepath.Glob("../admin/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "redis.call(") {
			t.Errorf("%s holds a Lua script", f)
		}
	}
}
