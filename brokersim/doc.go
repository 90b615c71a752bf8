// Package brokersim is a faithful offline simulator of the auth endpoints of
// 한국투자증권 (KIS) and 키움증권 (Kiwoom), real and mock, for tests and demos.
//
// A Server is an http.Handler. It serves KIS at /kis/real and /kis/mock and
// Kiwoom at /kiwoom/real and /kiwoom/mock, so a client aimed at
// ts.URL+"/kis/mock" posts to ts.URL+"/kis/mock/oauth2/tokenP":
//
//	sim := brokersim.New() // the demo apps are registered
//	ts := httptest.NewServer(sim)
//	defer ts.Close()
//	base := brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock)
//	app := brokersim.DemoKISMock
//	// … issue with app.AppKey and app.Secret against base …
//	sim.Advance(25 * time.Hour) // the token has now expired
//	fmt.Println(sim.Issued(kauth.KIS, kauth.Mock, app.AppKey))
//
// Handler(b, e) serves one env at the root instead, for clients that join
// absolute paths onto a domain (pykis: urljoin(domain, "/oauth2/tokenP")).
//
// It reproduces the brokers' quirks:
//
//   - KIS tokenP: 24 h tokens; within 6 h of minting, the same token and
//     expiry come back (expires_in then counts the seconds left); one answer
//     per minute per app key, else HTTP 403 EGW00133; flat 403 errors
//     EGW00102…EGW00105, EGW00115/EGW00116; expiry printed in KST as
//     "2006-01-02 15:04:05". revokeP answers code 200 as a number. Approval
//     takes "secretkey". hashkey echoes BODY and a HASH.
//   - KIS protected call (inquire-price): EGW00121 invalid, EGW00122 no
//     token, EGW00123 expired, with HTTP 200 or 500 (KISAuthErrorStatus);
//     EGW00201 over 20 calls/s (real) or 2/s (mock) per app key.
//   - Header case as the brokers send it: KIS /uapi answers carry tr_id,
//     tr_cont and gt_uid in lowercase (with Content-Type capitalised);
//     Kiwoom answers carry api-id, cont-yn and next-key.
//   - Paging: KIS inquire-balance (TTTC8434R/VTTC8434R) pages a fixed
//     portfolio of PortfolioSize holdings with tr_cont F/M/E/D and
//     CTX_AREA_FK100/NK100; Kiwoom kt00018 pages it with cont-yn/next-key.
//   - Re-issue behaviour per broker (SetReissue): the documented same
//     token, a new one with the old still valid, or a new one that
//     invalidates the old.
//   - Kiwoom au10001/au10002: the same token while it is valid; expires_dt
//     "20060102150405" in KST; errors as HTTP 200 with a non-zero
//     return_code (a number, or a string with KiwoomReturnCodeAsString) and
//     the real code in brackets: 8001, 8002, 8005, 8030, 8031, 1700, 1634….
//   - WebSockets (ws.go, kis_ws.go, kiwoom_ws.go): KIS at any path under
//     ws://…/kis/{env} (subscribe JSON, OPSP0000…OPSP8996 answers, '|'/'^'
//     data frames, PINGPONG, AES-256-CBC execution notices), Kiwoom at
//     ws://…/kiwoom/{env}/api/dostk/websocket (LOGIN, REG, REMOVE, REAL,
//     PING, 8005); one session per app key, the subscription limits, ticks
//     every WS.TickInterval (or on Tick), and DropWS, StallWS,
//     RefuseWSLogins, InvalidateApprovalKey for faults.
//   - Toss (toss.go, toss_ws.go), at /toss/real only: form-encoded
//     /oauth2/token whose every issuance kills the client's earlier token;
//     per-client, per-group rate limits told in X-RateLimit-* with
//     Retry-After on 429; the IP allow-list (SetTossAllowList); /ws/v1 with
//     the bearer token in the handshake, two connections per account (a
//     third displaces the oldest), 100 topics and 5 declarations a second,
//     each declaration replacing the set, PING/pong and an idle close.
//
// The virtual clock (Now, Advance) starts at the real time and runs with it;
// Clock = StartAt(t) starts it at t instead, so that lifetimes that depend on
// the hour (LS's 07:00 KST) are the same whenever a test runs.
// Faults (Inject) script latency, hangs, 5xx, connection resets, malformed
// JSON, HTML error pages and the brokers' own rate-limit and token-rejected
// answers. Stats counts issues, re-issues, revokes, calls and rejections in
// total and per broker, env and app key fingerprint.
//
// The same controls are served over HTTP under /_sim/ (see Describe), for
// `kauth sim`: GET /_sim/stats, POST /_sim/clock?advance=25h, POST
// /_sim/fault, POST /_sim/invalidate, POST /_sim/register, GET /_sim/apps,
// GET and POST /_sim/reissue, GET /_sim/ws, POST /_sim/ws/drop.
//
// Every time the simulator prints is KST from a fixed zone, never the
// machine's local zone. Tokens come from crypto/rand. Nothing it logs holds
// a secret or a token: app keys appear as kauth.Fingerprint.
package brokersim
