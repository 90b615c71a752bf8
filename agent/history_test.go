package agent_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// TestAccountsShowHistory: GET /v1/accounts and /v1/accounts/{name} show
// the app key's issuance history as its store holds it: the issuance, by
// this host and process, and when the next is allowed (KIS: a minute
// later); no secret.
func TestAccountsShowHistory(t *testing.T) {
	h := newHarness(t, setup{})
	tok := h.token("kis-mock")
	host, _ := os.Hostname()
	r := h.viaUnix("GET", "/v1/accounts/kis-mock", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/accounts/kis-mock = %d %s", r.status, r.body)
	}
	for _, s := range append(append([]string{}, h.secrets...), tok.AccessToken) {
		if strings.Contains(string(r.body), s) {
			t.Fatalf("GET /v1/accounts/kis-mock reveals a secret or token: %s", r.body)
		}
	}
	var in agent.AccountInfo
	r.json(t, &in)
	if in.IssuedToday < 1 || in.FailedToday != 0 {
		t.Errorf("issued_today, failed_today = %d, %d; want at least one issuance, no failure", in.IssuedToday, in.FailedToday)
	}
	if li := in.LastIssue; li == nil || li.Host != host || li.PID != os.Getpid() || li.Outcome != kauth.OutcomeIssued {
		t.Errorf("last_issue = %+v; want issued by %s pid %d", li, host, os.Getpid())
	}
	if in.LastFailure != nil {
		t.Errorf("last_failure = %+v; want none", in.LastFailure)
	}
	next, err := time.Parse(time.RFC3339, in.NextIssue)
	if err != nil || !strings.HasSuffix(in.NextIssue, "+09:00") {
		t.Fatalf("next_issue = %q; want an RFC 3339 time in KST", in.NextIssue)
	}
	if at, _ := time.Parse(time.RFC3339, in.LastIssue.At); next.Sub(at) < time.Minute {
		t.Errorf("next_issue %s is less than a minute after the issuance at %s", in.NextIssue, in.LastIssue.At)
	}

	var list struct{ Accounts []agent.AccountInfo }
	h.viaUnix("GET", "/v1/accounts", nil, nil).json(t, &list)
	for _, a := range list.Accounts {
		if a.Name == "kis-mock" && (a.LastIssue == nil || a.LastIssue.PID != os.Getpid()) {
			t.Errorf("GET /v1/accounts: kis-mock's last_issue = %+v; want this process's", a.LastIssue)
		}
	}
}
