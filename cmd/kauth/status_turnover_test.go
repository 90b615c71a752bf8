package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/krx"
	"github.com/kauth/kauth/store/file"
)

// TestStatusTurnover: with a turnover window, status tells when a cached
// token turns over. The token expires three hours into a session that
// opens at least 10 h from now (so the test holds at any hour): its
// refresh would come during that session, and with a window of
// 00:00-08:59 it turns over at midnight KST of that day.
func TestStatusTurnover(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	open := krx.Default().NextOpen(time.Now().Add(10 * time.Hour))
	tok := kauth.Token{AccessToken: "made-up-token-for-status", Type: "Bearer", ExpiresAt: open.Add(3 * time.Hour)}
	tok.IssuedAt = tok.ExpiresAt.Add(-24 * time.Hour)
	key, secret := fakeApp(kauth.KIS)
	creds := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: key, AppSecret: secret}
	st, err := file.New(env["KAUTH_CACHE_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), creds.Key(), kauth.Entry{Token: tok}); err != nil {
		t.Fatal(err)
	}
	want := krx.Midnight(open).Format(time.RFC3339)

	r := run(t, env, "", "status", "--json", "--turnover", "00:00-08:59")
	r.wantCode(t, 0)
	var out statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tokens) != 1 || out.Tokens[0].NextTurnover != want {
		t.Errorf("status --json --turnover: tokens = %+v; want next_turnover %s", out.Tokens, want)
	}

	// The window from KAUTH_TURNOVER, in the table.
	r = run(t, with(env, "KAUTH_TURNOVER", "00:00-08:59"), "", "status")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "TURNOVER (KST)") || !strings.Contains(r.stdout, krx.Midnight(open).Format(time.DateTime)) {
		t.Errorf("status with KAUTH_TURNOVER does not show the turnover at %s:\n%s", want, r.stdout)
	}

	// Without a window: no turnover, no column.
	r = run(t, env, "", "status")
	r.wantCode(t, 0)
	if strings.Contains(r.stdout, "TURNOVER") {
		t.Errorf("status without a window shows a turnover column:\n%s", r.stdout)
	}

	// A holiday file that closes that day: no session in the way.
	holidays := filepath.Join(t.TempDir(), "holidays.txt")
	if err := os.WriteFile(holidays, []byte(open.Format(time.DateOnly)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "", "status", "--json", "--turnover", "00:00-08:59", "--krx-holidays", holidays)
	r.wantCode(t, 0)
	out = statusJSON{}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tokens) != 1 || out.Tokens[0].NextTurnover != "" {
		t.Errorf("status on a holiday file closing %s: tokens = %+v; want no turnover", open.Format(time.DateOnly), out.Tokens)
	}

	// A bad window is a usage error.
	run(t, env, "", "status", "--turnover", "08:59-00:00").wantCode(t, 2)
}
