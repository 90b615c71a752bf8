package reliability_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/reliability"
	"github.com/kauth/kauth/store/file"
)

// TestPeerClockAhead: a process whose clock runs 5 minutes ahead issues
// and records LastIssue in its future. When the token is then rejected, a
// process on a correct clock gets a new one after at most the issuance
// spacing on its own clock — not after the peer's 5 minutes, and within
// its IssueTimeout (20 s in the children).
func TestPeerClockAhead(t *testing.T) {
	app := brokersim.DemoKiwoomMock
	rig := reliability.NewRig(nil)
	defer rig.Close()
	dir := filepath.Join(t.TempDir(), "cache")
	storeKey := reliability.NewStoreKey()
	env := reliability.StormEnv(rig, app, storeKey, dir, "", "")

	ahead, err := reliability.ProcessStorm(1, append(env, reliability.EnvOffset+"=5m"))
	if err != nil {
		t.Fatalf("the process 5 min ahead: %v", err)
	}
	key, _ := base64.StdEncoding.DecodeString(storeKey)
	st, err := file.New(dir, file.WithKey(key), file.WithLogger(reliability.DiscardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := app.Credentials().Key()
	e, err := st.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if lead := time.Until(e.LastIssue); lead < 4*time.Minute {
		t.Fatalf("LastIssue is %v ahead; want the peer's 5 min (the setup is wrong)", lead)
	}
	// The broker rejects the token; the entry says so and keeps LastIssue.
	rig.Sim.InvalidateToken(e.Token.AccessToken)
	e.Rejected, e.Token = e.Token.Fingerprint(), kauth.Token{}
	if err := st.Save(ctx, k, e); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	right, err := reliability.ProcessStorm(1, env)
	if err != nil {
		t.Fatalf("the process on a correct clock: %v", err)
	}
	t.Logf("a LastIssue 5 min in the future cost the next issuance %v", time.Since(start).Round(time.Millisecond))
	for fp := range right.Fingerprints {
		if ahead.Fingerprints[fp] != 0 {
			t.Error("the process on a correct clock got the rejected token")
		}
	}
	if got := rig.Sim.Issued(app.Broker, app.Env, app.AppKey); got != 2 {
		t.Errorf("issuances = %d; want 2", got)
	}
}
