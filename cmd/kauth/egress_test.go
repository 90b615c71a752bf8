package main

import (
	"testing"

	"github.com/kauth/kauth"
)

// KAUTH_EGRESS keeps a Kiwoom token per egress (Kiwoom binds a token to the
// IP that issued it, 8010): hosts behind one egress share one, hosts
// behind another never take it. KIS tokens are not bound to an IP, so the
// egress changes nothing for them.
func TestEgressKeysKiwoomEntries(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	calls := func(b kauth.Broker, key string) int {
		c := sim.Stats().App(b, kauth.Mock, key)
		return c.Issued + c.Reissued
	}
	get := func(broker, egress string) string {
		r := run(t, with(env, "KAUTH_EGRESS", egress), "", "token", "--broker", broker, "--env", "mock")
		r.wantCode(t, 0)
		return r.stdout
	}
	a1 := get("kiwoom", "nat-a")
	a2 := get("kiwoom", "nat-a")
	if a1 != a2 || calls(kauth.Kiwoom, fakeKiwoomKey) != 1 {
		t.Errorf("two runs behind one egress: %d calls to the broker, same token %v; want 1 call, one token", calls(kauth.Kiwoom, fakeKiwoomKey), a1 == a2)
	}
	get("kiwoom", "nat-b")
	if n := calls(kauth.Kiwoom, fakeKiwoomKey); n != 2 {
		t.Errorf("a run behind another egress: %d calls to the broker; want 2 (its own token, never nat-a's)", n)
	}
	get("kis", "nat-a")
	get("kis", "nat-b")
	if n := calls(kauth.KIS, fakeKISKey); n != 1 {
		t.Errorf("KIS behind two egresses: %d calls to the broker; want 1 (KIS tokens are not bound to an IP)", n)
	}
	r := run(t, with(env, "KAUTH_EGRESS", "auto"), "", "token", "--broker", "kiwoom", "--env", "mock")
	r.wantCode(t, 0)
}
