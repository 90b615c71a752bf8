package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// TestEventRingKeepsTheLastNewestFirst: the ring holds the last
// eventRingSize events, lists them newest first and within the scope, and
// keeps of a failure its kind and code, never its message.
func TestEventRingKeepsTheLastNewestFirst(t *testing.T) {
	var r eventRing
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for i := range eventRingSize + 5 {
		acct := "a"
		if i%2 == 1 {
			acct = "b"
		}
		r.add(t0.Add(time.Duration(i)*time.Second), acct, kauth.Event{Kind: kauth.EventIssued, Token: fmt.Sprint(i)})
	}
	all := r.list(statusScope{all: true}, 1000)
	if len(all) != eventRingSize || all[0].Token != fmt.Sprint(eventRingSize+4) || all[len(all)-1].Token != "5" {
		t.Fatalf("ring holds %d events, %s…%s; want %d, newest %d first, oldest 5", len(all), all[0].Token, all[len(all)-1].Token, eventRingSize, eventRingSize+4)
	}
	onlyB := r.list(statusScope{accs: []string{"b"}}, 3)
	if len(onlyB) != 3 || onlyB[0].Account != "b" || onlyB[1].Account != "b" {
		t.Errorf("scoped list = %+v; want 3 events of b", onlyB)
	}
	if got := r.list(statusScope{accs: []string{"c"}}, 10); len(got) != 0 {
		t.Errorf("a scope of no served account lists %d events", len(got))
	}

	var f eventRing
	secret := "the broker echoed appsecret=S3CR3T"
	f.add(t0, "a", kauth.Event{Kind: kauth.EventFailed, Err: &kauth.Error{Code: "EGW00103", Message: secret, Err: errors.New(secret), Kind: kauth.ErrCredentials}})
	ev := f.list(statusScope{all: true}, 1)[0]
	if ev.Detail != "credentials EGW00103" || strings.Contains(fmt.Sprint(ev), "S3CR3T") {
		t.Errorf("failure event = %+v; want detail \"credentials EGW00103\" and no message", ev)
	}
}

// TestStatusGrantsBounded: codes and sessions are bounded in number; the
// one nearest its end makes room, and what expired is dropped.
func TestStatusGrantsBounded(t *testing.T) {
	var s statusAuth
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	first, _ := s.newCode(statusScope{all: true}, now)
	for i := range maxStatusCodes {
		s.newCode(statusScope{all: true}, now.Add(time.Duration(i+1)*time.Millisecond))
	}
	if len(s.codes) != maxStatusCodes {
		t.Errorf("%d codes held; want %d", len(s.codes), maxStatusCodes)
	}
	if _, _, why := s.redeem(first, now); why == "" {
		t.Error("the oldest code survived a full table")
	}
	s.newCode(statusScope{all: true}, now.Add(StatusCodeTTL+time.Second))
	if len(s.codes) != 1 {
		t.Errorf("%d codes held after the others expired; want 1", len(s.codes))
	}
}
