package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// logEvent is one message the code logs, with its level and the keys of
// its attributes.
type logEvent struct {
	msg, level string
	keys       []string
}

// loggedEvents finds every slog call with a constant message in the
// packages that kauth serve runs: the root package, the agent, the stores,
// the shared budget, the realtime sessions and this command.
func loggedEvents(t *testing.T) []logEvent {
	t.Helper()
	root := filepath.Join("..", "..")
	dirs := []string{root, "."}
	for _, d := range []string{"agent", "realtime", "budget", "store"} {
		filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	levels := map[string]string{"Debug": "DEBUG", "Info": "INFO", "Warn": "WARN", "Error": "ERROR",
		"DebugContext": "DEBUG", "InfoContext": "INFO", "WarnContext": "WARN", "ErrorContext": "ERROR"}
	seen := map[string]*logEvent{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				level, args := levels[sel.Sel.Name], call.Args
				switch {
				case sel.Sel.Name == "Log" && len(args) >= 3:
					// Log(ctx, level, msg, …): a level the call chooses.
					level, args = "varies", args[2:]
				case level == "":
					return true
				case strings.HasSuffix(sel.Sel.Name, "Context") && len(args) > 0:
					args = args[1:]
				}
				if len(args) == 0 {
					return true
				}
				lit, ok := args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				msg, _ := strconv.Unquote(lit.Value)
				ev := seen[msg]
				if ev == nil {
					ev = &logEvent{msg: msg, level: level}
					seen[msg] = ev
				}
				for i := 1; i < len(args); i++ {
					key := ""
					switch a := args[i].(type) {
					case *ast.BasicLit:
						if a.Kind == token.STRING {
							key, _ = strconv.Unquote(a.Value)
							i++ // its value follows
						}
					case *ast.CallExpr: // slog.String("key", v) and the like
						if len(a.Args) > 0 {
							if l, ok := a.Args[0].(*ast.BasicLit); ok && l.Kind == token.STRING {
								key, _ = strconv.Unquote(l.Value)
							}
						}
					}
					if key != "" && !contains(ev.keys, key) {
						ev.keys = append(ev.keys, key)
					}
				}
				return true
			})
		}
	}
	// The Manager logs its token events under one call with the kind in
	// the message ("kauth: token issued"): one line per EventKind constant.
	file, err := parser.ParseFile(fset, filepath.Join(root, "event.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "EventKind" {
				continue
			}
			kind, _ := strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
			// Manager.emit: key always; token, expires and source with a
			// token; took (wait, for waiting) with a duration; err, and
			// level ERROR (WARN for store_failed), with a failure; reason
			// (turnover) for a turnover.
			seen["kauth: token "+kind] = &logEvent{msg: "kauth: token " + kind, level: "INFO, ERROR with err",
				keys: []string{"err", "expires", "key", "reason", "source", "took", "token", "wait"}}
			if kind == "store_failed" {
				seen["kauth: token "+kind].level = "WARN"
			}
		}
	}
	var out []logEvent
	for _, ev := range seen {
		sort.Strings(ev.keys)
		out = append(out, *ev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].msg < out[j].msg })
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestReadmeListsLogEvents: the README's table of log events is the one
// the code logs, message, level and attribute keys. On a mismatch the test
// prints the table to paste.
func TestReadmeListsLogEvents(t *testing.T) {
	events := loggedEvents(t)
	if len(events) < 20 {
		t.Fatalf("found only %d log events; is the scan broken?", len(events))
	}
	var table strings.Builder
	table.WriteString("| msg | level | fields |\n|---|---|---|\n")
	for _, ev := range events {
		keys := "—"
		if len(ev.keys) > 0 {
			keys = "`" + strings.Join(ev.keys, "`, `") + "`"
		}
		fmt.Fprintf(&table, "| `%s` | %s | %s |\n", strings.ReplaceAll(ev.msg, "|", `\|`), ev.level, keys)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), table.String()) {
		t.Errorf("README.md lacks the table of log events, or it is out of date; the code logs:\n\n%s", table.String())
	}
}
