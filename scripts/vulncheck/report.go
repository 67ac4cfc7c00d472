package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The subset of govulncheck's JSON protocol (golang.org/x/vuln
// internal/govulncheck, protocol v1.0.0) that report reads: a stream of
// messages, each holding one of config, osv or finding.
type message struct {
	Config *struct {
		ScannerVersion string `json:"scanner_version"`
		DB             string `json:"db"`
		GoVersion      string `json:"go_version"`
		ScanLevel      string `json:"scan_level"`
	} `json:"config"`
	OSV *struct {
		ID       string   `json:"id"`
		Summary  string   `json:"summary"`
		Aliases  []string `json:"aliases"`
		Affected []struct {
			Package struct {
				Name string `json:"name"`
			} `json:"package"`
			Ranges []osvRange `json:"ranges"`
		} `json:"affected"`
	} `json:"osv"`
	Finding *finding `json:"finding"`
}

type finding struct {
	OSV          string   `json:"osv"`
	FixedVersion string   `json:"fixed_version"`
	Trace        []*frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

// Levels, as govulncheck reports them: the module is required, a package of
// it is imported, a vulnerable function is reachable from the code.
const (
	levelModule = iota + 1
	levelPackage
	levelSymbol
)

var levelWord = map[int]string{levelModule: "required", levelPackage: "imported", levelSymbol: "CALLED"}

// vuln is one vulnerability in one module (an ID can name several modules,
// such as the standard library and golang.org/x/net).
type vuln struct {
	id, module, version, fixed string
	level                      int
	example                    string // the shortest call path, for level symbol
	exampleLen                 int
}

func isGo(module string) bool { return module == "stdlib" || module == "toolchain" }

// goRelease turns govulncheck's "v1.26.9" for the standard library into "go1.26.9".
func goRelease(v string) string {
	if v == "" {
		return "no fixed release yet"
	}
	return "go" + strings.TrimPrefix(v, "v")
}

// fixText says which release fixes v.
func fixText(v vuln) string {
	switch {
	case v.fixed == "":
		return "no fix released yet"
	case isGo(v.module):
		return "fixed in " + goRelease(v.fixed)
	default:
		return "fixed in " + v.module + "@" + v.fixed
	}
}

// callPath describes a symbol-level trace: the project's function that starts
// it and the vulnerable symbol it reaches.
func callPath(t []*frame) string {
	name := func(f *frame) string {
		n := f.Function
		if f.Receiver != "" {
			n = strings.TrimPrefix(f.Receiver, "*") + "." + n
		}
		return f.Package + "." + n
	}
	sink, entry := t[0], t[len(t)-1]
	s := name(entry)
	if entry.Position != nil && entry.Position.Filename != "" {
		s = fmt.Sprintf("%s:%d %s", entry.Position.Filename, entry.Position.Line, s)
	}
	switch n := len(t) - 2; {
	case n == 1:
		s += " -> (1 call) ->"
	case n > 1:
		s += fmt.Sprintf(" -> (%d calls) ->", n)
	default:
		s += " ->"
	}
	return s + " " + name(sink)
}

// affects reports whether the unprefixed version v lies in one of the
// SEMVER ranges, following OSV's rules: the last event at or below v decides.
func affects(ranges []osvRange, v string) bool {
	type event struct {
		version    string
		introduced bool
	}
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		var events []event
		for _, e := range r.Events {
			if e.Introduced != "" {
				events = append(events, event{e.Introduced, true}) // "0" parses as 0.0.0
			}
			if e.Fixed != "" {
				events = append(events, event{e.Fixed, false})
			}
		}
		slices.SortStableFunc(events, func(a, b event) int { return semverCompare("v"+a.version, "v"+b.version) })
		in := false
		for _, e := range events {
			if versionBefore(v, e.version) {
				break
			}
			in = e.introduced
		}
		if in {
			return true
		}
	}
	return false
}

// fixedVersions lists the "fixed" versions of the SEMVER ranges, ascending.
func fixedVersions(ranges []osvRange) []string {
	var out []string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && !slices.Contains(out, e.Fixed) {
				out = append(out, e.Fixed)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return semverCompare("v"+a, "v"+b) })
	return out
}

// laterFixes names the Go releases after fixed (govulncheck's "v1.26.9")
// that also fix the vulnerability: the fixes on newer release lines.
func laterFixes(ranges []osvRange, fixed string) []string {
	var out []string
	for _, f := range fixedVersions(ranges) {
		if fixed != "" && versionBefore(strings.TrimPrefix(fixed, "v"), f) {
			out = append(out, goRelease(f))
		}
	}
	return out
}

// goReleasesFixingAll returns, for each Go release line (1.26, 1.27, ...)
// from current's on, the first release that none of the vulnerabilities ids
// affects, among the releases the database names as fixes.
func goReleasesFixingAll(goRanges map[string][]osvRange, ids []string, current string) []string {
	var candidates []string
	for _, id := range ids {
		for _, f := range fixedVersions(goRanges[id]) {
			if versionBefore(current, f) && !slices.Contains(candidates, f) {
				candidates = append(candidates, f)
			}
		}
	}
	slices.SortFunc(candidates, func(a, b string) int { return semverCompare("v"+a, "v"+b) })
	var out []string
	seenLine := map[string]bool{}
	for _, c := range candidates {
		line := c
		if i := strings.LastIndex(c, "."); i > 0 {
			line = c[:i]
		}
		if seenLine[line] {
			continue
		}
		if !slices.ContainsFunc(ids, func(id string) bool { return affects(goRanges[id], c) }) {
			seenLine[line] = true
			out = append(out, goRelease(c))
		}
	}
	return out
}

