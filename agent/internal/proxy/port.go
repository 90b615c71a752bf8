package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Facade ports.
//
// An account with facade_addr gets a loopback port of its own that looks
// like its broker at the root of the broker's domain, REST and WebSocket
// on the same port: http://127.0.0.1:PORT/oauth2/tokenP, /uapi/…, and
// ws://127.0.0.1:PORT/<any path>. It is for clients that build every URL
// from an absolute path and so drop the /broker/{key}/{name} prefix of
// the facade URL: python-kis joins urljoin(REAL_DOMAIN, "/oauth2/tokenP")
// (pykis/kis.py PyKis.request) and opens
// f"{WEBSOCKET_REAL_DOMAIN}/tryitout" (pykis/client/websocket.py).
//
// Such a client sends no header of kauth's own, so the port reads its
// credential where the broker reads one, and a process that knows only the
// port gets nothing. A request is served when one of these is the account's
// client key (a client key that may use the account, or the agent key),
// optionally padded on the right with '=' for clients that insist on a
// secret of the broker's length (python-kis wants 180 characters):
//
//   - the appsecret header (KIS calls carry authorization, appkey and
//     appsecret: KIS kis_auth.py _url_fetch; python-kis KisKey.build);
//   - the bearer token of the authorization header;
//   - on the token, approval and revoke endpoints, the body's appsecret,
//     secretkey, appsecretkey or client_secret field (KIS tokenP:
//     appsecret, kis_auth.py auth(); KIS Approval: secretkey,
//     kis_auth.py auth_ws(); Kiwoom au10001: secretkey, Kiwoom's SDK
//     kiwoom/core/auth.py; LS and DB, form-encoded: appsecretkey, in both
//     gateways' published OAuth pages; Toss, form-encoded: client_secret,
//     its OpenAPI document's /oauth2/token) or its token field (the
//     revokes);
//   - on the WebSocket, the first frame's approval_key (KIS, in its
//     header: kis_auth.py data_fetch, python-kis KisWebsocketRequest) or
//     token (Kiwoom's LOGIN frame, kiwoom/core/ws_client.py).
//
// Besides the client key, the credential the port handed out opens it:
// the account's current access token as a bearer token, and its current
// approval key in a WebSocket frame. The calls of Kiwoom, LS, DB and Toss
// carry only the token, so there the token is the credential.
//
// An authenticated request is then served exactly as the facade serves
// /broker/{key}/{name}/<path>: managed token, approval and revoke answers,
// and the broker's API relayed with the managed credentials in place of
// the client's. A WebSocket upgrade joins the account's real-time gateway
// once its first frame has been checked, before anything of the broker's
// reaches it.

// Ports is what a facade port needs of the agent besides its Host. Its
// methods are safe for concurrent use.
type Ports interface {
	// Lookup returns the relay of the account called name, or nil if it
	// is no longer served. The caller calls Host.Release once the request
	// no longer uses the account.
	Lookup(name string) *Relay
	// AgentKey returns the agent key.
	AgentKey() (string, error)
	// May reports whether key is the agent key or a client key that may
	// use the account called name. Keys compare in constant time.
	May(key, name string) bool
	// Upgrade returns r, a WebSocket upgrade to the port of the account
	// called name, marked so that the gateway admits its client only once
	// its first frame carries the account's credential (see Credential).
	Upgrade(r *http.Request, name string) *http.Request
}

// Port returns the handler of the facade port of the account called name.
// An authenticated request becomes /broker/{key}/{name}/{path} and goes to
// next, the agent's handler, which serves it as the facade does; so does a
// request that is not in origin form, which next's checks refuse.
func (p *Proxy) Port(name string, ports Ports, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Scheme != "" || r.URL.Host != "" || !strings.HasPrefix(r.RequestURI, "/") {
			next.ServeHTTP(w, r) // the guard refuses it
			return
		}
		rl := ports.Lookup(name)
		if rl == nil {
			p.cfg.API.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("kauth: account %q is no longer served; this port serves it alone", name))
			return
		}
		acct := rl.acct
		// The facade looks the account up again; a WebSocket must not hold
		// it, or a Reload's drain would wait for the socket to close.
		held := true
		release := func() {
			if held {
				held = false
				p.cfg.Host.Release(rl)
			}
		}
		defer release()
		agentKey, err := ports.AgentKey()
		if err != nil {
			p.writeBrokerError(w, acct, http.StatusInternalServerError, "internal", "kauth: the agent key is not readable")
			return
		}
		var key string
		if IsUpgrade(r) && r.Method == http.MethodGet {
			// The upgrade carries no credential (python-kis sends none): it
			// reaches the gateway under the facade path, which checks the
			// first frame's. Only a GET is one (RFC 6455 4.1), as
			// ServeFacade decides: any other request with an Upgrade header
			// would be served under the agent key.
			r = ports.Upgrade(r, name)
			key = agentKey
		} else {
			var ok, answered bool
			if key, ok, answered = p.portAuth(w, r, ports, acct, agentKey); !ok {
				if !answered {
					// The first refusal, then one a minute with the count of
					// those held back: a neighbour in a loop must not fill
					// the log.
					if log, held := p.refusals.Allow(name); log {
						p.cfg.Log.Warn("agent: facade port refused a request without the account's credential",
							"account", name, slog.Any("suppressed", held))
					}
					p.writeBrokerError(w, acct, http.StatusUnauthorized, "unauthenticated",
						"kauth: this port serves account "+name+" to its client key: send it as the appsecret (or secretkey) or as the bearer token, or send the token this port handed out")
				}
				return
			}
		}
		escaped := "/broker/" + key + "/" + name + r.URL.EscapedPath()
		path, err := url.PathUnescape(escaped)
		if err != nil {
			p.writeBrokerError(w, acct, http.StatusBadRequest, "bad_path", "kauth: the request path does not decode")
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, escaped
		release()
		next.ServeHTTP(w, r2)
	})
}

