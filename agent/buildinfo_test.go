package agent_test

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// A fresh agent tells Prometheus which build it is, and says so in its log
// when it starts listening.
func TestBuildInfoMetricAndLog(t *testing.T) {
	h := newHarness(t, setup{})
	m := h.metrics()
	re := regexp.MustCompile(`(?m)^kauth_build_info\{commit="([^"]+)",goversion="([^"]+)",version="([^"]+)"\} 1$`)
	got := re.FindStringSubmatch(m)
	if got == nil {
		t.Fatalf("/metrics has no kauth_build_info{commit,goversion,version} 1 series; its kauth_ lines:\n%s", kauthLines(m))
	}
	if got[2] != runtime.Version() {
		t.Errorf("kauth_build_info goversion = %q; want %q", got[2], runtime.Version())
	}
	// A test binary is built from the kauth module without VCS stamping.
	if got[3] != "(devel)" || got[1] != "unknown" {
		t.Errorf("kauth_build_info version, commit = %q, %q; want (devel), unknown", got[3], got[1])
	}
	logs := h.logs.String()
	if !regexp.MustCompile(`msg="agent: listening".* version="?\(devel\)"? commit=unknown go=` + regexp.QuoteMeta(runtime.Version())).MatchString(logs) {
		t.Errorf("the agent's start log does not name its version, commit and Go version:\n%s", logs)
	}
}

func kauthLines(m string) string {
	var out []string
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "kauth_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
