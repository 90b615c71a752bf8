package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kauth/kauth/brokers"
)

// TestDocsNameEveryBroker holds the help texts, the package docs and the
// README's broker table to the broker list: a broker added to the list
// fails here until its documentation is written.
func TestDocsNameEveryBroker(t *testing.T) {
	help := func(args ...string) string {
		var out bytes.Buffer
		if err := Run(context.Background(), args, nil, &out, &out, nil); err != nil {
			t.Fatalf("kauth %v: %v", args, err)
		}
		return out.String()
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	docs := map[string]string{
		"kauth --help":       help("--help"),
		"kauth.go":           packageDoc(read("../../kauth.go")),
		"cmd/kauth/main.go":  packageDoc(read("main.go")),
		"README broker list": read("../../README.md"),
	}
	for _, cmd := range commands {
		docs["kauth "+cmd.name+" --help"] = help(cmd.name, "--help")
	}
	readme := docs["README broker list"]
	simIntro := regexp.MustCompile("(?m)^`brokersim` is a faithful.*$").FindString(readme)
	if simIntro == "" {
		t.Error("the README's simulator section has no introduction (\"`brokersim` is a faithful …\")")
	}
	for _, s := range brokers.All() {
		vars := []string{s.KeyVar, s.SecretVar, s.BaseURLVar}
		for name, doc := range docs {
			if strings.HasPrefix(name, "kauth ") {
				// Every help text ends with the environment: each broker's
				// variables.
				for _, v := range vars {
					if !strings.Contains(doc, v) {
						t.Errorf("%s does not name %s's %s", name, s.Name, v)
					}
				}
			}
		}
		if !strings.Contains(docs["kauth --help"], s.Display) {
			t.Errorf("kauth --help does not name %s", s.Display)
		}
		for _, name := range []string{"kauth token --help", "kauth revoke --help"} {
			if !strings.Contains(docs[name], string(s.Name)) {
				t.Errorf("%s does not offer --broker %s", name, s.Name)
			}
		}
		for _, flag := range []string{"--" + string(s.Name) + "-real", "--" + string(s.Name) + "-reissue"} {
			if !strings.Contains(docs["kauth sim --help"], flag) {
				t.Errorf("kauth sim --help does not describe %s", flag)
			}
		}
		for _, name := range []string{"kauth.go", "cmd/kauth/main.go"} {
			if !strings.Contains(docs[name], s.Display) {
				t.Errorf("the package doc of %s does not name %s", name, s.Display)
			}
		}
		for _, v := range vars {
			if !strings.Contains(docs["cmd/kauth/main.go"], v) {
				t.Errorf("the package doc of cmd/kauth does not name %s", v)
			}
		}
		// The README's broker table has a row for the broker with its
		// credential variables, and names its base URL variable.
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(string(s.Name)) + "` \\|.*$").FindString(readme)
		if row == "" {
			t.Errorf("the README's broker table has no row for %s", s.Name)
		} else if !strings.Contains(row, "`"+s.KeyVar+"`") || !strings.Contains(row, "`"+s.SecretVar+"`") {
			t.Errorf("the README's row for %s does not name %s and %s: %s", s.Name, s.KeyVar, s.SecretVar, row)
		}
		if !strings.Contains(readme, "`"+s.BaseURLVar+"`") {
			t.Errorf("the README does not name %s", s.BaseURLVar)
		}
		// The simulator's section says which brokers it fakes: every one
		// (kauth sim serves each listed broker).
		short, _, _ := strings.Cut(s.Display, " (")
		if !strings.Contains(simIntro, short) {
			t.Errorf("the README's simulator section does not name %s: %s", short, simIntro)
		}
	}
}

// packageDoc returns the comment above the package clause of a Go file.
func packageDoc(src string) string {
	i := strings.Index(src, "\npackage ")
	if i < 0 {
		return ""
	}
	return src[:i]
}

// TestReadmeNamesTheVerboseCommands: the README's list of the commands
// that take -v is the list of those that define it.
func TestReadmeNamesTheVerboseCommands(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("\\(or `-v`, on ([^)]*)\\)").FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("the README does not say which commands take -v")
	}
	named := map[string]bool{}
	for _, n := range regexp.MustCompile("`([a-z]+)`").FindAllStringSubmatch(m[1], -1) {
		named[n[1]] = true
	}
	for _, cmd := range commands {
		var out bytes.Buffer
		if err := Run(context.Background(), []string{cmd.name, "--help"}, nil, &out, &out, nil); err != nil {
			t.Fatalf("kauth %s --help: %v", cmd.name, err)
		}
		has := regexp.MustCompile(`(?m)^  -v\s`).MatchString(out.String())
		if has != named[cmd.name] {
			t.Errorf("kauth %s defines -v: %v; the README names it among those that do: %v", cmd.name, has, named[cmd.name])
		}
		delete(named, cmd.name)
	}
	for n := range named {
		t.Errorf("the README says kauth %s takes -v, but there is no such command", n)
	}
}
