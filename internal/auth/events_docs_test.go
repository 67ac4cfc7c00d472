package auth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEventsDocumentsEveryAuditEvent fails when an audit event name (an
// Event… constant of this package, in any of its files) is missing from
// docs/events.md.
func TestEventsDocumentsEveryAuditEvent(t *testing.T) {
	raw, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	events := stringConsts(t, "Event")
	for name, value := range events {
		if !strings.Contains(doc, "| `"+value+"` |") {
			t.Errorf("docs/events.md has no row for the audit event `%s` (%s)", value, name)
		}
	}
	if len(events) < 10 {
		t.Fatalf("found only %d audit events in the package: the test no longer reads them", len(events))
	}
}

// stringConsts returns the string constants of this package (its non-test
// .go files) whose names start with prefix, by name.
func stringConsts(t *testing.T, prefix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			vs, ok := node.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, prefix) {
				return true
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			value, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			out[vs.Names[0].Name] = value
			return true
		})
	}
	return out
}