// portAuth finds the credential of a request to acct's port (see the
// comment at the top of this file) and returns the key under which the
// facade serves it: the client key presented, or the agent key when the
// token the port handed out was. It reads the body of a token, approval
// or revoke call, bounded as the guard bounds it, and leaves it in place;
// if reading fails it answers, and says so.
func (p *Proxy) portAuth(w http.ResponseWriter, r *http.Request, ports Ports, acct Account, agentKey string) (key string, ok, answered bool) {
	maxBody := p.cfg.Limits().MaxBody
	var cands []string
	if v := r.Header.Get("Appsecret"); v != "" {
		cands = append(cands, v)
	}
	if v, ok := bearer(r.Header.Get("Authorization")); ok {
		cands = append(cands, v)
	}
	if key, ok := Credential(ports, acct, agentKey, cands, ""); ok {
		return key, true, false
	}
	if r.Method != http.MethodPost || !isOAuthPath(acct, r.URL.Path) || r.ContentLength > maxBody {
		return "", false, false
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	if !p.ReadBody(w, r) {
		return "", false, true
	}
	if r.Body == http.NoBody {
		return "", false, false
	}
	data, _ := io.ReadAll(r.Body) // in memory
	r.Body = io.NopCloser(strings.NewReader(string(data)))
	cands = cands[:0]
	fields := []string{"appsecret", "secretkey", "appsecretkey", "client_secret", "token"}
	if isForm(r) {
		vals, _ := url.ParseQuery(string(data))
		for k, vs := range vals {
			for _, f := range fields {
				if strings.EqualFold(k, f) {
					cands = append(cands, vs...)
				}
			}
		}
	} else {
		var m map[string]any
		_ = json.Unmarshal(data, &m) // not JSON: no credential in it
		for k, v := range m {
			s, ok := v.(string)
			for _, f := range fields {
				if ok && strings.EqualFold(k, f) {
					cands = append(cands, s)
				}
			}
		}
	}
	key, ok = Credential(ports, acct, agentKey, cands, "")
	return key, ok, false
}

// isOAuthPath reports whether p is acct's broker's token, approval or
// revoke path.
func isOAuthPath(acct Account, p string) bool {
	prov := acct.Manager().Provider()
	var paths []string
	if fe, ok := prov.(facadeEndpoints); ok {
		t, r := fe.FacadePaths()
		paths = append(paths, t, r)
	}
	if ai, ok := prov.(approvalIssuer); ok {
		paths = append(paths, ai.ApprovalPath())
	}
	for _, q := range paths {
		if q != "" && q == p {
			return true
		}
	}
	return false
}

// bearer returns the token of an authorization header, "Bearer <token>"
// in either case of the scheme.
func bearer(h string) (string, bool) {
	h = strings.TrimSpace(h)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Credential returns the key under which acct's port serves a request
// carrying cands: the first that is a key that may use acct (padded on the
// right with '=' or not), or agentKey when one is the account's current
// access token or approvalKey, its current approval key if not "". Every
// comparison runs in constant time.
func Credential(ports Ports, acct Account, agentKey string, cands []string, approvalKey string) (string, bool) {
	var secrets []string // what the port handed out
	if t, _ := acct.Manager().Cached(); t.AccessToken != "" {
		secrets = append(secrets, t.AccessToken)
	}
	if approvalKey != "" {
		secrets = append(secrets, approvalKey)
	}
	for _, c := range cands {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if k := strings.TrimRight(c, "="); k != "" {
			if ports.May(k, acct.Name()) {
				return k, true
			}
		}
		for _, s := range secrets {
			if subtle.ConstantTimeCompare([]byte(c), []byte(s)) == 1 {
				return agentKey, true
			}
		}
	}
	return "", false
}
