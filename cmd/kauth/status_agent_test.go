package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
)

// TestStatusAgentHistory: kauth status --agent shows, below the accounts,
// each account's issuance history as kauth status does for the store:
// issuances today and the same-token re-issues among them, the last
// issuance and who made it, when the next is allowed, and the last failure
// with its code.
func TestStatusAgentHistory(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	day := time.Now().In(kauth.KST).Format(time.DateOnly)
	dir := shortDir(t)
	sock := filepath.Join(dir, "a.sock")
	config := filepath.Join(dir, "kauth.yaml")
	err := os.WriteFile(config, []byte("listen:\n  socket: "+sock+"\naccounts:\n"+
		"  - name: paper\n    broker: kis\n    env: mock\n    appkey: {env: KIS_APPKEY}\n    appsecret: {env: KIS_APPSECRET}\n"+
		"  - name: wrong\n    broker: kis\n    env: mock\n    appkey: {env: WRONG_KEY}\n    appsecret: {env: KIS_APPSECRET}\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	startServe(t, with(with(env, "KAUTH_STORE", "memory"), "WRONG_KEY", "FAKE-TEST-KIS-KEY-nobody-s-app-key-0000"), "--config", config)
	host, _ := os.Hostname()
	by := host + " pid " + strconv.Itoa(os.Getpid())
	var r result
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = run(t, nil, "", "status", "--agent", "--addr", "unix:"+sock)
		r.wantCode(t, 0)
		// Until both accounts' first tries are recorded: paper's last
		// issuance and wrong's failure.
		if strings.Count(r.stdout, by) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(r.stdout, "\n")
	row := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) && strings.Contains(l, "pid") {
				return l
			}
		}
		t.Fatalf("no history row for %q:\n%s", prefix, r.stdout)
		return ""
	}
	for _, want := range []string{"TODAY (KST)", "LAST ISSUE (KST)", "BY", "NEXT ISSUE (KST)", "LAST FAILURE (KST)", "CODE"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status --agent lacks the column %q:\n%s", want, r.stdout)
		}
	}
	paper := row("paper ")
	if day == time.Now().In(kauth.KST).Format(time.DateOnly) && !strings.Contains(paper, "1 issued, 0 same, 0 failed") {
		t.Errorf("paper's history %q; want 1 issued, 0 same, 0 failed today", paper)
	}
	if !strings.Contains(paper, by) {
		t.Errorf("paper's history %q; want the issuer %q", paper, by)
	}
	wrong := row("wrong ")
	if !strings.Contains(wrong, "EGW00103") || !strings.Contains(wrong, by) {
		t.Errorf("wrong's history %q; want its failure EGW00103 by %q", wrong, by)
	}
	key, secret := fakeApp(kauth.KIS)
	for name, v := range map[string]string{"app key": key, "app secret": secret} {
		if strings.Contains(r.stdout, v) {
			t.Errorf("status --agent shows the %s", name)
		}
	}
}

// TestHistoryCells: the last issuance reads "(same)" when the broker
// handed back the token already held and "(turnover)" when it was made in
// the turnover window; nothing recorded reads "-", the next issuance "now".
func TestHistoryCells(t *testing.T) {
	at := "2026-12-07T07:31:00+09:00"
	for _, tc := range []struct {
		name string
		last *agent.IssueInfo
		fail *agent.IssueInfo
		next string
		want string
	}{
		{"nothing", nil, nil, "", "0 issued, 0 same, 0 failed\t-\t-\tnow\t-\t-\t-"},
		{"issued", &agent.IssueInfo{At: at, Outcome: kauth.OutcomeIssued, Host: "h", PID: 1}, nil, at,
			"0 issued, 0 same, 0 failed\t2026-12-07 07:31:00\th pid 1\t2026-12-07 07:31:00\t-\t-\t-"},
		{"same", &agent.IssueInfo{At: at, Outcome: kauth.OutcomeSame, Host: "h", PID: 1}, nil, "",
			"0 issued, 0 same, 0 failed\t2026-12-07 07:31:00 (same)\th pid 1\tnow\t-\t-\t-"},
		{"turnover", &agent.IssueInfo{At: at, Outcome: kauth.OutcomeIssued, Host: "h", PID: 1, Turnover: true}, nil, "",
			"0 issued, 0 same, 0 failed\t2026-12-07 07:31:00 (turnover)\th pid 1\tnow\t-\t-\t-"},
		{"failed", nil, &agent.IssueInfo{At: at, Outcome: kauth.OutcomeFailed, Host: "g", PID: 2, Code: "EGW00133"}, "",
			"0 issued, 0 same, 0 failed\t-\t-\tnow\t2026-12-07 07:31:00\tEGW00133\tg pid 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := historyCells(0, 0, 0, tc.last, tc.fail, tc.next); got != tc.want {
				t.Errorf("historyCells() = %q; want %q", got, tc.want)
			}
		})
	}
}
