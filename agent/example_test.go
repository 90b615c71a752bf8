package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
)

// An agent serving the simulator's demo apps on a unix socket; a bot gets
// the kis-mock token and calls the broker through the proxy without any
// credential.
func Example() {
	sim := httptest.NewServer(brokersim.New())
	defer sim.Close()

	dir, _ := os.MkdirTemp("", "kauth-example-")
	defer os.RemoveAll(dir)
	app := brokersim.DemoKISMock // made-up credentials the simulator knows
	cfg := agent.Config{Accounts: []agent.Account{{
		Name: "kis-mock", Broker: app.Broker, Env: app.Env,
		AppKey: agent.Secret{Value: app.AppKey}, AppSecret: agent.Secret{Value: app.Secret},
		BaseURL: brokersim.BaseURL(sim.URL, app.Broker, app.Env),
	}}}
	cfg.Listen.Socket = filepath.Join(dir, "agent.sock")

	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go a.ListenAndServe(ctx)
	<-a.Ready()

	// A bot in any language: HTTP over the socket.
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, "unix", a.Endpoints().Socket)
	}}
	defer tr.CloseIdleConnections()
	bot := &http.Client{Transport: tr}

	resp, err := bot.Get("http://localhost/v1/accounts/kis-mock/token")
	if err != nil {
		fmt.Println(err)
		return
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Broker, Env string
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println(tok.Broker, tok.Env, tok.TokenType, tok.AccessToken != "")

	req, _ := http.NewRequest("GET", "http://localhost/proxy/kis-mock/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", nil)
	req.Header.Set("tr_id", "FHKST01010100")
	resp, err = bot.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var price struct {
		RtCd   string `json:"rt_cd"`
		Output struct {
			Code string `json:"stck_shrn_iscd"`
		}
	}
	json.NewDecoder(resp.Body).Decode(&price)
	resp.Body.Close()
	fmt.Println(resp.Status, price.RtCd, price.Output.Code)
	// Output:
	// kis mock Bearer true
	// 200 OK 0 005930
}

// A misspelt setting is an error that names its line.
func ExampleParseConfig() {
	_, err := agent.ParseConfig([]byte(`
accounts:
  - name: kis-real
    broker: kis
    env: real
    appkey: {env: KIS_APPKEY}
    app_secret: {env: KIS_APPSECRET}
`))
	fmt.Println(err)
	// Output:
	// line 7: unknown field "app_secret"
}
