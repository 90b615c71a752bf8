package reliability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

// The agent child's world, besides EnvSim, EnvRedis, EnvOffset and
// KAUTH_KEY.
const (
	// EnvAccounts lists the accounts the agent child serves, as
	// "name|broker|env|appkey|secret" joined by ",". The credentials are
	// the simulator's made-up ones; they travel in the environment, never
	// in argv.
	EnvAccounts = "KAUTH_REL_ACCOUNTS"
	// EnvKeyFile is where the agent child keeps its agent key.
	EnvKeyFile = "KAUTH_REL_KEYFILE"
)

// AgentAccount is one account an agent child serves.
type AgentAccount struct {
	Name string
	App  brokersim.App
}

// AccountsEnv encodes accts for EnvAccounts.
func AccountsEnv(accts []AgentAccount) string {
	var parts []string
	for _, a := range accts {
		parts = append(parts, strings.Join([]string{a.Name, string(a.App.Broker), string(a.App.Env), a.App.AppKey, a.App.Secret}, "|"))
	}
	return strings.Join(parts, ",")
}

func parseAccounts(s string) ([]AgentAccount, error) {
	var out []AgentAccount
	for _, p := range strings.Split(s, ",") {
		f := strings.Split(p, "|")
		if len(f) != 5 {
			return nil, fmt.Errorf("%s: an account has %d fields; want 5", EnvAccounts, len(f))
		}
		out = append(out, AgentAccount{f[0], brokersim.App{Broker: kauth.Broker(f[1]), Env: kauth.Env(f[2]), AppKey: f[3], Secret: f[4]}})
	}
	return out, nil
}

// childAgent is kauth's agent, as kauth serve runs it, on the Redis store
// at EnvRedis (the default prefix, shared with the kauth binary), or with
// EnvStore=file on the file store in KAUTH_CACHE_DIR, with the
// process's clock off by EnvOffset. It serves loopback TCP only, prints
// "ready <addr>" once listening, and closes when stdin closes.
func childAgent() error {
	var clock kauth.Clock = kauth.SystemClock{}
	if off := os.Getenv(EnvOffset); off != "" {
		d, err := time.ParseDuration(off)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvOffset, err)
		}
		clock = OffsetClock{Clock: clock, Offset: d}
	}
	key, err := base64.StdEncoding.DecodeString(os.Getenv("KAUTH_KEY"))
	if err != nil {
		return fmt.Errorf("KAUTH_KEY: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var st kauth.Store
	if os.Getenv(EnvStore) == "file" {
		fs, err := file.New(os.Getenv("KAUTH_CACHE_DIR"), file.WithKey(key), file.WithLogger(log))
		if err != nil {
			return err
		}
		st = fs
	} else {
		rs, err := redis.Open(os.Getenv(EnvRedis), key, redis.WithLogger(log))
		if err != nil {
			return err
		}
		defer rs.Close()
		st = rs
	}
	accts, err := parseAccounts(os.Getenv(EnvAccounts))
	if err != nil {
		return err
	}
	cfg := agent.Config{Listen: agent.Listen{Socket: agent.SocketOff, TCP: "127.0.0.1:0", KeyFile: os.Getenv(EnvKeyFile)}}
	for _, a := range accts {
		cfg.Accounts = append(cfg.Accounts, agent.Account{
			Name: a.Name, Broker: a.App.Broker, Env: a.App.Env,
			AppKey:    agent.Secret{Value: a.App.AppKey},
			AppSecret: agent.Secret{Value: a.App.Secret},
			BaseURL:   brokersim.BaseURL(os.Getenv(EnvSim), a.App.Broker, a.App.Env),
		})
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: pidTransport{http.DefaultTransport}}
	a, err := agent.New(cfg, agent.Options{Store: st, Logger: log, Clock: clock, HTTPClient: client, Getenv: func(string) string { return "" }})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- a.ListenAndServe(ctx) }()
	select {
	case err := <-served:
		return err
	case <-a.Ready():
	}
	fmt.Println("ready", a.Endpoints().TCP)
	stdin := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdin)
	}()
	select {
	case err := <-served:
		return err
	case <-stdin:
	}
	cancel()
	<-served
	return a.Close()
}

// TokenAnswer is what one call of an agent's token API got.
type TokenAnswer struct {
	Status int    // 0 if the call failed before an answer
	Token  string // the access token of a 200 answer
	Code   string // the error code of any other answer
	Err    error  // the transport's failure
	Took   time.Duration
}

// GetToken calls GET /v1/accounts/{name}/token at an agent's TCP address
// with its agent key, within deadline.
func GetToken(client *http.Client, addr, agentKey, name string, deadline time.Duration) TokenAnswer {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/accounts/"+name+"/token", nil)
	req.Header.Set("Authorization", "Bearer "+agentKey)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return TokenAnswer{Err: err, Took: time.Since(start)}
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Code        string `json:"code"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
	return TokenAnswer{Status: resp.StatusCode, Token: body.AccessToken, Code: body.Code, Err: err, Took: time.Since(start)}
}
