package brokersim_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kiwoom"
)

func kiwoomToken(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	p := &kiwoom.Provider{BaseURL: brokersim.BaseURL(ts.URL, kauth.Kiwoom, kauth.Mock)}
	tok, err := p.Issue(context.Background(), brokersim.DemoKiwoomMock.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

type kiwoomMsg struct {
	Trnm       string `json:"trnm"`
	ReturnCode int    `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	Code       string `json:"code"`
	Data       []struct {
		Type   string            `json:"type"`
		Item   string            `json:"item"`
		Values map[string]string `json:"values"`
	} `json:"data"`
}

func kiwoomRecv(t *testing.T, c *websocket.Conn) kiwoomMsg {
	t.Helper()
	var m kiwoomMsg
	if s := recv(t, c); json.Unmarshal([]byte(s), &m) != nil {
		t.Fatalf("not JSON: %s", s)
	}
	return m
}

func kiwoomReg(trnm, refresh string, items, types []string) []byte {
	b, _ := json.Marshal(map[string]any{"trnm": trnm, "grp_no": "1", "refresh": refresh,
		"data": []map[string]any{{"item": items, "type": types}}})
	return b
}

func TestKiwoomWebSocket(t *testing.T) {
	sim, ts := wsSim(t, func(s *brokersim.Server) { s.WS.KiwoomMaxSubscriptions = 3 })
	url := wsURL(ts, kauth.Kiwoom, kauth.Mock, "/api/dostk/websocket")
	tok := kiwoomToken(t, ts)
	c := dial(t, url)
	send(t, c, []byte(`{"trnm":"LOGIN","token":"`+tok+`"}`))
	if m := kiwoomRecv(t, c); m.Trnm != "LOGIN" || m.ReturnCode != 0 {
		t.Fatalf("login = %+v", m)
	}
	send(t, c, kiwoomReg("REG", "1", []string{"005930", "000660"}, []string{"0B"}))
	if m := kiwoomRecv(t, c); m.Trnm != "REG" || m.ReturnCode != 0 {
		t.Fatalf("REG = %+v", m)
	}
	sim.Tick()
	m := kiwoomRecv(t, c)
	if m.Trnm != "REAL" || len(m.Data) != 2 || m.Data[0].Item != "000660" || m.Data[1].Type != "0B" || m.Data[1].Values["10"] != "+71100" {
		t.Errorf("REAL = %+v", m)
	}
	send(t, c, kiwoomReg("REG", "1", []string{"035420", "000270"}, []string{"0B"}))
	if m := kiwoomRecv(t, c); m.ReturnCode == 0 {
		t.Errorf("over the limit: %+v; want a non-zero return_code", m)
	}
	send(t, c, kiwoomReg("REMOVE", "1", []string{"000660"}, []string{"0B"}))
	if m := kiwoomRecv(t, c); m.Trnm != "REMOVE" || m.ReturnCode != 0 {
		t.Errorf("REMOVE = %+v", m)
	}
	// refresh "0" replaces the group's registrations.
	send(t, c, kiwoomReg("REG", "0", []string{"035420"}, []string{"0B"}))
	kiwoomRecv(t, c)
	if got := sim.WSStats(kauth.Kiwoom, kauth.Mock, brokersim.DemoKiwoomMock.AppKey).Topics; strings.Join(got, ",") != "0B|035420" {
		t.Errorf("topics = %v; want only 0B|035420", got)
	}
	send(t, c, []byte(`{"trnm":"PING"}`))

	// A newer session of the app key replaces this one.
	c2 := dial(t, url)
	send(t, c2, []byte(`{"trnm":"LOGIN","token":"`+tok+`"}`))
	if m := kiwoomRecv(t, c2); m.ReturnCode != 0 {
		t.Fatalf("second login = %+v", m)
	}
	if m := kiwoomRecv(t, c); m.Trnm != "SYSTEM" || m.Code != "R10001" {
		t.Errorf("old session got %+v; want SYSTEM R10001", m)
	}
	st := sim.WSStats(kauth.Kiwoom, kauth.Mock, brokersim.DemoKiwoomMock.AppKey)
	if st.Opened != 2 || st.Replaced != 1 || st.Controls != 4 {
		t.Errorf("stats = %+v; want 4 control frames among them", st)
	}
}

func TestKiwoomWebSocketRefusesBadToken(t *testing.T) {
	sim, ts := wsSim(t, nil)
	url := wsURL(ts, kauth.Kiwoom, kauth.Mock, "/api/dostk/websocket")
	for _, tc := range []struct {
		name, first string
		code        int
		refuse      bool
	}{
		{"unknown token", `{"trnm":"LOGIN","token":"nope"}`, 8005, false},
		{"scripted refusal", `{"trnm":"LOGIN","token":"` + kiwoomToken(t, ts) + `"}`, 8005, true},
		{"no login", `{"trnm":"REG","grp_no":"1","refresh":"1","data":[]}`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.refuse {
				sim.RefuseWSLogins(kauth.Kiwoom, 1)
			}
			c := dial(t, url)
			send(t, c, []byte(tc.first))
			m := kiwoomRecv(t, c)
			switch {
			case tc.code != 0 && (m.Trnm != "LOGIN" || m.ReturnCode != tc.code || !strings.Contains(m.ReturnMsg, "CODE=8005")):
				t.Errorf("answer = %+v; want LOGIN %d with CODE=8005", m, tc.code)
			case tc.code == 0 && m.Trnm != "SYSTEM":
				t.Errorf("answer = %+v; want SYSTEM", m)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
				t.Errorf("session stayed open: %v", err)
			}
		})
	}
}
