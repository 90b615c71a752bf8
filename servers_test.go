package kauth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryServerHasAHeaderTimeout: every http.Server the module builds
// (the agent's listeners and facade ports, which carry the relay endpoint
// too, kauth sim, kauth demo) sets ReadHeaderTimeout, so that a local
// process that opens connections and sends half a request line cannot hold
// them forever; and nothing serves through http.ListenAndServe or
// http.Serve, whose servers have no timeouts at all.
func TestEveryServerHasAHeaderTimeout(t *testing.T) {
	fset := token.NewFileSet()
	servers := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		isHTTP := func(e ast.Expr, names ...string) bool {
			sel, ok := e.(*ast.SelectorExpr)
			if !ok {
				return false
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok || pkg.Name != "http" {
				return false
			}
			for _, n := range names {
				if sel.Sel.Name == n {
					return true
				}
			}
			return false
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if !isHTTP(n.Type, "Server") {
					return true
				}
				servers++
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok && (k.Name == "ReadHeaderTimeout" || k.Name == "ReadTimeout") {
							return true
						}
					}
				}
				t.Errorf("%s: an http.Server without ReadHeaderTimeout", fset.Position(n.Pos()))
			case *ast.CallExpr:
				if isHTTP(n.Fun, "ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS") {
					t.Errorf("%s: serves with a server that has no timeouts; build an http.Server with ReadHeaderTimeout", fset.Position(n.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The agent's, kauth sim's, kauth demo's and the agent simulator's.
	if servers < 4 {
		t.Errorf("found %d http.Server literals; want at least 4: is the scan broken?", servers)
	}
}
