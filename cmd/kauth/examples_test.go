package main

import (
	"bufio"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitDirectives reads a systemd unit file: every Key=value of [Service],
// in order.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not Key=value: %q", path, line)
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnit checks the example unit's contract: Type=notify (which
// kauth serve honours, TestServeNotifiesSystemd), reload by SIGHUP, the
// hardening, an ExecStart the CLI accepts, and systemd-analyze verify
// where systemd is installed.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "systemd", "kauth.service")
	d := unitDirectives(t, path)
	for k, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "ExecReload": "/bin/kill -HUP $MAINPID",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"RuntimeDirectory": "kauth", "StateDirectory": "kauth", "CacheDirectory": "kauth",
		"CapabilityBoundingSet": "", "UMask": "0077",
	} {
		if got := d[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q; want %q", k, got, want)
		}
	}
	exec1 := d["ExecStart"]
	if len(exec1) != 1 {
		t.Fatalf("ExecStart = %q", exec1)
	}
	args := strings.Fields(exec1[0])
	if args[0] != "/usr/local/bin/kauth" || args[1] != "serve" {
		t.Fatalf("ExecStart = %q; want /usr/local/bin/kauth serve …", exec1[0])
	}
	// The command line is one kauth accepts, and puts the socket in the
	// runtime directory.
	run1 := t.TempDir()
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "${RUNTIME_DIRECTORY}", run1)
	}
	r := run(t, nil, "", append(args[1:], "--print-socket")...)
	r.wantCode(t, 0)
	if got := strings.TrimSpace(r.stdout); got != filepath.Join(run1, "agent.sock") {
		t.Errorf("the unit's agent listens on %s; want the runtime directory", got)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	// verify wants ExecStart's binary to exist: any executable will do.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "kauth.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/kauth", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	// verify exits 0 on an unknown key or value, but says so.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestLaunchdPlist checks that the macOS example is well-formed XML, a
// plist whose ProgramArguments kauth accepts.
func TestLaunchdPlist(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "examples", "launchd", "com.github.kauth.agent.plist"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	dec.Strict = true
	var (
		path     []string
		lastKey  string
		keys     = map[string]bool{}
		args     []string
		root     string
		inArgs   bool
		textNext string
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			path = append(path, tok.Name.Local)
			if tok.Name.Local == "array" && lastKey == "ProgramArguments" {
				inArgs = true
			}
			textNext = ""
		case xml.CharData:
			textNext += string(tok)
		case xml.EndElement:
			name := path[len(path)-1]
			path = path[:len(path)-1]
			switch {
			case name == "key" && len(path) == 2:
				lastKey = textNext
				keys[lastKey] = true
			case name == "string" && inArgs:
				args = append(args, textNext)
			case name == "array":
				inArgs = false
			}
		}
	}
	if root != "plist" {
		t.Errorf("root element %q; want plist", root)
	}
	for _, k := range []string{"Label", "ProgramArguments", "RunAtLoad", "KeepAlive"} {
		if !keys[k] {
			t.Errorf("the plist lacks %s", k)
		}
	}
	if len(args) < 2 || args[0] != "/usr/local/bin/kauth" || args[1] != "serve" {
		t.Fatalf("ProgramArguments = %q; want kauth serve …", args)
	}
	r := run(t, map[string]string{"KAUTH_CACHE_DIR": t.TempDir()}, "", append(args[1:], "--print-socket")...)
	r.wantCode(t, 0)
}
