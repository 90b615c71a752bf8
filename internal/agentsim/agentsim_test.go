package agentsim_test

import (
	"testing"

	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/agentsim"
)

func TestConfig(t *testing.T) {
	cfg := agentsim.Config("http://127.0.0.1:9999/")
	// Real and mock of every broker, real alone for one with no paper
	// trading (Toss).
	want := 0
	for _, s := range brokers.All() {
		want++
		if s.MockURL != "" {
			want++
		}
	}
	if len(cfg.Accounts) != want {
		t.Fatalf("SimConfig has %d accounts; want %d, one for each env of every broker", len(cfg.Accounts), want)
	}
	for _, a := range cfg.Accounts {
		if want := string(a.Broker) + "-" + string(a.Env); a.Name != want {
			t.Errorf("account %q; want %q", a.Name, want)
		}
		if want := "http://127.0.0.1:9999/" + string(a.Broker) + "/" + string(a.Env); a.BaseURL != want {
			t.Errorf("%s base_url %q; want %q", a.Name, a.BaseURL, want)
		}
		if d := brokersim.Demo(a.Broker, a.Env); a.AppKey.Value != d.AppKey || a.AppSecret.Value != d.Secret {
			t.Errorf("%s does not hold the demo credentials", a.Name)
		}
	}
}
