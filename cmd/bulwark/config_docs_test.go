package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestConfigDocumentsEverySetting fails when a setting is missing from
// docs/configuration.md: its variable and its flag must both be there.
func TestConfigDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, s := range configSettings() {
		if !strings.Contains(doc, "`BULWARK_"+s+"`") {
			t.Errorf("docs/configuration.md does not document `BULWARK_%s`", s)
		}
		if !strings.Contains(doc, "`--"+flagName(s)+"`") {
			t.Errorf("docs/configuration.md does not name the flag `--%s`", flagName(s))
		}
	}
	// And nothing documented that does not exist.
	for _, m := range regexp.MustCompile("`BULWARK_([A-Z_]+)`").FindAllStringSubmatch(doc, -1) {
		if !slices.Contains(configSettings(), m[1]) {
			t.Errorf("docs/configuration.md documents `BULWARK_%s`, which is no setting", m[1])
		}
	}
}

// TestConfigSettingsListsEveryLoadedSetting fails when LoadConfig reads a
// setting that configSettings() does not list: such a setting would have no
// flag (--x is refused as unknown) and no line in the documentation.
func TestConfigSettingsListsEveryLoadedSetting(t *testing.T) {
	n := 0
	re := regexp.MustCompile(`\bl\.[a-zA-Z]+\("([A-Z][A-Z0-9_]*[A-Z0-9])"`)
	for _, file := range []string{"config.go", "config_webauthn.go", "kek.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			n++
			if !slices.Contains(configSettings(), m[1]) {
				t.Errorf("%s reads BULWARK_%s, which configSettings() does not list", file, m[1])
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d settings read in config.go: the pattern is stale", n)
	}
}
