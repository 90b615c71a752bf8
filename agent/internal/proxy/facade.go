package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/brokerpath"
)

// The broker facade.
//
// http://127.0.0.1:PORT/broker/{key}/{account} is a base URL that looks
// like the account's broker to a client that appends the broker's paths to
// a domain, as the official clients do (KIS kis_auth.py:
// f"{my_url}/oauth2/tokenP", f"{my_url}{api_url}"; Kiwoom's SDK
// kiwoom/core/auth.py and client.py: f"{get_base_url(mode)}{path}"). {key}
// is the agent key, since such a client sends no header of kauth's own; it
// is compared in constant time and never logged (the logs name the broker
// path after the account). Under it:
//
//   - the token endpoint (KIS POST /oauth2/tokenP, Kiwoom POST
//     /oauth2/token) answers with the account's managed token, in the
//     broker's response format, issuing only when the Manager must;
//   - KIS POST /oauth2/Approval answers with a WebSocket approval key;
//   - the revoke endpoints (KIS /oauth2/revokeP, Kiwoom /oauth2/revoke)
//     answer the broker's success shape without revoking the token every
//     other holder shares — Kiwoom's guide has every program revoke on exit
//     — unless the account says revoke: pass;
//   - everything under the broker's API prefix (KIS /uapi/, Kiwoom /api/)
//     is proxied as /proxy/{account} is: the client's authorization, appkey
//     and appsecret are replaced by the managed ones, so a client may hold
//     placeholders;
//   - a WebSocket upgrade, whatever the path (KIS /tryitout, Kiwoom
//     /api/dostk/websocket), is the account's WebSocket gateway, as
//     /ws/{account} is.
//
// A client that sends the real app key of ANOTHER account this agent
// serves (in a token, approval or revoke body, JSON or, for LS and DB,
// form-encoded, or in the appkey header) — or, for Kiwoom, whose calls
// carry no app key, the current token of another account — is refused with 403 in the broker's error shape: it is
// pointed at the wrong account, and answering would trade on an account
// the bot does not mean. The answer names neither key nor token. A request
// that carries a credential twice (a header, or a field of the body, in any
// letter case) is refused with 400 ambiguous_credentials before that check,
// since only one of the copies could be checked.

// Host is what the proxy and the facade need of the agent that serves the
// accounts. Its methods are safe for concurrent use.
type Host interface {
	// Authorize returns r as the holder of key (the agent key or a client
	// key) makes it, for Open and the turns of its calls, or nil when key
	// is neither. Keys compare in constant time.
	Authorize(r *http.Request, key string) *http.Request
	// Open returns the relay of the account called name if r's principal
	// may use it, or answers r (403 or 404) and returns nil. The caller
	// calls Release once the request no longer uses the account.
	Open(w http.ResponseWriter, r *http.Request, name string) *Relay
	// Release ends a request's use of an account that Open or
	// Ports.Lookup returned, so that a reload can close it.
	Release(rl *Relay)
	// Index returns the index of the accounts served now (see Index).
	Index() *Index
}

// Realtime is the agent's WebSocket gateway, as the facade reaches it.
type Realtime interface {
	// Serve serves one local WebSocket client of acct, whose access the
	// caller has checked and whose request no longer holds the account.
	Serve(w http.ResponseWriter, r *http.Request, acct Account)
	// ApprovalManager returns the Manager of the approval key of acct's
	// app key, or an error if its broker has none.
	ApprovalManager(acct Account) (*kauth.Manager, error)
}

// facadeKey marks a request that came through the facade; its value is the
// broker, whose error shape failures take.
type facadeKey struct{}

// FacadeKey returns the key in a facade path, /broker/{key}/{rest}, or
// false if p is not one.
func FacadeKey(p string) (string, bool) {
	key, _, ok := splitFacadePath(p)
	return key, ok
}

