// Package agent is the local agent behind `kauth serve`: a long-running
// service through which many trading bots, in any language, share one token
// and one rate budget per app key, without ever holding the app secrets.
//
// The agent serves a set of named accounts (a broker app at real or mock),
// each with a kauth.Manager that a keeper keeps fresh in the background, so
// that the first call of the morning never waits for an issuance
// (agent/internal/keeper). Bots reach it over a unix socket (mode 0600, no
// key needed) or, on request, over loopback TCP with the agent key:
//
//	GET  /v1/accounts                    the accounts: broker, env, app fingerprint, token state, expiry
//	GET  /v1/accounts/{name}             one of them
//	GET  /v1/accounts/{name}/token       {"access_token","token_type","expires_at","broker","env"}
//	POST /v1/accounts/{name}/invalidate  {"token":"…"}: the broker rejected this token (checked before acting)
//	ANY  /proxy/{name}/{broker path}     the broker's API, authenticated by the agent (agent/internal/proxy)
//	ANY  /broker/{key}/{name}/…          the broker facade: a base URL for unmodified clients (agent/internal/proxy)
//	ANY  http://<facade_addr>/…          one account's own port: the facade at the broker's root, REST and WebSocket (agent/internal/proxy)
//	GET  /healthz                        liveness (no key needed)
//	GET  /readyz                         readiness: 503 until every account has a token or a stated failure (no key needed)
//	GET  /metrics                        Prometheus metrics (agent/internal/metrics)
//
// The proxy is the simplest way in: a bot calls
// /proxy/kis-real/uapi/domestic-stock/v1/quotations/inquire-price with its
// tr_id and query and no credentials; the agent adds the broker's auth
// headers (KIS: authorization, appkey, appsecret), waits its turn at the
// app key's rate limit, heals a rejected token with one retry, and streams
// the broker's answer back unchanged, headers included — their names byte
// for byte as the broker sent them (agent/internal/rawheader).
//
// Errors are JSON, {"error": "…", "code": "…"}, with 404 for an unknown
// account, 400 for a non-canonical proxy path or an absolute-form request,
// 401 without a key on TCP, 403 for a browser's Origin, a non-local Host
// (DNS rebinding), a path outside the broker's API or an account the
// client key may not use, 408 for a body that arrives too slowly, 413 for a
// body over the limit, 502 when the broker refused or failed (credentials,
// token, unavailable), 503 when it rate-limited or the account has too
// many requests in flight, and 504 when the caller's deadline passed.
//
// # Use
//
// From Go:
//
//	cfg, err := agent.LoadConfig("kauth.yaml") // or agent.FromEnv(nil)
//	if err != nil { … }
//	a, err := agent.New(cfg, agent.Options{Store: store})
//	if err != nil { … }
//	defer a.Close()
//	err = a.ListenAndServe(ctx) // until ctx is done
//
// Daemon wraps that the way `kauth serve` runs it, with Reload on SIGHUP.
//
// # Config
//
//	listen:
//	  socket: /run/user/1000/kauth/agent.sock # default $XDG_RUNTIME_DIR/kauth/agent.sock
//	  tcp: 127.0.0.1:8700                     # default none; needs the agent key
//	  key_file: ~/.cache/kauth/agent.key      # default $KAUTH_CACHE_DIR or the user cache dir + /kauth
//	max_body_bytes: 1048576
//	shutdown_timeout: 10s
//	revoke_on_shutdown: false
//	accounts:
//	  - name: kis-real
//	    broker: kis
//	    env: real
//	    appkey: {env: KIS_APPKEY}
//	    appsecret: {env: KIS_APPSECRET}
//	  - name: kiwoom-mock
//	    broker: kiwoom
//	    env: mock
//	    appkey: {file: /etc/kauth/kiwoom-mock.appkey}    # must be 0600
//	    appsecret: {file: /etc/kauth/kiwoom-mock.secret}
//	    rate_limit: 4.5
//	    facade_addr: 127.0.0.1:8701 # optional: this account alone on a loopback port
//
// An account's facade_addr serves it as its broker at the root of its
// domain, for clients that join absolute paths and so cannot use a
// /broker/{key}/{name} URL (python-kis). A client that knows only the port
// gets nothing: a request is served with the account's client key where
// the broker reads a secret (KIS appsecret and secretkey, Kiwoom
// secretkey, LS and DB appsecretkey, Toss client_secret; padded with '='
// or not), or with the token or approval key the port handed out. A
// facade_addr that is not loopback, or is another account's, is a config
// error.
//
// Unknown fields are errors that name their line. Without a config file the
// agent serves the accounts found in the environment (FromEnv).
//
// # Security
//
// The unix socket is 0600 in a 0700 directory. TCP binds only to loopback
// unless allow_non_loopback is set, and every TCP call but /healthz must
// carry "Authorization: Bearer <key>": the agent key (every account), 32
// random bytes (base64url) kept in the 0600 key file, or a client key
// (client_keys: the accounts it names). Keys survive restarts; deleting
// or replacing a key file and sending SIGHUP rotates it; a key file with a
// loose mode, a symlink or garbage is refused, never replaced. Requests
// from web pages (an Origin header, or Sec-Fetch-Site), absolute-form
// requests, and TCP requests with a Host other than exactly localhost,
// 127.0.0.1 or [::1] (with the agent's port, if any) are refused.
//
// No client can hurt another: a report that a token was rejected is
// checked with the broker (one probe a minute per app key at most) before
// the token is dropped (agent/internal/probe). The proxy forwards only
// canonical paths under the broker's API prefix (KIS /uapi/, Kiwoom
// /api/), strips credentials and trailers a caller sends, removes answer
// headers that would show the app key or secret, and bounds body read time
// and requests in flight. Logs name accounts and fingerprints only, never
// a secret or a whole token.
package agent
