package agent_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestFreshAgentExportsCountersAtZero: every labelled token counter has a
// series at zero for each account from the start, so that an increase()
// alert sees the first failure, and every kauth_ metric a fresh agent
// exports is named in the README.
func TestFreshAgentExportsCountersAtZero(t *testing.T) {
	h := newHarness(t, setup{})
	m := h.metrics()
	for _, acct := range []string{"kis-mock", "kis-real", "kiwoom-mock"} {
		for _, series := range []string{
			`kauth_token_issuances_total{account="` + acct + `"}`,
			`kauth_token_refreshes_total{account="` + acct + `"}`,
			`kauth_token_failures_total{account="` + acct + `",kind="credentials"}`,
			`kauth_token_failures_total{account="` + acct + `",kind="unavailable"}`,
			`kauth_token_failures_total{account="` + acct + `",kind="rate_limited"}`,
			`kauth_token_events_total{account="` + acct + `",event="failed"}`,
			`kauth_proxy_ratelimit_waits_total{account="` + acct + `"}`,
		} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` \d`).MatchString(m) {
				t.Errorf("a fresh agent's /metrics lacks %s; its kauth_ lines:\n%s", series, kauthLines(m))
			}
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`(?m)^# TYPE (kauth_\w+) `).FindAllStringSubmatch(m, -1) {
		if !strings.Contains(string(readme), "`"+name[1]) {
			t.Errorf("the README does not document the metric %s", name[1])
		}
	}
}