// splitFacadePath splits /broker/{key}/{rest}.
func splitFacadePath(p string) (key, rest string, ok bool) {
	rest, ok = strings.CutPrefix(p, "/broker/")
	if !ok {
		return "", "", false
	}
	key, rest, _ = strings.Cut(rest, "/")
	return key, rest, key != ""
}

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// ServeFacade serves /broker/{key}/{account}/{broker path}.
func (p *Proxy) ServeFacade(w http.ResponseWriter, r *http.Request) {
	// The escaped path, read here rather than by the mux, which would
	// decode it and redirect a non-clean one (with the key in Location).
	key, rest, ok := splitFacadePath(r.URL.EscapedPath())
	var ar *http.Request
	if ok {
		ar = p.cfg.Host.Authorize(r, key)
	}
	if ar == nil {
		// Through the unix socket the guard asks for no key; the facade
		// always does, since its URL is what a bot is configured with, and
		// the key in it decides which accounts it opens.
		p.cfg.API.Error(w, http.StatusUnauthorized, "unauthenticated", "missing or wrong key in the facade URL: use /broker/<agent or client key>/<account>")
		return
	}
	r = ar
	name, path, _ := strings.Cut(rest, "/")
	rl := p.cfg.Host.Open(w, r, name)
	if rl == nil {
		return
	}
	acct := rl.acct
	if IsUpgrade(r) && r.Method == http.MethodGet && p.cfg.Realtime != nil {
		// The broker's WebSocket URL under the facade's base, whatever its
		// path: the clients append their own to the base they are given
		// (KIS kis_auth.py: f"{my_url_ws}{api_url}" with "/tryitout";
		// python-kis: f"{WEBSOCKET_REAL_DOMAIN}/tryitout"; Kiwoom's SDK
		// kiwoom/core/ws_client.py: f"{get_ws_base_url(mode)}{path}" with
		// "/api/dostk/websocket"). They send no header of their own, so
		// the key in the path is the only access check, as for the rest of
		// the facade. A WebSocket must not hold up a Reload's drain.
		p.cfg.Host.Release(rl)
		p.cfg.Realtime.Serve(w, r, acct)
		return
	}
	defer p.cfg.Host.Release(rl)
	if name := repeatedHeader(r.Header); name != "" {
		p.refuseAmbiguous(w, acct, "the "+name+" header")
		return
	}
	path = "/" + path
	r = r.WithContext(context.WithValue(r.Context(), facadeKey{}, acct.Credentials().Broker))
	prov := acct.Manager().Provider()
	var tokenPath, revokePath, approvalPath string
	if fe, ok := prov.(facadeEndpoints); ok {
		tokenPath, revokePath = fe.FacadePaths()
	}
	approval, _ := prov.(approvalIssuer)
	if approval != nil {
		approvalPath = approval.ApprovalPath()
	}
	prefixes := apiPrefixes(prov)
	switch {
	case tokenPath != "" && path == tokenPath:
		p.facadeToken(w, r, rl)
	case approvalPath != "" && path == approvalPath:
		p.facadeApproval(w, r, rl, approval)
	case revokePath != "" && path == revokePath:
		p.facadeRevoke(w, r, rl)
	case hasAnyPrefix(path, prefixes):
		// The same canonical path check as /proxy: nothing a gateway
		// could normalize into another endpoint.
		canon, err := brokerpath.Canonical(prefixes, path)
		if err != nil {
			p.writeBrokerError(w, acct, http.StatusBadRequest, "bad_path", "kauth: broker path refused, "+err.Error())
			return
		}
		if p.foreignKey(acct, r.Header.Get("Appkey")) || p.foreignToken(acct, r.Header.Get("Authorization")) {
			p.refuseForeign(w, acct)
			return
		}
		p.relay(w, r, rl, canon)
	default:
		p.writeBrokerError(w, acct, http.StatusNotFound, "not_found",
			fmt.Sprintf("kauth: %s is not served here; the facade serves the token, revoke and approval endpoints and %s…", shortPath(path), strings.Join(prefixes, "…, ")))
	}
}

// shortPath bounds a path shown in an error, since it is the caller's input.
func shortPath(p string) string {
	if len(p) > 100 {
		p = p[:100] + "…"
	}
	return strings.ToValidUTF8(p, "?")
}

// oauthBody is the JSON body of the brokers' token, approval and revoke
// calls: KIS sends appkey and appsecret (secretkey on /oauth2/Approval),
// Kiwoom appkey and secretkey; revokes add token. LS and DB send theirs
// form-encoded instead (see isForm).
type oauthBody struct {
	AppKey string `json:"appkey"`
}

// readOAuth checks the method and reads the body's app key. It answers and
// returns false on a bad request.
func (p *Proxy) readOAuth(w http.ResponseWriter, r *http.Request, acct Account) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		p.writeBrokerError(w, acct, http.StatusMethodNotAllowed, "method_not_allowed", "kauth: use POST")
		return false
	}
	// Bounded in size and time as a proxied body is (ReadBody answers
	// its own failures).
	if !p.ReadBody(w, r) {
		return false
	}
	var b oauthBody
	if r.Body != nil && r.Body != http.NoBody {
		data, _ := io.ReadAll(r.Body) // in memory now
		repeated := repeatedField
		if isForm(r) {
			repeated = repeatedFormField
		}
		if name := repeated(data); name != "" {
			p.refuseAmbiguous(w, acct, "the body's "+name+" field")
			return false
		}
		if isForm(r) {
			b.AppKey = formAppKey(data)
		} else {
			// A body that is not JSON is the client's business: the
			// managed credentials are used whatever it holds.
			_ = json.Unmarshal(data, &b)
		}
	}
	if p.foreignKey(acct, b.AppKey) {
		p.refuseForeign(w, acct)
		return false
	}
	return true
}

