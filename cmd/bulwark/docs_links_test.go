package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsLinksStayInTheRepository checks every Markdown link of README.md
// and docs/: a relative link must name a file of the repository (and, with
// a #fragment into a Markdown file, one of its headings), so nothing points
// into a path outside the repository's tree; absolute links may only be
// https:// references to public sites (RFCs, library documentation).
func TestDocsLinksStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) < 5 {
		t.Fatalf("docs/*.md: %v (%d files)", err, len(docs))
	}
	files = append(files, docs...)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, f)
		for _, m := range link.FindAllStringSubmatch(string(raw), -1) {
			n++
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				if !strings.HasPrefix(target, "https://") || strings.Contains(target, "/shared/") {
					t.Errorf("%s links outside the repository: %s", name, target)
				}
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := f
			if path != "" {
				dest = filepath.Clean(filepath.Join(filepath.Dir(f), path))
				if rel, err := filepath.Rel(root, dest); err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s links outside the repository: %s", name, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s links to a missing file: %s", name, target)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !hasAnchor(t, dest, frag) {
				t.Errorf("%s links to a missing heading: %s", name, target)
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d links", n)
	}
}

// hasAnchor reports whether the Markdown file has a heading whose GitHub
// anchor is frag: lower case, punctuation other than - and _ dropped,
// spaces turned into -.
func hasAnchor(t *testing.T, file, frag string) bool {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		if b.String() == frag {
			return true
		}
	}
	return false
}
