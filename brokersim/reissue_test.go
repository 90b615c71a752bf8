package brokersim

import (
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// TestReissueModes issues twice while the first token is valid and checks
// what the second answer is and whether the first token still works.
func TestReissueModes(t *testing.T) {
	tests := []struct {
		mode          ReissueMode
		wantSame      bool
		wantOldWorks  bool
		wantIssued    int
		wantReissued  int
		wantSupersede int
	}{
		{ReissueSame, true, true, 1, 1, 0},
		{ReissueNewKeepOld, false, true, 2, 0, 0},
		{ReissueNewRevokeOld, false, false, 2, 0, 1},
	}
	for _, app := range []App{DemoKISMock, DemoKiwoomMock} {
		for _, tt := range tests {
			t.Run(app.String()+"/"+tt.mode.String(), func(t *testing.T) {
				sim, ts := newSim(t)
				sim.SetReissue(app.Broker, tt.mode)
				issue := func() string {
					if app.Broker == kauth.KIS {
						return kisToken(t, ts, app)
					}
					return kiwoomToken(t, ts, app)
				}
				works := func(tok string) bool {
					sim.Advance(time.Second) // the mock call limit
					if app.Broker == kauth.KIS {
						return kisPrice(t, ts, app.Env, app, tok).str("rt_cd") == "0"
					}
					ans := kiwoomStock(t, ts, app.Env, tok, nil, nil)
					return returnCode(t, ans) == "0"
				}
				first := issue()
				sim.Advance(2 * time.Minute) // past KIS's once a minute
				second := issue()
				if got := second == first; got != tt.wantSame {
					t.Errorf("second issue returned the first token: %v; want %v", got, tt.wantSame)
				}
				if got := works(first); got != tt.wantOldWorks {
					t.Errorf("first token works after the second issue: %v; want %v", got, tt.wantOldWorks)
				}
				if !works(second) {
					t.Error("the second token does not work")
				}
				c := sim.Stats().App(app.Broker, app.Env, app.AppKey)
				if c.Issued != tt.wantIssued || c.Reissued != tt.wantReissued || c.Superseded != tt.wantSupersede {
					t.Errorf("issued, reissued, superseded = %d, %d, %d; want %d, %d, %d", c.Issued, c.Reissued, c.Superseded, tt.wantIssued, tt.wantReissued, tt.wantSupersede)
				}
				if app.Broker == kauth.KIS {
					// The spacing holds in every mode.
					if ans := kisIssue(t, ts, app); ans.str("error_code") != egwIssueRateLimit {
						t.Errorf("issue 10 s later = %s; want EGW00133", ans.raw)
					}
				}
			})
		}
	}
}

func TestReissueControl(t *testing.T) {
	sim, ts := newSim(t)
	if got := do(t, "GET", ts.URL+"/_sim/reissue", nil, nil); got.str("kis") != "same" || got.str("kiwoom") != "same" {
		t.Fatalf("GET /_sim/reissue = %s; want both same", got.raw)
	}
	got := do(t, "POST", ts.URL+"/_sim/reissue?broker=kiwoom&mode=new-revoke-old", nil, nil)
	if got.status != 200 || got.str("kiwoom") != "new-revoke-old" || sim.Reissue(kauth.Kiwoom) != ReissueNewRevokeOld || sim.Reissue(kauth.KIS) != ReissueSame {
		t.Errorf("POST /_sim/reissue = %d %s", got.status, got.raw)
	}
	for _, q := range []string{"broker=nope&mode=same", "broker=kis&mode=sometimes", "broker=kis"} {
		if bad := do(t, "POST", ts.URL+"/_sim/reissue?"+q, nil, nil); bad.status != 400 || bad.str("error") == "" {
			t.Errorf("POST /_sim/reissue?%s = %d %s; want 400 with an error", q, bad.status, bad.raw)
		}
	}
	for in, want := range map[string]ReissueMode{"same": ReissueSame, "New_Keep_Old": ReissueNewKeepOld, "newrevokeold": ReissueNewRevokeOld} {
		if m, err := ParseReissueMode(in); err != nil || m != want {
			t.Errorf("ParseReissueMode(%q) = %v, %v; want %v", in, m, err, want)
		}
	}
}

func TestKiwoomCodeAsReturnCode(t *testing.T) {
	sim, ts := newSim(t)
	sim.KiwoomCodeAsReturnCode = true
	ans := kiwoomStock(t, ts, kauth.Mock, "not-a-token", nil, nil)
	if returnCode(t, ans) != "8005" || ans.str("return_msg") != "Token이 유효하지 않습니다" {
		t.Errorf("ka10001 with a bad token = %s; want return_code 8005", ans.raw)
	}
}