// foreignKey reports whether appkey is the app key of an account served
// here other than acct (and not acct's own). Every comparison runs in
// constant time; the lookup does not visit the other accounts.
func (p *Proxy) foreignKey(acct Account, appkey string) bool {
	appkey = strings.TrimSpace(appkey)
	if appkey == "" {
		return false
	}
	return p.cfg.Host.Index().ForeignKey(acct, appkey)
}

// foreignToken reports whether authorization ("Bearer <token>") carries
// the current token of another app key served here.
func (p *Proxy) foreignToken(acct Account, authorization string) bool {
	tok, ok := strings.CutPrefix(strings.TrimSpace(authorization), "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(strings.TrimSpace(authorization), "bearer ")
	}
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return false
	}
	return p.cfg.Host.Index().ForeignToken(acct, tok)
}

func (p *Proxy) refuseForeign(w http.ResponseWriter, acct Account) {
	p.cfg.Log.Warn("agent: facade refused a request carrying another account's credentials", "account", acct.Name())
	p.writeBrokerError(w, acct, http.StatusForbidden, "foreign_credentials",
		"kauth: this URL serves account "+acct.Name()+", but the request carries the app key or token of another account served by this agent; use that account's URL")
}

// credentialNames are the names under which the brokers' calls carry an
// app's credentials, as headers (KIS calls: authorization, appkey,
// appsecret; Kiwoom calls: authorization) or as the fields of the token,
// approval and revoke bodies (KIS: appkey, appsecret, and secretkey on
// /oauth2/Approval; Kiwoom: appkey, secretkey; both revokes: token).
var credentialNames = []string{"authorization", "appkey", "appsecret", "secretkey", "appsecretkey", "token"}

// isCredentialName reports whether name is one of credentialNames in any
// letter case (Unicode simple folding, as Go's JSON decoder matches field
// names: "APPKEY" and "appKey" are the field appkey).
func isCredentialName(name string) (string, bool) {
	for _, c := range credentialNames {
		if strings.EqualFold(name, c) {
			return c, true
		}
	}
	return "", false
}

// repeatedHeader returns the credential header that h carries more than
// once, in any spelling, or "". Two copies cannot both be checked against
// the other accounts' credentials, and which one an upstream reads is its
// own choice.
func repeatedHeader(h http.Header) string {
	counts := map[string]int{}
	for k, vs := range h {
		if c, ok := isCredentialName(k); ok {
			if counts[c] += len(vs); counts[c] > 1 {
				return c
			}
		}
	}
	return ""
}

