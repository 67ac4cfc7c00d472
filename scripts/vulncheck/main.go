// Command vulncheck supports scripts/govulncheck.sh: it builds a local copy of
// the Go vulnerability database from the golang.org/x/vulndb module (fetched
// through the Go module proxy, as CI cannot reach vuln.go.dev) and classifies
// govulncheck's JSON output.
//
//	vulncheck db -version V [-cache DIR] [-indexer builtin|official]
//	    ensure DIR/V holds a v1 database built from golang.org/x/vulndb@V
//	    and print its path.
//	vulncheck build -vulns DIR -out DIR [-gzip]
//	    index a folder of OSV JSON files into a v1 database.
//	vulncheck report < govulncheck.json
//	    print the findings of `govulncheck -format json`; exit 1 on any
//	    finding (standard library included), 0 when there is none, 2 on
//	    bad input.
//
// It uses the standard library only.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "vulncheck: "+format+"\n", args...) }
	if len(os.Args) < 2 {
		log("usage: vulncheck db|build|report [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	switch cmd {
	case "db":
		version := fs.String("version", "", "golang.org/x/vulndb module version")
		cache := fs.String("cache", defaultCache(), "folder that keeps one database per version")
		indexer := fs.String("indexer", "builtin", "builtin (this program) or official (go run golang.org/x/vulndb/cmd/indexdb@version)")
		fs.Parse(args)
		if *version == "" {
			log("db: -version is required")
			os.Exit(2)
		}
		dir, err := ensureDB(*version, *cache, *indexer, log)
		if err != nil {
			log("db: %v", err)
			os.Exit(1)
		}
		fmt.Println(dir)
	case "build":
		vulns := fs.String("vulns", "", "folder of OSV JSON files")
		out := fs.String("out", "", "folder to write the database to (new or empty)")
		gz := fs.Bool("gzip", false, "also write .json.gz files (needed only to serve the database over HTTP)")
		fs.Parse(args)
		if *vulns == "" || *out == "" {
			log("build: -vulns and -out are required")
			os.Exit(2)
		}
		if err := checkEmptyDir(*out); err != nil {
			log("build: %v", err)
			os.Exit(1)
		}
		n, err := buildDB(*vulns, *out, *gz)
		if err != nil {
			log("build: %v", err)
			os.Exit(1)
		}
		log("indexed %d entries into %s", n, *out)
	case "report":
		fs.Parse(args)
		os.Exit(report(os.Stdin, os.Stdout))
	default:
		log("unknown command %q (want db, build or report)", cmd)
		os.Exit(2)
	}
}

func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "bulwark-vulndb")
	}
	return filepath.Join(os.TempDir(), "bulwark-vulndb")
}

const completeMarker = ".complete"

// ensureDB returns cache/version, building it first unless an earlier run
// completed it. The database is built in a temporary sibling folder and
// renamed into place, so an interrupted run leaves nothing half-built.
func ensureDB(version, cache, indexer string, log func(string, ...any)) (string, error) {
	if strings.ContainsAny(version, `/\`) || version == "." || version == ".." {
		return "", fmt.Errorf("bad version %q", version)
	}
	dir := filepath.Join(cache, version)
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err == nil {
		log("using cached database %s", dir)
		return dir, nil
	}
	if indexer != "builtin" && indexer != "official" {
		return "", fmt.Errorf("unknown -indexer %q", indexer)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// Outside any module, so that nothing touches the project's go.mod/go.sum.
	work, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)

	start := time.Now()
	var dl struct{ Dir, Zip, Error string }
	out, err := goCmd(work, "mod", "download", "-json", "golang.org/x/vulndb@"+version)
	if jerr := json.Unmarshal(out, &dl); jerr != nil || dl.Error != "" || err != nil {
		return "", fmt.Errorf("go mod download golang.org/x/vulndb@%s: %v %s %s", version, err, dl.Error, bytes.TrimSpace(out))
	}
	size := ""
	if fi, err := os.Stat(dl.Zip); err == nil {
		size = fmt.Sprintf(", zip %.1f MB", float64(fi.Size())/1e6)
	}
	log("golang.org/x/vulndb@%s in %s (%.1fs%s)", version, dl.Dir, time.Since(start).Seconds(), size)

	start = time.Now()
	osvDir := filepath.Join(dl.Dir, "data", "osv")
	tmp := filepath.Join(work, "db")
	switch indexer {
	case "builtin":
		n, err := buildDB(osvDir, tmp, false)
		if err != nil {
			return "", err
		}
		log("indexed %d OSV entries (builtin indexer, %.1fs)", n, time.Since(start).Seconds())
	case "official":
		// Needs about 900 MB of the vulndb module's dependencies in the
		// module cache and a minute on a new machine.
		if out, err := goCmd(work, "run", "golang.org/x/vulndb/cmd/indexdb@"+version, "-vulns", osvDir, "-out", tmp); err != nil {
			return "", fmt.Errorf("indexdb: %v\n%s", err, out)
		}
		log("indexed with golang.org/x/vulndb/cmd/indexdb (%.1fs)", time.Since(start).Seconds())
	}
	stamp := fmt.Sprintf("golang.org/x/vulndb@%s indexer=%s built=%s\n", version, indexer, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), []byte(stamp), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir) // a leftover without the marker
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, completeMarker)); serr == nil {
			return dir, nil // a concurrent run finished first
		}
		return "", err
	}
	return dir, nil
}

// goCmd runs the go command in dir with module mode on and no workspace, and
// returns its standard output (standard error goes to ours).
func goCmd(dir string, args ...string) ([]byte, error) {
	c := exec.Command("go", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "GO111MODULE=on", "GOWORK=off")
	c.Stderr = os.Stderr
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}
