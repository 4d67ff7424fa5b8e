// Package docs holds the operators' documentation; its test checks that
// every relative link in the repository's markdown resolves.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	// [text](target) and ![alt](target), not inside code.
	reLink    = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	reHeading = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)
	reFence   = regexp.MustCompile("^\\s*(```|~~~)")
	reCode    = regexp.MustCompile("`[^`]*`")
)

// slug is GitHub's heading anchor: lower case; letters, digits, spaces,
// hyphens and underscores kept; spaces become hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

type mdFile struct {
	links   []string // link targets, outside code
	anchors map[string]bool
}

func parse(t *testing.T, path string) mdFile {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := mdFile{anchors: map[string]bool{}}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(raw), "\n") {
		if reFence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if m := reHeading.FindStringSubmatch(line); m != nil {
			s := slug(m[1])
			if n := seen[s]; n > 0 {
				f.anchors[s+"-"+itoa(n)] = true
			} else {
				f.anchors[s] = true
			}
			seen[s]++
		}
		for _, m := range reLink.FindAllStringSubmatch(reCode.ReplaceAllString(line, ""), -1) {
			f.links = append(f.links, m[1])
		}
	}
	return f
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRelativeLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]mdFile{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "artifacts") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			files[p] = parse(t, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d markdown files under %s", len(files), root)
	}
	checked := 0
	for path, f := range files {
		rel, _ := filepath.Rel(root, path)
		for _, link := range f.links {
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			checked++
			target, anchor, _ := strings.Cut(link, "#")
			dest := path
			if target != "" {
				dest = filepath.Clean(filepath.Join(filepath.Dir(path), target))
				if r, err := filepath.Rel(root, dest); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s: link %s leaves the repository", rel, link)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %s: no such file", rel, link)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(dest, ".md") {
				df, ok := files[dest]
				if !ok {
					df = parse(t, dest)
				}
				if !df.anchors[anchor] {
					t.Errorf("%s: link %s: no heading with anchor #%s", rel, link, anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links checked")
	}
	// A clone holds no ../shared: pointing readers there, even in code
	// quotes, sends them nowhere.
	for path := range files {
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), "../shared/") {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s points to ../shared/, which is not in the repository", rel)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"REQUEST_LIMIT_EXCEEDED / API usage near limit":       "request_limit_exceeded--api-usage-near-limit",
		"Instance ids: `BRIDGE_INSTANCE_ID`":                  "instance-ids-bridge_instance_id",
		"`bridge twilio sign --url URL [--post] key=value …`": "bridge-twilio-sign---url-url---post-keyvalue-",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}
