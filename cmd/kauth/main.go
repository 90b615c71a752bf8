// Command kauth keeps the access tokens of Korean brokers' Open APIs valid,
// shared and safe: KIS (한국투자증권), Kiwoom (키움증권), LS (LS증권),
// DB (DB증권) and Toss (토스증권).
//
// Usage:
//
//	kauth token    --broker kis|kiwoom|ls|db|toss --env real|mock [--json]
//	kauth status   [--json]
//	kauth revoke   --broker kis|kiwoom|ls|db --env real|mock
//	kauth approval --broker kis --env real|mock
//	kauth hashkey  --env real|mock < body.json
//	kauth serve    [--config FILE] [--sim] [--addr ADDR]
//	kauth open     [--account NAME]… [--no-browser]
//	kauth sim      [--addr 127.0.0.1:PORT]
//	kauth demo
//	kauth doctor   [--env real|mock] [--issue] [--json]
//	kauth run      (--broker B --env E | --account NAME) -- CMD [ARG…]
//	kauth version  (or kauth --version)
//	kauth completion bash|zsh|fish
//
// Every command takes --log-format text|json and --log-level.
//
// Credentials come only from the environment (KIS_APPKEY, KIS_APPSECRET,
// KIWOOM_APPKEY, KIWOOM_SECRETKEY, LS_APPKEY, LS_APPSECRET, DBSEC_APPKEY,
// DBSEC_APPSECRET, TOSS_CLIENT_ID, TOSS_CLIENT_SECRET; KIS_BASE_URL,
// KIWOOM_BASE_URL, LS_BASE_URL, DBSEC_BASE_URL and TOSS_BASE_URL override
// a domain) or a config file, never from flags:
// arguments show in ps. Cached tokens live in an encrypted store chosen by
// KAUTH_STORE (file, the default, at KAUTH_CACHE_DIR; memory; or a redis://
// URL).
//
// Exit codes: 0 ok, 2 usage or configuration error, 3 credentials rejected
// by the broker, 4 broker unavailable or rate limited after retries, 1
// anything else.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	o := Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Environ: os.Environ}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// The agent reloads its config on SIGHUP; other commands keep the
		// default, which ends them with the terminal.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		o.Hangups = hup
	}
	if len(os.Args) > 1 && os.Args[1] == "run" {
		// kauth run passes these on to its command, and lives until the
		// command exits (SIGHUP would otherwise end kauth and orphan it).
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		o.Signals = sigs
	}
	code := MainOptions(ctx, os.Args[1:], o)
	stop()
	os.Exit(code)
}
