package brokersim

import (
	"encoding/hex"
	"net/http"
	"strings"
)

// Header case is part of the wire. Go's http.Header.Set canonicalizes a
// name (tr_cont becomes Tr_cont, api-id becomes Api-Id), so the headers
// below are written into the header map directly: the server then sends
// them byte for byte.
//
// The official KIS sample keeps only response headers whose names are
// lowercase (kis_auth.py, APIResp._setHeader: `if x.islower()`) and builds
// a namedtuple from them, so a canonicalized Tr_cont is dropped and
// `res.getHeader().tr_cont` raises AttributeError, while a lowercase
// content-type would make the namedtuple fail (not an identifier): KIS
// sends Content-Type capitalised and tr_id, tr_cont, gt_uid lowercase.
// (koreainvestment/open-trading-api, examples_user/kis_auth.py.)

// setRaw sets header name exactly as written.
func setRaw(h http.Header, name, value string) { h[name] = []string{value} }

// kisHeaders sets the response headers of a KIS /uapi answer: tr_id (the
// request's), tr_cont and gt_uid (a unique id per answer).
//
// tr_cont is the paging state (KIS API portal, "tr_cont 연속 거래 여부":
// F or M, more data follows; D or E, this is the last): the simulator sends
// F on the first page of several, M on a middle one, E on the last of
// several and D on an answer that is complete in one page. pykis reads it
// the same way (Soju06/python-kis, pykis/client/page.py to_page_status: F/M
// begin, D/E end).
func kisHeaders(w http.ResponseWriter, r *http.Request, trCont string) {
	h := w.Header()
	setRaw(h, "tr_id", r.Header.Get("tr_id"))
	setRaw(h, "tr_cont", trCont)
	setRaw(h, "gt_uid", strings.ToUpper(hex.EncodeToString(randomBytes(16))))
}

// kiwoomHeaders sets the response headers Kiwoom lists on every answer, in
// lowercase as Kiwoom sends them: api-id (the request's, or apiID when the
// request sent none), cont-yn ("Y" when more data follows, else "N") and
// next-key (the key to send back for the next page). The response header
// table of every API in Kiwoom's spec lists exactly these three
// (Kiwoom-Securities/Kiwoom-REST-API, kiwoom/_data/kiwoom_api_spec.json);
// the official SDK reads them as "cont-yn" and "next-key"
// (kiwoom/core/client.py, _build_response).
func kiwoomHeaders(w http.ResponseWriter, r *http.Request, apiID, contYN, nextKey string) {
	h := w.Header()
	if v := r.Header.Get("api-id"); v != "" {
		apiID = v
	}
	setRaw(h, "api-id", apiID)
	if contYN == "" {
		contYN = "N"
	}
	setRaw(h, "cont-yn", contYN)
	setRaw(h, "next-key", nextKey)
}
