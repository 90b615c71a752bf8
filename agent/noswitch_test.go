package agent_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoBrokerSwitch keeps the agent, its WebSocket gateway and the
// real-time package free of broker names: what they need of a broker they
// ask of its Provider and its realtime.Protocol, so no non-test file names
// kauth.KIS, kauth.Kiwoom, kauth.LS or kauth.DB, or imports a broker's
// package.
func TestNoBrokerSwitch(t *testing.T) {
	names := map[string]bool{"KIS": true, "Kiwoom": true, "LS": true, "DB": true}
	brokerPkgs := map[string]bool{}
	for _, p := range []string{"kis", "kiwoom", "ls", "db", "toss"} {
		brokerPkgs["github.com/kauth/kauth/"+p] = true
	}
	for _, dir := range []string{".", "internal/gateway", "../realtime"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); brokerPkgs[p] {
					t.Errorf("%s imports the broker package %s", fset.Position(imp.Pos()), p)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "kauth" && names[sel.Sel.Name] {
					t.Errorf("%s names kauth.%s: ask the broker's Provider instead", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			})
		}
	}
}
