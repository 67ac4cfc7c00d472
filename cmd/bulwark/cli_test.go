package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runBinary runs the built program with args and a clean environment (plus
// env), stdin from the named file ("" for none), and returns stdout,
// stderr and the exit status.
func runBinary(t *testing.T, bin, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestCLIConventions runs the real binary: help on stdout with exit 0,
// usage errors as one line on stderr with exit 2, a refused configuration
// as one line per problem with a pointer to --dev, the version with its
// source revision, and the internal hash worker hidden and refusing a
// terminal-like input.
func TestCLIConventions(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{{}, {"help"}, {"-h"}, {"--help"}} {
		out, errOut, code := runBinary(t, bin, "", nil, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Commands:") || strings.Contains(out, "hash-worker") {
			t.Errorf("bulwark %v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	for _, args := range [][]string{
		{"serve", "--help"}, {"help", "serve"}, {"migrate", "-h"}, {"keys", "--help"}, {"clients", "--help"},
		{"users", "--help"}, {"bench", "--help"}, {"version", "--help"},
	} {
		out, errOut, code := runBinary(t, bin, "", nil, args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: bulwark ") {
			t.Errorf("bulwark %v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	// serve --help names every setting with its flag and variable.
	out, _, _ := runBinary(t, bin, "", nil, "serve", "--help")
	for _, s := range configSettings() {
		if !strings.Contains(out, "--"+flagName(s)+", BULWARK_"+s+"\n") {
			t.Errorf("serve --help does not list %s", s)
		}
	}

	for _, args := range [][]string{{"frobnicate"}, {"serve", "--no-such-setting=1"}, {"serve", "stray"}, {"users", "--dev", "frobnicate"}, {"help", "nothing"}} {
		out, errOut, code := runBinary(t, bin, "", nil, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "bulwark: ") {
			t.Errorf("bulwark %v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out, errOut)
		}
	}

	// Production without settings: one line per problem, and --dev named.
	_, errOut, code := runBinary(t, bin, "", nil, "serve")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 1 || len(lines) < 4 || lines[0] != "bulwark: configuration refused:" || !strings.Contains(errOut, "  BULWARK_PUBLIC_URL: ") ||
		!strings.Contains(lines[len(lines)-1], "--dev") || strings.Contains(errOut, `\n`) || strings.HasPrefix(errOut, "{") {
		t.Errorf("serve without settings: exit %d, stderr:\n%s", code, errOut)
	}

	out, errOut, code = runBinary(t, bin, "", nil, "version")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "bulwark ") || !strings.Contains(out, "(revision ") || strings.Count(out, "\n") != 1 {
		t.Errorf("version: exit %d %q %q", code, out, errOut)
	}
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && !strings.Contains(out, "modified") {
		if rev := strings.TrimSpace(string(head)); !strings.Contains(out, "revision "+rev) {
			t.Errorf("version %q does not name the revision %s", out, rev)
		}
	}

	// The hash worker is internal: with a character device for input (a
	// terminal, here /dev/null) it refuses to start.
	_, errOut, code = runBinary(t, bin, os.DevNull, nil, "hash-worker")
	if code != 2 || !strings.Contains(errOut, "internal") {
		t.Errorf("hash-worker from a terminal: exit %d %q", code, errOut)
	}
}

// TestSettingHelpCoversEverySetting: serve --help can never miss a setting.
func TestSettingHelpCoversEverySetting(t *testing.T) {
	for _, s := range configSettings() {
		if h, ok := settingHelp[s]; !ok || h.meaning == "" {
			t.Errorf("setting %s has no help", s)
		}
	}
	if len(settingHelp) != len(configSettings()) {
		t.Errorf("%d help entries for %d settings", len(settingHelp), len(configSettings()))
	}
}

// TestEnvExampleListsEverySetting: .env.example, the template operators copy,
// names every setting, and sets only placeholders (no real secret).
func TestEnvExampleListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range configSettings() {
		if !strings.Contains(string(b), "BULWARK_"+s+"=") {
			t.Errorf(".env.example lacks BULWARK_%s", s)
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && v != "" &&
			!strings.Contains(v, "example.com") && !strings.Contains(v, "example.internal") {
			t.Errorf("%s is set to a value that is not a placeholder", name)
		}
	}
}
