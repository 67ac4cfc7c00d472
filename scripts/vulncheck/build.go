package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The v1 Go vulnerability database layout that govulncheck reads
// (https://go.dev/security/vuln/database#api):
//
//	index/db.json       {"modified": T}
//	index/modules.json  [{"path": M, "vulns": [{"id", "modified", "fixed"}]}]
//	index/vulns.json    [{"id", "modified", "aliases"}]
//	ID/GO-YYYY-NNNN.json  the OSV entry
//
// buildDB writes it from a folder of OSV JSON files (the data/osv folder of
// the golang.org/x/vulndb module), doing what that module's cmd/indexdb does
// (internal/database.RawLoad + Write) with the standard library only. The
// output matches indexdb's byte for byte (checked on vulndb
// v0.0.0-20261105234957-e22db6528018); the .gz copies, which only an HTTP
// server of the database needs, are written when withGzip is set.

// osvEntry holds the parts of an OSV entry that the index needs.
type osvEntry struct {
	ID       string          `json:"id"`
	Modified json.RawMessage `json:"modified"`
	Aliases  []string        `json:"aliases"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	} `json:"events"`
}

type dbMeta struct {
	Modified string `json:"modified"`
}

type moduleIndex struct {
	Path  string        `json:"path"`
	Vulns []moduleVulns `json:"vulns"`
}

type moduleVulns struct {
	ID       string `json:"id"`
	Modified string `json:"modified"`
	Fixed    string `json:"fixed,omitempty"`
}

type vulnIndex struct {
	ID       string   `json:"id"`
	Modified string   `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
}

// osvTime normalises an OSV timestamp to RFC 3339 in UTC, as vulndb's
// osv.Time does; a missing one is the zero time.
func osvTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// latestFixed mirrors vulndb's osvutils.LatestFixed: the highest "fixed"
// version of the SEMVER ranges, or "" if the vulnerability is reintroduced
// after it.
func latestFixed(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && versionBefore(latest, e.Fixed) {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && versionBefore(latest, e.Introduced) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// buildDB indexes every *.json file under vulnsDir (except index.json) and
// writes the database to outDir, which must not exist yet or be empty.
func buildDB(vulnsDir, outDir string, withGzip bool) (entries int, err error) {
	var (
		latest  time.Time
		modules = map[string]*moduleIndex{}
		vulns   = map[string]vulnIndex{}
	)
	idDir, indexDir := filepath.Join(outDir, "ID"), filepath.Join(outDir, "index")
	for _, d := range []string{idDir, indexDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	err = filepath.WalkDir(vulnsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == "index.json" || filepath.Ext(d.Name()) != ".json" {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var e osvEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if e.ID == "" {
			return fmt.Errorf("%s: OSV entry has no id", path)
		}
		if _, dup := vulns[e.ID]; dup {
			return fmt.Errorf("%s: id %q appears twice", path, e.ID)
		}
		mod, err := osvTime(e.Modified)
		if err != nil {
			return fmt.Errorf("%s: modified: %v", path, err)
		}
		if mod.After(latest) {
			latest = mod
		}
		vulns[e.ID] = vulnIndex{ID: e.ID, Modified: formatTime(mod), Aliases: e.Aliases}
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &moduleIndex{Path: a.Package.Name, Vulns: []moduleVulns{}}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVulns{ID: e.ID, Modified: formatTime(mod), Fixed: latestFixed(a.Ranges)})
		}
		// The entry files are the OSV JSON, compacted (what indexdb's
		// re-marshalling produces for these files).
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		entries++
		return writeJSON(filepath.Join(idDir, e.ID+".json"), buf.Bytes(), withGzip)
	})
	if err != nil {
		return 0, err
	}
	if entries == 0 {
		return 0, fmt.Errorf("no OSV entries under %s", vulnsDir)
	}

	modList := make([]*moduleIndex, 0, len(modules))
	for _, m := range modules {
		slices.SortStableFunc(m.Vulns, func(a, b moduleVulns) int { return cmp.Compare(a.ID, b.ID) })
		modList = append(modList, m)
	}
	slices.SortFunc(modList, func(a, b *moduleIndex) int { return cmp.Compare(a.Path, b.Path) })
	vulnList := make([]vulnIndex, 0, len(vulns))
	for _, v := range vulns {
		vulnList = append(vulnList, v)
	}
	slices.SortFunc(vulnList, func(a, b vulnIndex) int { return cmp.Compare(a.ID, b.ID) })

	for name, v := range map[string]any{
		"db.json":      dbMeta{Modified: formatTime(latest)},
		"modules.json": modList,
		"vulns.json":   vulnList,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := writeJSON(filepath.Join(indexDir, name), b, withGzip); err != nil {
			return 0, err
		}
	}
	return entries, nil
}

func writeJSON(name string, b []byte, withGzip bool) error {
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return err
	}
	if !withGzip {
		return nil
	}
	var z bytes.Buffer
	w, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(name+".gz", z.Bytes(), 0o644)
}

// errNotEmpty is returned when the output folder already holds files.
var errNotEmpty = errors.New("output folder is not empty")

func checkEmptyDir(dir string) error {
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("%s: %w", dir, errNotEmpty)
	}
	return nil
}