// repeatedField returns the credential field that the top-level JSON
// object in data holds more than once, in any letter case, or "". Go's
// decoder keeps the last copy and others may keep the first, so such a
// body has no one meaning. Only the top level is read: the brokers read
// the credentials there and nowhere else. A body that is not a JSON object
// has no repeated field (it is the client's business, as in readOAuth).
func repeatedField(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := tok.(string)
		if c, ok := isCredentialName(key); ok {
			if seen[c] {
				return c
			}
			seen[c] = true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// isForm reports whether r's body is form-encoded, as LS's and DB's token
// and revoke calls are (POST /oauth2/token and /oauth2/revoke,
// application/x-www-form-urlencoded with appkey and appsecretkey, in both
// gateways' published OAuth pages).
func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// repeatedFormField is repeatedField for a form-encoded body: the
// credential field named more than once, in any letter case, or "".
func repeatedFormField(data []byte) string {
	vals, _ := url.ParseQuery(string(data)) // what parses is what a server reads
	counts := map[string]int{}
	for k, vs := range vals {
		if c, ok := isCredentialName(k); ok {
			if counts[c] += len(vs); counts[c] > 1 {
				return c
			}
		}
	}
	return ""
}

// formAppKey returns the appkey field of a form-encoded body (named once,
// in any letter case, as repeatedFormField has made sure), or "".
func formAppKey(data []byte) string {
	vals, _ := url.ParseQuery(string(data))
	for k, vs := range vals {
		if strings.EqualFold(k, "appkey") && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// refuseAmbiguous answers a request that carries what (a header or a body
// field, named, never its value) more than once.
func (p *Proxy) refuseAmbiguous(w http.ResponseWriter, acct Account, what string) {
	p.cfg.Log.Warn("agent: facade refused a request carrying a credential twice", "account", acct.Name(), "credential", what)
	p.writeBrokerError(w, acct, http.StatusBadRequest, "ambiguous_credentials",
		"kauth: the request carries "+what+" more than once; send each credential once")
}

// facadeToken answers the token endpoint with the managed token.
func (p *Proxy) facadeToken(w http.ResponseWriter, r *http.Request, rl *Relay) {
	acct := rl.acct
	if !p.readOAuth(w, r, acct) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kauth.DefaultIssueTimeout)
	defer cancel()
	tok, err := acct.Manager().Token(ctx)
	if err != nil {
		p.writeFacadeKauthError(w, r, acct, err)
		return
	}
	fa, ok := acct.Manager().Provider().(facadeAnswers)
	if !ok {
		p.writeBrokerError(w, acct, http.StatusNotFound, "not_found", "kauth: the facade has no token answer for "+string(acct.Credentials().Broker))
		return
	}
	h, body := fa.FacadeToken(tok, p.cfg.Now())
	p.writeFacadeAnswer(w, h, body)
}

// writeFacadeAnswer writes a success in the broker's shape: its headers as
// they are (the broker's letter case) and its JSON body.
func (p *Proxy) writeFacadeAnswer(w http.ResponseWriter, h http.Header, body any) {
	for k, vs := range h {
		w.Header()[k] = vs
	}
	p.cfg.API.JSON(w, http.StatusOK, body)
}

// facadeApproval answers KIS's /oauth2/Approval with the account's
// managed approval key: the one the real-time gateway uses and
// GET /v1/accounts/{name}/approval hands out, cached and shared through the
// store like tokens.
func (p *Proxy) facadeApproval(w http.ResponseWriter, r *http.Request, rl *Relay, ai approvalIssuer) {
	acct := rl.acct
	if !p.readOAuth(w, r, acct) {
		return
	}
	m, err := p.approvalManager(acct)
	if err != nil {
		p.writeBrokerError(w, acct, http.StatusNotFound, "not_found", "kauth: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kauth.DefaultIssueTimeout)
	defer cancel()
	tok, err := m.Token(ctx)
	if err != nil {
		p.writeFacadeKauthError(w, r, acct, err)
		return
	}
	p.cfg.API.JSON(w, http.StatusOK, ai.FacadeApproval(tok))
}

// facadeRevoke answers a revoke with the broker's success shape, revoking
// the shared token only when the account's config says revoke: pass.
func (p *Proxy) facadeRevoke(w http.ResponseWriter, r *http.Request, rl *Relay) {
	acct := rl.acct
	if !p.readOAuth(w, r, acct) {
		return
	}
	if acct.RevokePass() {
		ctx, cancel := context.WithTimeout(r.Context(), kauth.DefaultIssueTimeout)
		defer cancel()
		if err := acct.Manager().Revoke(ctx); err != nil {
			p.writeFacadeKauthError(w, r, acct, err)
			return
		}
		p.cfg.Log.Info("agent: facade revoked the token (revoke: pass)", "account", acct.Name())
	} else {
		p.cfg.Log.Debug("agent: facade answered a revoke without revoking the shared token", "account", acct.Name())
	}
	fa, ok := acct.Manager().Provider().(facadeAnswers)
	if !ok {
		p.writeBrokerError(w, acct, http.StatusNotFound, "not_found", "kauth: the facade has no revoke answer for "+string(acct.Credentials().Broker))
		return
	}
	h, body := fa.FacadeRevoke()
	p.writeFacadeAnswer(w, h, body)
}

// writeFacadeKauthError answers a failure to get a token, an approval key
// or a revoke in the broker's error shape, with writeKauthError's status.
func (p *Proxy) writeFacadeKauthError(w http.ResponseWriter, r *http.Request, acct Account, err error) {
	rec := &statusRecorder{header: http.Header{}}
	p.cfg.API.KauthError(rec, r, err) // for the status, Retry-After and code
	if ra := rec.header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	code := p.cfg.Kind(err)
	var ke *kauth.Error
	if errors.As(err, &ke) && ke.Code != "" {
		code = ke.Code
	}
	p.writeBrokerError(w, acct, rec.status, code, err.Error())
}

// statusRecorder catches the status and headers of an answer it discards.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

// writeBrokerError answers in the broker's error shape (the Provider's
// FacadeError), so that the client's own error path runs; a broker with
// none gets the agent API's own error answer. code is kauth's
// (e.g. "foreign_credentials") or the broker's own; msg is one line
// without secrets.
func (p *Proxy) writeBrokerError(w http.ResponseWriter, acct Account, status int, code, msg string) {
	if fa, ok := acct.Manager().Provider().(facadeAnswers); ok {
		p.cfg.API.JSON(w, status, fa.FacadeError(code, msg))
		return
	}
	p.cfg.API.Error(w, status, code, msg)
}

// hasAnyPrefix reports whether p starts with one of prefixes.
func hasAnyPrefix(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// approvalManager returns the approval-key Manager of acct's app key.
func (p *Proxy) approvalManager(acct Account) (*kauth.Manager, error) {
	if p.cfg.Realtime == nil {
		return nil, fmt.Errorf("agent: account %s: no real-time gateway serves approval keys", acct.Name())
	}
	return p.cfg.Realtime.ApprovalManager(acct)
}
