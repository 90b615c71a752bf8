package statuspage_test

import (
	"github.com/kauth/kauth/internal/inittrace"
	"strings"
	"testing"

	"github.com/kauth/kauth/agent/internal/statuspage"
)

// TestInitIsCheap: every kauth command links this package (the agent
// serves the page), so its initialization runs before `kauth token` does
// anything. It parses no template then: the two pages' templates cost 160
// allocations of each start.
func TestInitIsCheap(t *testing.T) {
	allocs, bytes, ok := inittrace.Allocs(t, "github.com/kauth/kauth/agent/internal/statuspage")
	if !ok {
		return
	}
	if allocs > 10 {
		t.Errorf("the package's init made %d allocations (%d bytes); want at most 10", allocs, bytes)
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
