package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/kauth/kauth/agent/internal/config"
	"github.com/kauth/kauth/agent/internal/listen"
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

// facadeAddrsChanged reports whether next gives any account another
// facade_addr than cur does (ports open only when the agent starts).
func facadeAddrsChanged(cur, next Config) bool {
	addrs := func(c Config) map[string]string {
		m := map[string]string{}
		for _, acc := range c.Accounts {
			if a := strings.TrimSpace(acc.FacadeAddr); a != "" {
				m[acc.Name] = config.CanonicalAddr(a)
			}
		}
		return m
	}
	return !maps.Equal(addrs(cur), addrs(next))
}

// hasFacadeAddr reports whether an account of cfg has a facade port: a
// listener, even with neither the socket nor TCP.
func hasFacadeAddr(cfg Config) bool {
	for _, acc := range cfg.Accounts {
		if strings.TrimSpace(acc.FacadeAddr) != "" {
			return true
		}
	}
	return false
}

// portListener is an account's open facade port.
type portListener struct {
	account string
	ln      net.Listener
}

// openPorts opens the facade ports of cfg's accounts, once checkFacadeAddrs
// has found nothing wrong. On an error it closes what it opened.
func openPorts(cfg Config) ([]portListener, error) {
	if err := errors.Join(config.CheckFacadeAddrs(cfg)...); err != nil {
		return nil, &ConfigError{Err: err}
	}
	var out []portListener
	for _, acc := range cfg.Accounts {
		addr := strings.TrimSpace(acc.FacadeAddr)
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			// A name such as localhost could resolve elsewhere.
			if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
				ln.Close()
				err = &ConfigError{Err: fmt.Errorf("agent: account %s: facade_addr %s is not a loopback address", acc.Name, addr)}
			}
		} else if listen.AddrInUse(err) {
			err = &ConfigError{Err: fmt.Errorf("agent: account %s: facade_addr %s is in use; choose another port", acc.Name, addr)}
		} else {
			err = fmt.Errorf("agent: account %s: facade_addr: %w", acc.Name, err)
		}
		if err != nil {
			for _, p := range out {
				p.ln.Close()
			}
			return nil, err
		}
		out = append(out, portListener{account: acc.Name, ln: ln})
	}
	return out, nil
}

// portHandler serves the facade port of the account called name.
func (a *Agent) portHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Scheme != "" || r.URL.Host != "" || !strings.HasPrefix(r.RequestURI, "/") {
			a.handler.ServeHTTP(w, r) // the guard refuses it
			return
		}
		acct := a.lookup(name)
		if acct == nil {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("kauth: account %q is no longer served; this port serves it alone", name))
			return
		}
		// The facade looks the account up again; a WebSocket must not hold
		// it, or a Reload's drain would wait for the socket to close.
		held := true
		release := func() {
			if held {
				held = false
				acct.done()
			}
		}
		defer release()
		agentKey, err := a.loadKey()
		if err != nil {
			writeBrokerError(w, acct, http.StatusInternalServerError, "internal", "kauth: the agent key is not readable")
			return
		}
		var key string
		if isUpgrade(r) && r.Method == http.MethodGet {
			// The upgrade carries no credential (python-kis sends none): it
			// reaches the gateway under the facade path, which checks the
			// first frame's (serveGateway, gateway.Admission). Only a GET is one
			// (RFC 6455 4.1), as serveFacade decides: any other request
			// with an Upgrade header would be served under the agent key.
			r = r.WithContext(context.WithValue(r.Context(), wsGateKey{}, a.wsGate(name)))
			key = agentKey
		} else {
			var ok, answered bool
			if key, ok, answered = a.portAuth(w, r, acct, agentKey); !ok {
				if !answered {
					a.log.Warn("agent: facade port refused a request without the account's credential", "account", name)
					writeBrokerError(w, acct, http.StatusUnauthorized, "unauthenticated",
						"kauth: this port serves account "+name+" to its client key: send it as the appsecret (or secretkey) or as the bearer token, or send the token this port handed out")
				}
				return
			}
		}
		escaped := "/broker/" + key + "/" + name + r.URL.EscapedPath()
		path, err := url.PathUnescape(escaped)
		if err != nil {
			writeBrokerError(w, acct, http.StatusBadRequest, "bad_path", "kauth: the request path does not decode")
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, escaped
		release()
		a.handler.ServeHTTP(w, r2)
	})
}

// portAuth finds the credential of a request to acct's port (see the
// comment at the top of this file) and returns the key under which the
// facade serves it: the client key presented, or the agent key when the
// token the port handed out was. It reads the body of a token, approval
// or revoke call, bounded as the guard bounds it, and leaves it in place;
// if reading fails it answers, and says so.
func (a *Agent) portAuth(w http.ResponseWriter, r *http.Request, acct *account, agentKey string) (key string, ok, answered bool) {
	var cands []string
	if v := r.Header.Get("Appsecret"); v != "" {
		cands = append(cands, v)
	}
	if v, ok := bearer(r.Header.Get("Authorization")); ok {
		cands = append(cands, v)
	}
	if key, ok := a.portCredential(acct, agentKey, cands, false); ok {
		return key, true, false
	}
	if r.Method != http.MethodPost || !a.isOAuthPath(acct, r.URL.Path) || r.ContentLength > a.maxBody() {
		return "", false, false
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, a.maxBody())
	}
	if !a.readBody(w, r) {
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
	key, ok = a.portCredential(acct, agentKey, cands, false)
	return key, ok, false
}

// isOAuthPath reports whether p is acct's broker's token, approval or
// revoke path.
func (a *Agent) isOAuthPath(acct *account, p string) bool {
	prov := acct.mgr.Provider()
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

// portCredential returns the key under which acct's port serves a request
// carrying cands: the first that is a key that may use acct (padded on the
// right with '=' or not), or agentKey when one is the account's current
// access token or, with approval, its current approval key. Every
// comparison runs in constant time.
func (a *Agent) portCredential(acct *account, agentKey string, cands []string, approval bool) (string, bool) {
	var secrets []string // what the port handed out
	if t, _ := acct.mgr.Cached(); t.AccessToken != "" {
		secrets = append(secrets, t.AccessToken)
	}
	if approval {
		if k := a.ws.cachedApproval(acct); k != "" {
			secrets = append(secrets, k)
		}
	}
	for _, c := range cands {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if k := strings.TrimRight(c, "="); k != "" {
			if p := a.principalFor(k); p != nil && p.may(acct.name) {
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

// wsGateKey marks a WebSocket upgrade that came through a facade port; its
// value checks the client's first frame (wsGate).
type wsGateKey struct{}

// wsGate returns the check of the first frame of a WebSocket client of the
// port of the account called name: its approval_key (KIS, in the frame's
// header) or token (Kiwoom's LOGIN) must be a credential of the account.
func (a *Agent) wsGate(name string) func([]byte) bool {
	return func(data []byte) bool {
		acct := a.lookup(name)
		if acct == nil {
			return false
		}
		defer acct.done()
		var f struct {
			Header struct {
				ApprovalKey string `json:"approval_key"`
			} `json:"header"`
			Token string `json:"token"`
		}
		if json.Unmarshal(data, &f) != nil {
			return false
		}
		_, ok := a.portCredential(acct, "", []string{f.Header.ApprovalKey, f.Token}, true)
		return ok
	}
}