// report prints govulncheck's findings by kind and returns the exit code:
// 1 if there is any finding at all (a vulnerable module required, a package
// imported or a function called, the standard library included: a
// standard-library finding is fixed by moving go.mod's toolchain line), 2 if
// the input is not govulncheck output, 0 otherwise.
func report(r io.Reader, w io.Writer) int {
	dec := json.NewDecoder(r)
	summaries := map[string]string{}
	goRanges := map[string][]osvRange{} // the Go releases each vulnerability affects
	vulns := map[[2]string]*vuln{}
	sawConfig := false
	for {
		var m message
		err := dec.Decode(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(w, "ERROR: cannot read govulncheck JSON output: %v\n", err)
			return 2
		}
		switch {
		case m.Config != nil:
			sawConfig = true
			c := m.Config
			fmt.Fprintf(w, "govulncheck %s, %s, scan level %s, database %s\n", c.ScannerVersion, c.GoVersion, c.ScanLevel, c.DB)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
			for _, a := range m.OSV.Affected {
				if isGo(a.Package.Name) {
					goRanges[m.OSV.ID] = append(goRanges[m.OSV.ID], a.Ranges...)
				}
			}
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			top := f.Trace[0]
			lvl := levelModule
			switch {
			case top.Function != "":
				lvl = levelSymbol
			case top.Package != "":
				lvl = levelPackage
			}
			key := [2]string{f.OSV, top.Module}
			v := vulns[key]
			if v == nil {
				v = &vuln{id: f.OSV, module: top.Module, version: top.Version, fixed: f.FixedVersion}
				vulns[key] = v
			}
			if lvl > v.level {
				v.level = lvl
			}
			if lvl == levelSymbol && (v.example == "" || len(f.Trace) < v.exampleLen) {
				v.example, v.exampleLen = callPath(f.Trace), len(f.Trace)
			}
		}
	}
	if !sawConfig {
		fmt.Fprintln(w, "ERROR: no govulncheck output to read (did govulncheck fail?)")
		return 2
	}

	list := make([]*vuln, 0, len(vulns))
	for _, v := range vulns {
		list = append(list, v)
	}
	// Most serious first: called third-party, then the rest by level and ID.
	rank := func(v *vuln) int {
		if !isGo(v.module) && v.level == levelSymbol {
			return 0
		}
		if isGo(v.module) {
			return 4 - v.level // called 1, imported 2, required 3
		}
		return 7 - v.level // third-party imported 5, required 6
	}
	slices.SortFunc(list, func(a, b *vuln) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.id, b.id), cmp.Compare(a.module, b.module))
	})

	var failed, goCalled, goOther, otherNotCalled int
	var goIDs []string
	goVersion, goMaxFixed := "", ""
	for _, v := range list {
		summary := summaries[v.id]
		switch {
		case !isGo(v.module) && v.level == levelSymbol:
			failed++
			fmt.Fprintf(w, "FAIL    %s %s@%s, CALLED, %s: %s\n", v.id, v.module, v.version, fixText(*v), summary)
			fmt.Fprintf(w, "        %s\n", v.example)
		case isGo(v.module):
			if v.level == levelSymbol {
				goCalled++
			} else {
				goOther++
			}
			goIDs = append(goIDs, v.id)
			goVersion = strings.TrimPrefix(v.version, "v")
			if f := strings.TrimPrefix(v.fixed, "v"); goMaxFixed != "none" {
				switch {
				case f == "":
					goMaxFixed = "none"
				case goMaxFixed == "" || versionBefore(goMaxFixed, f):
					goMaxFixed = f
				}
			}
			fix := fixText(*v)
			if later := laterFixes(goRanges[v.id], v.fixed); len(later) > 0 {
				fix += " (also " + strings.Join(later, ", ") + ")"
			}
			fmt.Fprintf(w, "FAIL    %s Go standard library %s, %s, %s: %s\n", v.id, goRelease(v.version), levelWord[v.level], fix, summary)
			if v.example != "" {
				fmt.Fprintf(w, "        %s\n", v.example)
			}
		default:
			otherNotCalled++
			fmt.Fprintf(w, "FAIL    %s %s@%s, %s but not called, %s: %s\n", v.id, v.module, v.version, levelWord[v.level], fixText(*v), summary)
		}
	}

	fmt.Fprintf(w, "vulnerabilities: %d called in third-party modules, %d called in the Go standard library, %d more in the standard library not called, %d more in third-party modules not called\n",
		failed, goCalled, goOther, otherNotCalled)
	if len(goIDs) > 0 {
		fix := "no Go release fixes all of them yet"
		if rels := goReleasesFixingAll(goRanges, goIDs, goVersion); len(rels) > 0 {
			fix = "the first releases that fix all of them: " + strings.Join(rels, ", ")
		} else if goMaxFixed != "none" {
			// No OSV ranges to check other release lines with.
			fix = "upgrade to " + goRelease(goMaxFixed) + " or later"
		}
		fmt.Fprintf(w, "FAIL: go%s has %d known vulnerabilities (%d called): %s; move go.mod's toolchain line there\n", goVersion, len(goIDs), goCalled, fix)
	}
	if failed > 0 {
		fmt.Fprintf(w, "FAIL: the code calls %d vulnerable third-party function(s): upgrade the module(s) above\n", failed)
	}
	if otherNotCalled > 0 {
		fmt.Fprintf(w, "FAIL: %d vulnerable third-party module(s) required but not called: upgrade them\n", otherNotCalled)
	}
	if len(list) > 0 {
		return 1
	}
	fmt.Fprintln(w, "OK: no known vulnerability in the standard library or any module")
	return 0
}
