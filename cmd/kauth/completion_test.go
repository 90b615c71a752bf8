package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionNamesEveryCommandAndFlag: each script names every command
// of the table and, for bash, every flag each command registers.
func TestCompletionNamesEveryCommandAndFlag(t *testing.T) {
	table, err := commandTable(commands)
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != len(commands) {
		t.Fatalf("table has %d commands; want %d", len(table), len(commands))
	}
	for _, shell := range completionShells {
		r := run(t, nil, "", "completion", shell)
		r.wantCode(t, 0)
		for _, c := range table {
			if !strings.Contains(r.stdout, c.name) {
				t.Errorf("%s completion lacks command %s", shell, c.name)
			}
			for _, f := range c.flags {
				want := f.dashed()
				if shell == "fish" {
					want = "-l " + f.name
					if len(f.name) == 1 {
						want = "-s " + f.name
					}
				}
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s completion lacks %s's flag %s", shell, c.name, want)
				}
			}
		}
	}
	// The table sees flags that only the command's code registers.
	for _, c := range table {
		if c.name == "token" {
			var names []string
			for _, f := range c.flags {
				names = append(names, f.name)
			}
			if got := strings.Join(names, " "); !strings.Contains(got, "broker env json") || !strings.Contains(got, "log-format") {
				t.Errorf("token's flags = %s", got)
			}
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		r := run(t, nil, "", args...)
		r.wantCode(t, exitUsage)
	}
}

// script writes the completion script for shell to a file.
func script(t *testing.T, shell string) string {
	t.Helper()
	r := run(t, nil, "", "completion", shell)
	r.wantCode(t, 0)
	path := filepath.Join(t.TempDir(), "kauth."+shell)
	if err := os.WriteFile(path, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCompletionBash parses the bash script and completes with it.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	path := script(t, "bash")
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	for _, tc := range []struct{ words, cword, want string }{
		{"kauth to", "1", "token"},
		{"kauth token --b", "2", "--broker"},
		{"kauth token --broker ki", "3", "kis kiwoom"},
		{"kauth serve --log-format j", "3", "json"},
		{"kauth completion f", "2", "fish"},
	} {
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c",
			`source "$1"; COMP_WORDS=($2); COMP_CWORD=$3; [ "${2: -1}" = " " ] && COMP_WORDS+=(""); _kauth; echo "${COMPREPLY[*]}"`,
			"bash", path, tc.words, tc.cword)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q = %q; want %q", tc.words, got, tc.want)
		}
	}
}

func TestCompletionZshFishParse(t *testing.T) {
	for _, tc := range []struct{ shell, flag string }{{"zsh", "-n"}, {"fish", "--no-execute"}} {
		t.Run(tc.shell, func(t *testing.T) {
			sh, err := exec.LookPath(tc.shell)
			if err != nil {
				t.Skipf("no %s installed", tc.shell)
			}
			if out, err := exec.Command(sh, tc.flag, script(t, tc.shell)).CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.shell, tc.flag, err, out)
			}
		})
	}
}

// TestCompletionFish completes with the fish script.
func TestCompletionFish(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("no fish installed")
	}
	path := script(t, "fish")
	for _, tc := range []struct{ line, want string }{
		{"kauth hea", "health"},
		{"kauth token --broker ", "kiwoom"},
		{"kauth serve --log-", "--log-format"},
	} {
		out, err := exec.Command(fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, path, tc.line).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.line, err, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("completing %q = %q; want %s among them", tc.line, out, tc.want)
		}
	}
}
