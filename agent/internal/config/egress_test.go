package config

import (
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

func TestAccountEgress(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"K": "made-up-kiwoom-key", "S": "made-up-kiwoom-secret"}[k]
	}
	acct := func(egress string) Account {
		return Account{Name: "kw", Broker: kauth.Kiwoom, Env: kauth.Mock, AppKey: Secret{Env: "K"}, AppSecret: Secret{Env: "S"},
			BaseURL: "http://127.0.0.1:9/kiwoom/mock", Egress: egress}
	}
	a, err := resolveAccount(acct("nat-a"), getenv, brokers.All())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := resolveAccount(acct("nat-b"), getenv, brokers.All())
	none, _ := resolveAccount(acct(""), getenv, brokers.All())
	auto, err := resolveAccount(acct("auto"), getenv, brokers.All())
	if err != nil || auto.Creds.Egress != "127.0.0.1" {
		t.Errorf("egress auto toward loopback = %q, %v; want 127.0.0.1", auto.Creds.Egress, err)
	}
	if a.Creds.Key() == b.Creds.Key() || a.Creds.Key() == none.Creds.Key() {
		t.Errorf("Kiwoom accounts behind egresses nat-a, nat-b and none share keys: %v %v %v", a.Creds.Key(), b.Creds.Key(), none.Creds.Key())
	}
	if _, err := resolveAccount(acct("bad\nname"), getenv, brokers.All()); err == nil || !strings.Contains(err.Error(), "egress") {
		t.Errorf("an egress with a newline = %v; want an error naming egress", err)
	}
}
