// Package agentsim wires the broker simulator into the agent: the config
// that serves the simulator's demo apps, and the in-process simulator of
// `kauth serve --sim` (agent.Daemon.Sim). It keeps the agent itself free
// of the simulator.
package agentsim

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/brokersim"
)

// Config returns an agent config serving the simulator's demo apps
// (brokersim.DemoApps: real and mock of every broker) at a simulator whose
// root URL is simBaseURL, as accounts kis-real, kis-mock, kiwoom-real,
// kiwoom-mock, ls-real, … . The demo credentials are made up and work only
// against the simulator.
func Config(simBaseURL string) agent.Config {
	var cfg agent.Config
	for _, app := range brokersim.DemoApps() {
		cfg.Accounts = append(cfg.Accounts, agent.Account{
			Name:      string(app.Broker) + "-" + string(app.Env),
			Broker:    app.Broker,
			Env:       app.Env,
			AppKey:    agent.Secret{Value: app.AppKey},
			AppSecret: agent.Secret{Value: app.Secret},
			BaseURL:   brokersim.BaseURL(simBaseURL, app.Broker, app.Env),
		})
	}
	return cfg
}

// Start serves an in-process simulator with its demo apps on a loopback
// port, for `kauth serve --sim`; it fits agent.Daemon.Sim.
func Start(log *slog.Logger) (agent.Config, string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return agent.Config{}, "", nil, err
	}
	sim := New()
	if log != nil {
		sim.Logf = func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) }
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}
	return Config(url), url, stop, nil
}

// New returns a simulator that names each broker's variables as the broker
// list does.
func New() *brokersim.Server {
	sim := brokersim.New()
	sim.Vars = func(b kauth.Broker) (string, string, string) {
		if s, ok := brokers.Get(b); ok {
			return s.BaseURLVar, s.KeyVar, s.SecretVar
		}
		return "BASE_URL", "APPKEY", "APPSECRET"
	}
	return sim
}
