package bench

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// parseArgs is what Run makes of its arguments before the settings are
// parsed: bench's options, validated, and the settings' arguments.
func parseArgs(args []string) (benchOptions, []string, error) {
	o, rest, err := parseBenchArgs(args)
	if err == nil {
		err = o.validate()
	}
	return o, rest, err
}

func TestParseBenchArgs(t *testing.T) {
	o, rest, err := parseArgs([]string{"--json", "--scenario=login,mixed", "--concurrency", "8",
		"--password-hasher", "bcrypt", "--dev", "--allow-remote=false", "--rate=100", "--requests", "500"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.json || o.allowRemote || o.concurrency != 8 || o.rate != 100 || o.requests != 500 ||
		strings.Join(o.scenarios, ",") != "login,mixed" || strings.Join(rest, " ") != "--password-hasher bcrypt --dev" {
		t.Errorf("options %+v, settings %q", o, rest)
	}
	if o, _, _ := parseArgs(nil); strings.Join(o.scenarios, ",") != "me-bearer,me-cookie,login,refresh,signup,refresh-storm,mixed" {
		t.Errorf("default scenarios %v", o.scenarios)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "nope"}, "unknown scenario"},
		{[]string{"--scenario", "login,login"}, "named twice"},
		{[]string{"--duration", "6m"}, "--duration"},
		{[]string{"--duration", "10s", "--max-total", "30s"}, "--max-total"},
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--users", "-1"}, "--users"},
		{[]string{"--rate", "-5"}, "--rate"},
		{[]string{"--json=maybe"}, "--json"},
		{[]string{"--duration"}, "needs a value"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"--scenario", "flood", "--target", "http://127.0.0.1:1"}, "in-process"},
		{[]string{"--scenario", "flood", "--duration", "5s", "--max-total", "19s"}, "4 runs"},
	}
	for _, tt := range bad {
		if _, _, err := parseArgs(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseArgs(%q) = %v, want an error about %s", tt.args, err, tt.want)
		}
	}
}

func TestListenWatcher(t *testing.T) {
	w := &listenWatcher{addr: make(chan string, 1)}
	for _, chunk := range []string{`{"msg":"dev mode"}` + "\n" + `{"msg":"liste`, `ning","addr":"127.0.0.1:4321"}` + "\n", `{"msg":"request"}` + "\n"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	select {
	case got := <-w.addr:
		if got != "127.0.0.1:4321" {
			t.Errorf("addr %q", got)
		}
	default:
		t.Error("no address found")
	}
}

// Run's mistakes on the command line wrap ErrUsage with their message as
// it is; its other refusals do not, and nothing starts before they are
// found (LoadConfig is not called).
func TestRunUsageErrors(t *testing.T) {
	d := Deps{
		ParseFlags: func([]string) (bool, map[string]string, error) { return false, map[string]string{}, nil },
		LoadConfig: func(func(string) string, map[string]string) (*Config, error) {
			t.Fatal("LoadConfig called")
			return nil, nil
		},
	}
	run := func(args ...string) error {
		return Run(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard, d)
	}
	if err := run("stray"); !errors.Is(err, ErrUsage) || err.Error() != `bench: unexpected argument "stray"` {
		t.Errorf("Run(stray) = %v, want ErrUsage", err)
	}
	for _, args := range [][]string{{"--duration"}, {"--scenario", "nope"}, {"--json=maybe"}} {
		if err := run(args...); err == nil || errors.Is(err, ErrUsage) {
			t.Errorf("Run(%q) = %v, want a refusal that is not ErrUsage", args, err)
		}
	}
	// The settings' parse error is Run's, before the options are validated.
	bad := errors.New("flag --dev takes true or false")
	d.ParseFlags = func(args []string) (bool, map[string]string, error) {
		if strings.Join(args, " ") != "--dev=maybe" {
			t.Errorf("ParseFlags(%q), want the settings' arguments only", args)
		}
		return false, nil, bad
	}
	if err := run("--scenario", "nope", "--dev=maybe"); err != bad {
		t.Errorf("Run = %v, want ParseFlags' error", err)
	}
}
