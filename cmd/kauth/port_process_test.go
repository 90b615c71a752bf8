package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/kauth/kauth"
)

// TestProcessServeFacadePort: kauth serve, a real process, opens the port
// of an account with facade_addr, says where, and serves a token there only
// to a request carrying the account's client key; SIGTERM stops it with 0.
func TestProcessServeFacadePort(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir, config := facadePortConfig(t)
	d := startDaemon(t, env, "serve", "--config", config)
	addr := d.waitLine(t, regexp.MustCompile(`^\s+port\s+kis-mock\s+http://(127\.0\.0\.1:\d+)\s`))[1]
	b, err := os.ReadFile(filepath.Join(dir, "bot.key"))
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.TrimSpace(string(b))
	tokenP := func(secret string) (int, string) {
		body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "appkey": "placeholder", "appsecret": secret})
		resp, err := http.Post("http://"+addr+"/oauth2/tokenP", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m.AccessToken
	}
	if status, tok := tokenP(bot); status != 200 || tok == "" {
		t.Errorf("tokenP with the client key = %d; want 200 with a token", status)
	}
	if status, tok := tokenP("placeholder"); status != http.StatusUnauthorized || tok != "" {
		t.Errorf("tokenP without the client key = %d; want 401 and no token", status)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; want 0\n%s", code, d.output())
	}
	if out := d.output(); strings.Contains(out, bot) {
		t.Error("kauth serve's output holds the client key")
	}
}

// facadePortConfig writes, in a fresh directory, an agent config with no
// socket, a client key "bot" for kis-mock, and kis-mock's facade port on
// 127.0.0.1:0; it returns the directory and the config's path.
func facadePortConfig(t *testing.T) (dir, config string) {
	t.Helper()
	dir = t.TempDir()
	config = filepath.Join(dir, "kauth.yaml")
	cfg := "listen:\n  socket: off\n  key_file: " + filepath.Join(dir, "agent.key") +
		"\nclient_keys:\n  - name: bot\n    file: bot.key\n    accounts: [kis-mock]\n" +
		"accounts:\n  - name: kis-mock\n    broker: kis\n    env: mock\n    appkey: {env: KIS_APPKEY}\n    appsecret: {env: KIS_APPSECRET}\n" +
		"    facade_addr: 127.0.0.1:0\n"
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, config
}
