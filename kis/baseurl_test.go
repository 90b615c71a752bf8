package kis_test

import (
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/kis"
)

// TestManagerBaseURLFollowsEnv: a Manager says the domain its tokens are
// for, so that a program aimed at mock never builds a request on the real
// domain, and an override (KIS_BASE_URL, Provider.BaseURL) wins.
func TestManagerBaseURLFollowsEnv(t *testing.T) {
	t.Setenv(kis.BaseURLEnv, "")
	for _, tc := range []struct {
		env  kauth.Env
		p    *kis.Provider
		want string
	}{
		{kauth.Real, kis.New(), kis.RealURL},
		{kauth.Mock, kis.New(), kis.MockURL},
		{kauth.Mock, &kis.Provider{BaseURL: "http://127.0.0.1:8600/kis/mock/"}, "http://127.0.0.1:8600/kis/mock"},
	} {
		m, err := kauth.NewManager(kauth.Config{
			Credentials: kauth.Credentials{Broker: kauth.KIS, Env: tc.env, AppKey: "PSTESTAPPKEY0123456789", AppSecret: "made-up"},
			Provider:    tc.p,
			Store:       kauth.NewMemoryStore(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.BaseURL(); got != tc.want {
			t.Errorf("%s, BaseURL %q: Manager.BaseURL() = %q; want %q", tc.env, tc.p.BaseURL, got, tc.want)
		}
		m.Close()
	}
	t.Setenv(kis.BaseURLEnv, "http://127.0.0.1:9/sim")
	m, err := kauth.NewManager(kauth.Config{
		Credentials: kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSTESTAPPKEY0123456789", AppSecret: "made-up"},
		Provider:    kis.New(),
		Store:       kauth.NewMemoryStore(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.BaseURL(); got != "http://127.0.0.1:9/sim" {
		t.Errorf("with %s set: Manager.BaseURL() = %q", kis.BaseURLEnv, got)
	}
}
