package brokers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/db"
	"github.com/kauth/kauth/ls"
	"github.com/kauth/kauth/toss"
)

// kst is Korea Standard Time, UTC+09:00 without daylight saving: the zone
// every broker prints its times in.
var kst = time.FixedZone("KST", 9*60*60)

// documentedExpiry is when a token issued at t ends, as each broker
// documents it. It is written here apart from the broker packages, so that
// the test holds them, the simulator and the Manager to it.
var documentedExpiry = map[kauth.Broker]func(t time.Time) time.Time{
	// 접근토큰발급(P) /oauth2/tokenP: "접근토큰(access_token)의 유효기간은
	// 24시간" (expires_in 86400).
	kauth.KIS: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
	// au10001 prints the end as expires_dt; the simulator's default
	// lifetime is 24 h.
	kauth.Kiwoom: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
	// "발급일 익일 07시까지 유효", as LS's clients record it (an issuance
	// seen to last expires_in≈40867 s fits it): 07:00 KST the day after
	// the issue, so a token issued at 23:00 lives 8 h and one issued at
	// 01:00 lives 30 h.
	ls.Broker: func(t time.Time) time.Time {
		k := t.In(kst)
		return time.Date(k.Year(), k.Month(), k.Day(), 7, 0, 0, 0, kst).AddDate(0, 0, 1)
	},
	// DB's clients add expires_in (86400) to the time of the answer.
	db.Broker: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
	// Toss's OAuth2TokenResponse example: expires_in 86400.
	toss.Broker: func(t time.Time) time.Time { return t.Add(86400 * time.Second) },
}

// lifetimeStarts are the instants the clock starts at: every hour of a KST
// day, and the last evening of a month and of a year.
func lifetimeStarts() []time.Time {
	var out []time.Time
	for h := range 24 {
		out = append(out, time.Date(2026, time.March, 10, h, 0, 0, 0, kst))
	}
	return append(out,
		time.Date(2026, time.December, 31, 23, 30, 0, 0, kst),
		time.Date(2027, time.February, 28, 23, 0, 0, 0, kst),
	)
}

// frozenClock is a virtual clock that moves only when told: the Manager
// reads it and its Sleep advances it, and the simulator runs on it.
type frozenClock struct{ sim *brokersim.Server }

func (c frozenClock) Now() time.Time { return c.sim.Now() }

func (c frozenClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sim.Advance(d)
	return nil
}

// TestLifetimeAtEveryHour runs every registered broker's token through one
// validity period with the virtual clock started at every hour of the KST
// day, at a month end and at a year end. For each start a Manager on the
// default RefreshAhead and ExpiryMargin, against the simulator:
//
//   - records the expiry the broker documents for a token issued then;
//   - calls the broker no more until the refresh-ahead window, RefreshAhead
//     before that expiry;
//   - in that window serves the token and asks the broker once, in the
//     background (a new token, or the same one where the broker keeps it);
//   - hands the first token out no more from ExpiryMargin before its
//     expiry, and by then has exactly one new token;
//   - past the first token's expiry serves that new token, with no further
//     issuance.
func TestLifetimeAtEveryHour(t *testing.T) {
	for _, spec := range brokers.All() {
		documented, ok := documentedExpiry[spec.Name]
		if !ok {
			t.Errorf("%s: no documented token lifetime in this test", spec.Name)
			continue
		}
		for _, start := range lifetimeStarts() {
			t.Run(string(spec.Name)+"/"+start.Format("2006-01-02T15:04"), func(t *testing.T) {
				checkLifetime(t, spec, documented, start)
			})
		}
	}
}

