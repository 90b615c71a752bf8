package statuspage_test

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kauth/kauth/agent/internal/statuspage"
)

// TestInitIsCheap: every kauth command links this package (the agent
// serves the page), so its initialization runs before `kauth token` does
// anything. It parses no template then: the two pages' templates cost 160
// allocations of each start.
func TestInitIsCheap(t *testing.T) {
	if os.Getenv("KAUTH_INITTRACE_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestInitIsCheap$")
	cmd.Env = append(os.Environ(), "KAUTH_INITTRACE_CHILD=1", "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`(?m)^init github\.com/kauth/kauth/agent/internal/statuspage @.* ([0-9]+) bytes, ([0-9]+) allocs$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no init line for the package in:\n%s", out)
	}
	if allocs, _ := strconv.Atoi(m[2]); allocs > 10 {
		t.Errorf("the package's init made %s allocations (%s bytes); want at most 10", m[2], m[1])
	}
}

// TestPagesEscape: the notice and the page that opens the login URL
// escape what they are given, on their first use and after.
func TestPagesEscape(t *testing.T) {
	for range 2 {
		var b strings.Builder
		if err := statuspage.Notice(&b, "<Title>", `a "text" & <b>`, "/status/?x=<1>"); err != nil {
			t.Fatal(err)
		}
		s := b.String()
		for _, want := range []string{"&lt;Title&gt;", "a &#34;text&#34; &amp; &lt;b&gt;", `url=/status/?x=&lt;1&gt;"`, `href="/status/?x=%3c1%3e"`} {
			if !strings.Contains(s, want) {
				t.Errorf("the notice lacks %s:\n%s", want, s)
			}
		}
		b.Reset()
		if err := statuspage.OpenFile(&b, "http://127.0.0.1:8700/status/login?t=a&b=<c>"); err != nil {
			t.Fatal(err)
		}
		if s := b.String(); !strings.Contains(s, `href="http://127.0.0.1:8700/status/login?t=a&amp;b=%3cc%3e"`) {
			t.Errorf("the open page:\n%s", s)
		}
	}
}
