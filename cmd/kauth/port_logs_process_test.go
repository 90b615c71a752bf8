package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// TestProcessPortLogsNoKey: kauth serve --log-level debug, a real process,
// serves a facade port through good and hostile calls — tokens, approval
// keys, proxied quotes, bad paths, wrong secrets, the key in the query
// string, a WebSocket with a wrong first frame — and neither its output
// nor any answer holds the client key, the agent key, the app key or
// secret, or a whole token.
func TestProcessPortLogsNoKey(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir, config := facadePortConfig(t)
	d := startDaemon(t, env, "serve", "--log-level", "debug", "--config", config)
	addr := d.waitLine(t, regexp.MustCompile(`^\s+port\s+kis-mock\s+http://(127\.0\.0\.1:\d+)\s`))[1]
	read := func(f string) string {
		b, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	bot := read(filepath.Join(dir, "bot.key"))
	if bot == "" {
		t.Fatal("no client key")
	}
	spec, _ := brokers.Get(kauth.KIS)
	secrets := []string{bot, env[spec.KeyVar], env[spec.SecretVar]}
	if k := read(filepath.Join(dir, "agent.key")); k != "" {
		secrets = append(secrets, k)
	}
	var answers bytes.Buffer
	call := func(method, path string, hdr map[string]string, body string) (int, []byte) {
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(path, bot) { // a path may be echoed to its sender
			resp.Header.Write(&answers)
			answers.Write(b)
		}
		return resp.StatusCode, b
	}
	js := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	ct := map[string]string{"Content-Type": "application/json"}
	status, b := call("POST", "/oauth2/tokenP", ct, js("grant_type", "client_credentials", "appkey", "placeholder", "appsecret", bot))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(b, &tok)
	if status != 200 || tok.AccessToken == "" {
		t.Fatalf("tokenP with the client key = %d %s", status, b)
	}
	quote := "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
	withTok := map[string]string{"Authorization": "Bearer " + tok.AccessToken, "appkey": "placeholder", "appsecret": "placeholder", "tr_id": "FHKST01010100"}
	if status, b := call("GET", quote, withTok, ""); status != 200 {
		t.Errorf("quote with the token = %d %s", status, b)
	}
	call("POST", "/oauth2/Approval", ct, js("grant_type", "client_credentials", "appkey", "placeholder", "secretkey", bot))
	call("GET", "/uapi/%2e%2e/oauth2/tokenP", withTok, "")
	call("GET", "/uapi//x", withTok, "")
	call("GET", "/nope/"+bot, withTok, "")
	call("GET", quote+"&appsecret="+bot, map[string]string{"tr_id": "FHKST01010100"}, "")
	call("GET", quote, map[string]string{"appsecret": bot[:len(bot)-1], "tr_id": "FHKST01010100"}, "")
	call("POST", "/oauth2/tokenP", ct, js("appkey", env[spec.KeyVar], "appsecret", bot))
	call("POST", "/oauth2/tokenP", ct, `{"appsecret":"`+bot+`","APPSECRET":"x"}`)
	call("POST", "/oauth2/revokeP", ct, js("appkey", "placeholder", "appsecret", bot, "token", tok.AccessToken))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, _, err := websocket.Dial(ctx, "ws://"+addr+"/tryitout", nil); err == nil {
		c.Write(ctx, websocket.MessageText, []byte(`{"header":{"approval_key":"`+bot[:20]+`","tr_type":"1"},"body":{"input":{"tr_id":"H0STCNT0","tr_key":"005930"}}}`))
		c.Read(ctx)
		c.CloseNow()
	} else {
		t.Errorf("dial: %v", err)
	}

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; want 0\n%s", code, d.output())
	}
	out := d.output()
	if !strings.Contains(out, "level=DEBUG") {
		t.Error("no debug line logged")
	}
	for i, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("kauth serve's output holds secret #%d", i)
		}
		if strings.Contains(answers.String(), s) {
			t.Errorf("an answer holds secret #%d", i)
		}
	}
	if strings.Contains(out, tok.AccessToken) {
		t.Error("kauth serve's output holds the whole token")
	}
}