func checkLifetime(t *testing.T, spec kauth.BrokerSpec, documented func(time.Time) time.Time, start time.Time) {
	ctx := context.Background()
	sim := brokersim.New()
	sim.Clock = func() time.Time { return start }
	ts := httptest.NewServer(sim)
	defer ts.Close()
	app := brokersim.Demo(spec.Name, kauth.Real)
	events := make(chan kauth.Event, 16)
	m, err := kauth.NewManager(kauth.Config{
		Credentials: app.Credentials(),
		Provider:    spec.New(brokersim.BaseURL(ts.URL, spec.Name, kauth.Real), ts.Client(), sim.Now),
		Store:       kauth.NewMemoryStore(),
		Clock:       frozenClock{sim},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev kauth.Event) {
			select {
			case events <- ev:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	counts := func() brokersim.Counts { return sim.Stats().App(app.Broker, app.Env, app.AppKey) }
	at := func(when time.Time) {
		t.Helper()
		sim.Advance(when.Sub(sim.Now()))
		if !sim.Now().Equal(when) {
			t.Fatalf("the virtual clock reads %v; want %v", sim.Now().In(kst), when.In(kst))
		}
	}
	token := func() kauth.Token {
		t.Helper()
		tok, err := m.Token(ctx)
		if err != nil {
			t.Fatalf("Token() at %v = %v", sim.Now().In(kst), err)
		}
		if !tok.ExpiresAt.After(sim.Now().Add(kauth.DefaultExpiryMargin)) {
			t.Fatalf("Token() at %v handed out a token that ends at %v, inside the expiry margin", sim.Now().In(kst), tok.ExpiresAt.In(kst))
		}
		return tok
	}

	first := token()
	exp := documented(start)
	if !first.ExpiresAt.Equal(exp) {
		t.Fatalf("the Manager's expiry of a token issued at %v = %v; want %v", start.In(kst), first.ExpiresAt.In(kst), exp.In(kst))
	}
	if c := counts(); c.Issued != 1 || c.Reissued != 0 {
		t.Fatalf("after the first Token(): %d issued, %d re-issued; want 1 and 0", c.Issued, c.Reissued)
	}

	// No call to the broker while the token is fresh: a Token call every
	// hour, then one a second before the refresh-ahead window.
	ahead := exp.Add(-kauth.DefaultRefreshAhead)
	for when := start.Add(time.Hour); when.Before(ahead); when = when.Add(time.Hour) {
		at(when)
		if tok := token(); tok.AccessToken != first.AccessToken {
			t.Fatalf("Token() at %v changed the token %v before its refresh-ahead window at %v", when.In(kst), when.Sub(start), ahead.In(kst))
		}
	}
	at(ahead.Add(-time.Second))
	if tok := token(); tok.AccessToken != first.AccessToken {
		t.Fatalf("Token() a second before the refresh-ahead window changed the token")
	}
	if c := counts(); c.Issued+c.Reissued != 1 {
		t.Fatalf("before the refresh-ahead window at %v: %d token answers; want 1", ahead.In(kst), c.Issued+c.Reissued)
	}

	// In the window: the token is still served, and one background
	// refresh asks the broker.
	at(ahead)
	if tok := token(); tok.AccessToken != first.AccessToken {
		t.Fatalf("Token() in the refresh-ahead window did not serve the valid token")
	}
	waitRefresh(t, events)
	refreshedAt := sim.Now()
	c := counts()
	if c.Issued+c.Reissued != 2 {
		t.Fatalf("after the refresh ahead at %v: %d issued, %d re-issued; want one more token answer", ahead.In(kst), c.Issued, c.Reissued)
	}
	if cur, _ := m.Cached(); cur.AccessToken != first.AccessToken && !cur.ExpiresAt.Equal(documented(refreshedAt)) {
		t.Errorf("the refreshed token, issued at %v, ends at %v; want %v", refreshedAt.In(kst), cur.ExpiresAt.In(kst), documented(refreshedAt).In(kst))
	}

	// From ExpiryMargin before its end the first token is not handed out.
	at(exp.Add(-kauth.DefaultExpiryMargin))
	second := token()
	if second.AccessToken == first.AccessToken {
		t.Fatalf("Token() at %v, in the last %v of the first token, handed it out", sim.Now().In(kst), kauth.DefaultExpiryMargin)
	}
	if c := counts(); c.Issued != 2 {
		t.Errorf("by the first token's last %v: %d tokens issued; want 2", kauth.DefaultExpiryMargin, c.Issued)
	}

	// Past the first token's expiry: the second is served, with no further
	// issuance.
	at(exp.Add(time.Second))
	if tok := token(); tok.AccessToken != second.AccessToken {
		t.Errorf("Token() past the first token's expiry changed the token again")
	}
	if c := counts(); c.Issued != 2 || c.Rejected != 0 {
		t.Errorf("past the first token's expiry at %v: %d issued, %d rejected; want exactly 2 issued and none rejected", exp.In(kst), c.Issued, c.Rejected)
	}
}

// waitRefresh waits for the Manager's background refresh to end, and fails
// if it failed.
func waitRefresh(t *testing.T, events <-chan kauth.Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			switch ev.Kind {
			case kauth.EventRefreshed, kauth.EventReused:
				return
			case kauth.EventFailed:
				t.Fatalf("the refresh ahead failed: %v", ev.Err)
			}
		case <-timeout:
			t.Fatal("no refresh ahead within 10 s of real time")
		}
	}
}
