package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSemverCompare(t *testing.T) {
	// Ordered as x/mod/semver orders them; invalid versions sort first.
	ordered := []string{
		"bad", "v1.2.3.4", "v01.0.0",
		"v0.0.0-20230101000000-abcdef123456", "v0.0.0",
		"v0.3.5", "v0.3.7", "v0.39.0",
		"v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1",
		"v1.0.0", "v1.2", "v1.2.1", "v1.26.8", "v1.26.9", "v1.26.10", "v2.0.0+incompatible",
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < 3 && j < 3: // invalid versions are equal to each other
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := semverCompare(a, b); got != want {
				t.Errorf("semverCompare(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if semverCompare("v1.2.0", "v1.2") != 0 || semverCompare("v1.0.0+meta", "v1.0.0") != 0 {
		t.Error("shorthand or build metadata changed the order")
	}
	if !versionBefore("", "0.1.0") || versionBefore("0.1.0", "") {
		t.Error(`versionBefore must treat "" as lower than any version`)
	}
}

func TestLatestFixed(t *testing.T) {
	r := func(events ...[2]string) []osvRange {
		var rg osvRange
		rg.Type = "SEMVER"
		for _, e := range events {
			rg.Events = append(rg.Events, struct {
				Introduced string `json:"introduced"`
				Fixed      string `json:"fixed"`
			}{e[0], e[1]})
		}
		return []osvRange{rg}
	}
	for _, tc := range []struct {
		ranges []osvRange
		want   string
	}{
		{r([2]string{"0", ""}, [2]string{"", "1.2.3"}), "1.2.3"},
		{r([2]string{"0", ""}, [2]string{"", "1.2.3"}, [2]string{"1.3.0", ""}, [2]string{"", "1.3.4"}), "1.3.4"},
		{r([2]string{"0", ""}, [2]string{"", "1.2.3"}, [2]string{"2.0.0", ""}), ""},
		{r([2]string{"0", ""}), ""},
	} {
		if got := latestFixed(tc.ranges); got != tc.want {
			t.Errorf("latestFixed(%+v) = %q, want %q", tc.ranges, got, tc.want)
		}
	}
}

func TestBuildDB(t *testing.T) {
	src := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("GO-2024-0002.json", `{
  "id": "GO-2024-0002",
  "modified": "2024-03-01T10:00:00+01:00",
  "aliases": ["CVE-2024-2"],
  "summary": "b <b>",
  "affected": [
    {"package": {"name": "example.com/b"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.1.0"}]}]},
    {"package": {"name": "example.com/a"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}
  ]
}`)
	write("GO-2024-0001.json", `{"id": "GO-2024-0001", "modified": "2024-01-01T00:00:00Z",
  "affected": [{"package": {"name": "example.com/a"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.2.0"}]}]}]}`)
	write("index.json", `[]`)
	write("README.md", `not an entry`)

	out := filepath.Join(t.TempDir(), "db")
	n, err := buildDB(src, out, true)
	if err != nil || n != 2 {
		t.Fatalf("buildDB = %d, %v; want 2 entries", n, err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, want := range map[string]string{
		"index/db.json":      `{"modified":"2024-03-01T09:00:00Z"}`,
		"index/modules.json": `[{"path":"example.com/a","vulns":[{"id":"GO-2024-0001","modified":"2024-01-01T00:00:00Z","fixed":"0.2.0"},{"id":"GO-2024-0002","modified":"2024-03-01T09:00:00Z"}]},{"path":"example.com/b","vulns":[{"id":"GO-2024-0002","modified":"2024-03-01T09:00:00Z","fixed":"1.1.0"}]}]`,
		"index/vulns.json":   `[{"id":"GO-2024-0001","modified":"2024-01-01T00:00:00Z"},{"id":"GO-2024-0002","modified":"2024-03-01T09:00:00Z","aliases":["CVE-2024-2"]}]`,
	} {
		if got := read(name); got != want {
			t.Errorf("%s =\n%s\nwant\n%s", name, got, want)
		}
	}
	if got := read("ID/GO-2024-0002.json"); !strings.HasPrefix(got, `{"id":"GO-2024-0002","modified":"2024-03-01T10:00:00+01:00","aliases":["CVE-2024-2"],"summary":"b <b>"`) {
		t.Errorf("entry not compacted as is: %s", got)
	}
	if _, err := os.Stat(filepath.Join(out, "ID", "GO-2024-0001.json.gz")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, "ID", "index.json")); err == nil {
		t.Error("index.json was indexed as an entry")
	}

	write("GO-2024-0003.json", `{"id": "GO-2024-0001"}`)
	if _, err := buildDB(src, filepath.Join(t.TempDir(), "db"), false); err == nil {
		t.Error("duplicate id accepted")
	}
}

func TestAffects(t *testing.T) {
	rg := []osvRange{{Type: "SEMVER"}}
	for _, e := range [][2]string{{"0", ""}, {"", "1.26.9"}, {"1.27.0-0", ""}, {"", "1.27.2"}} {
		rg[0].Events = append(rg[0].Events, struct {
			Introduced string `json:"introduced"`
			Fixed      string `json:"fixed"`
		}{e[0], e[1]})
	}
	for v, want := range map[string]bool{
		"1.0.0": true, "1.26.8": true, "1.26.9": false, "1.26.10": false,
		"1.27.0-rc.1": true, "1.27.0": true, "1.27.1": true, "1.27.2": false, "1.28.0": false,
	} {
		if got := affects(rg, v); got != want {
			t.Errorf("affects(%s) = %v, want %v", v, got, want)
		}
	}
}

func TestReport(t *testing.T) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	msg := func(v any) {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	type m = map[string]any
	fr := func(module, version, pkg, fn string) m {
		return m{"module": module, "version": version, "package": pkg, "function": fn}
	}
	msg(m{"config": m{"scanner_version": "v1.9.0", "go_version": "go1.26.8", "scan_level": "symbol", "db": "file:///db"}})
	msg(m{"osv": m{"id": "GO-1", "summary": "third-party, called"}})
	goRange := func(events ...m) []m {
		return []m{{"package": m{"name": "stdlib"}, "ranges": []m{{"type": "SEMVER", "events": events}}}}
	}
	msg(m{"osv": m{"id": "GO-2", "summary": "stdlib, called", "affected": goRange(
		m{"introduced": "0"}, m{"fixed": "1.26.9"}, m{"introduced": "1.27.0-0"}, m{"fixed": "1.27.2"})}})
	msg(m{"osv": m{"id": "GO-3", "summary": "stdlib, required", "affected": goRange(
		m{"introduced": "0"}, m{"fixed": "1.25.12"}, m{"introduced": "1.26.0-0"}, m{"fixed": "1.26.10"}, m{"introduced": "1.27.0-0"}, m{"fixed": "1.27.3"})}})
	msg(m{"osv": m{"id": "GO-4", "summary": "third-party, imported"}})
	msg(m{"finding": m{"osv": "GO-1", "fixed_version": "v0.3.7", "trace": []m{fr("golang.org/x/text", "v0.3.5", "", "")}}})
	msg(m{"finding": m{"osv": "GO-1", "fixed_version": "v0.3.7", "trace": []m{fr("golang.org/x/text", "v0.3.5", "golang.org/x/text/language", "Parse"), fr("example.com/app", "", "example.com/app", "main")}}})
	msg(m{"finding": m{"osv": "GO-2", "fixed_version": "v1.26.9", "trace": []m{fr("stdlib", "v1.26.8", "net/http", "ListenAndServe"), fr("example.com/app", "", "example.com/app", "main")}}})
	msg(m{"finding": m{"osv": "GO-3", "fixed_version": "v1.26.10", "trace": []m{fr("stdlib", "v1.26.8", "", "")}}})
	msg(m{"finding": m{"osv": "GO-4", "trace": []m{fr("example.com/lib", "v1.0.0", "example.com/lib/x", "")}}})

	var out bytes.Buffer
	if code := report(bytes.NewReader(in.Bytes()), &out); code != 1 {
		t.Errorf("exit code %d, want 1\n%s", code, out.String())
	}
	for _, want := range []string{
		"FAIL    GO-1 golang.org/x/text@v0.3.5, CALLED, fixed in golang.org/x/text@v0.3.7: third-party, called\n        example.com/app.main -> golang.org/x/text/language.Parse\n",
		"FAIL    GO-2 Go standard library go1.26.8, CALLED, fixed in go1.26.9 (also go1.27.2): stdlib, called\n        example.com/app.main -> net/http.ListenAndServe\n",
		"FAIL    GO-3 Go standard library go1.26.8, required, fixed in go1.26.10 (also go1.27.3): stdlib, required\n",
		"FAIL    GO-4 example.com/lib@v1.0.0, imported but not called, no fix released yet: third-party, imported\n",
		"FAIL: go1.26.8 has 2 known vulnerabilities (1 called): the first releases that fix all of them: go1.26.10, go1.27.3; move go.mod's toolchain line there\n",
		"FAIL: 1 vulnerable third-party module(s) required but not called: upgrade them\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	// Standard-library findings alone fail too: the toolchain line fixes them.
	// without returns the input less its lines that contain s.
	without := func(s string) *bytes.Buffer {
		var b bytes.Buffer
		for _, line := range strings.SplitAfter(in.String(), "\n") {
			if !strings.Contains(line, s) {
				b.WriteString(line)
			}
		}
		return &b
	}
	out.Reset()
	if code := report(without(`"GO-1"`), &out); code != 1 {
		t.Errorf("stdlib-only findings: exit code %d, want 1\n%s", code, out.String())
	}

	// No finding at all passes.
	out.Reset()
	if code := report(without(`"finding"`), &out); code != 0 || !strings.Contains(out.String(), "OK: no known vulnerability") {
		t.Errorf("no findings: exit code %d, want 0\n%s", code, out.String())
	}

	if code := report(strings.NewReader(""), &out); code != 2 {
		t.Errorf("empty input: exit code %d, want 2", code)
	}
	if code := report(strings.NewReader("not json"), &out); code != 2 {
		t.Errorf("bad input: exit code %d, want 2", code)
	}
}
