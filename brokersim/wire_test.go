package brokersim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// rawResponse sends one HTTP/1.1 request over a plain connection and
// returns the status line and the header lines exactly as the server wrote
// them: net/http's client would canonicalize the names.
func rawResponse(t *testing.T, ts *httptest.Server, method, path string, header map[string]string, body string) (status string, names []string, values map[string]string) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, ts.Listener.Addr())
	for k, v := range header {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&req, "Content-Type: application/json;charset=UTF-8\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)
	if _, err := conn.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	status, err = rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	values = map[string]string{}
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return strings.TrimSpace(status), names, values
		}
		name, value, _ := strings.Cut(line, ":")
		names = append(names, name)
		values[name] = strings.TrimSpace(value)
	}
}

// pyIslower is Python's str.islower: at least one cased character and no
// uppercase one.
func pyIslower(s string) bool {
	return strings.ToLower(s) == s && strings.ToUpper(s) != s
}

var pyIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkKISAuthHeaders applies what the official KIS sample does to a
// response's headers (kis_auth.py, APIResp._setHeader): it keeps the names
// for which x.islower() holds and makes a namedtuple of them, which fails
// unless every kept name is an identifier not starting with "_". It
// returns the kept names.
func checkKISAuthHeaders(t *testing.T, names []string) map[string]bool {
	t.Helper()
	kept := map[string]bool{}
	for _, n := range names {
		if !pyIslower(n) {
			continue
		}
		if !pyIdentifier.MatchString(n) || strings.HasPrefix(n, "_") {
			t.Errorf("header %q: kis_auth.py keeps it (lowercase) and namedtuple() rejects it (not an identifier)", n)
		}
		kept[n] = true
	}
	return kept
}

func TestKISUapiHeadersKeepTheirCase(t *testing.T) {
	sim, ts := newSim(t)
	app := DemoKISMock
	tok := kisToken(t, ts, app)
	h := map[string]string{"appkey": app.AppKey, "appsecret": app.Secret, "authorization": "Bearer " + tok, "custtype": "P"}
	calls := []struct {
		name, path, trID, wantCont string
		badToken                   bool
	}{
		{"inquire-price", "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", kisTrIDInquirePrice, "D", false},
		{"inquire-balance", "/uapi/domestic-stock/v1/trading/inquire-balance?" + balanceQuery("", ""), kisTrIDBalanceMock, "F", false},
		{"inquire-price, token rejected", "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930", kisTrIDInquirePrice, "D", true},
		{"hashkey", "/uapi/hashkey", "", "D", false},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			hh := mergeHeaders(h, map[string]string{"tr_id": c.trID})
			if c.badToken {
				hh["authorization"] = "Bearer not-a-token"
			}
			sim.Advance(time.Second) // stay under the mock call limit
			method, body := "GET", ""
			if c.path == "/uapi/hashkey" {
				method, body = "POST", `{"CANO":"50123456","ORD_QTY":"1"}`
			}
			status, names, values := rawResponse(t, ts, method, base(ts, kauth.KIS, kauth.Mock)[len(ts.URL):]+c.path, hh, body)
			kept := checkKISAuthHeaders(t, names)
			for _, want := range []string{"tr_id", "tr_cont", "gt_uid"} {
				if !kept[want] {
					t.Errorf("%s: response header names %q; want %q in lowercase", status, names, want)
				}
			}
			if ok := strings.HasPrefix(status, "HTTP/1.1 200"); ok == c.badToken {
				t.Errorf("status = %q", status) // a rejected token is a 500 (KISAuthErrorStatus)
			}
			if values["tr_id"] != c.trID || values["tr_cont"] != c.wantCont || len(values["gt_uid"]) != 32 {
				t.Errorf("tr_id=%q tr_cont=%q gt_uid=%q; want %q, %q, 32 characters", values["tr_id"], values["tr_cont"], values["gt_uid"], c.trID, c.wantCont)
			}
			if _, ok := values["Content-Type"]; !ok {
				t.Errorf("response header names %q; want Content-Type capitalised", names)
			}
		})
	}
}

func TestKiwoomHeadersKeepTheirCase(t *testing.T) {
	_, ts := newSim(t)
	app := DemoKiwoomMock
	tok := kiwoomToken(t, ts, app)
	prefix := base(ts, kauth.Kiwoom, kauth.Mock)[len(ts.URL):]
	calls := []struct {
		name, path, body, wantID string
		header                   map[string]string
	}{
		{"au10001 without api-id", "/oauth2/token", `{"grant_type":"client_credentials","appkey":"` + app.AppKey + `","secretkey":"` + app.Secret + `"}`, "au10001", nil},
		{"au10001", "/oauth2/token", `{"grant_type":"client_credentials","appkey":"` + app.AppKey + `","secretkey":"` + app.Secret + `"}`, "au10001", map[string]string{"api-id": "au10001"}},
		{"ka10001", "/api/dostk/stkinfo", `{"stk_cd":"005930"}`, "ka10001", map[string]string{"api-id": "ka10001", "authorization": "Bearer " + tok}},
		{"ka10001 rejected", "/api/dostk/stkinfo", `{"stk_cd":"005930"}`, "ka10001", map[string]string{"api-id": "ka10001", "authorization": "Bearer nope"}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			_, names, values := rawResponse(t, ts, "POST", prefix+c.path, c.header, c.body)
			for _, want := range []string{"api-id", "cont-yn", "next-key"} {
				if _, ok := values[want]; !ok {
					t.Errorf("response header names %q; want %q in lowercase", names, want)
				}
			}
			if values["api-id"] != c.wantID || values["cont-yn"] != "N" {
				t.Errorf("api-id=%q cont-yn=%q; want %q, N", values["api-id"], values["cont-yn"], c.wantID)
			}
		})
	}
}

// balanceQuery is the query of the balance inquiry as the official sample
// builds it (inquire_balance.py), with the continuation keys.
func balanceQuery(fk, nk string) string {
	v := url.Values{}
	for k, val := range map[string]string{
		"CANO": "50123456", "ACNT_PRDT_CD": "01", "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "01",
		"UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
		"CTX_AREA_FK100": fk, "CTX_AREA_NK100": nk,
	} {
		v.Set(k, val)
	}
	return v.Encode()
}

type balancePage struct {
	RtCd    string              `json:"rt_cd"`
	MsgCd   string              `json:"msg_cd"`
	FK      string              `json:"ctx_area_fk100"`
	NK      string              `json:"ctx_area_nk100"`
	Output1 []map[string]string `json:"output1"`
	Output2 []map[string]string `json:"output2"`
}

func balanceCall(t *testing.T, ts *httptest.Server, sim *Server, e kauth.Env, app App, tok, trCont, query string) (balancePage, http.Header) {
	t.Helper()
	sim.Advance(time.Second) // stay under the mock call limit
	trID := kisTrIDBalanceReal
	if e == kauth.Mock {
		trID = kisTrIDBalanceMock
	}
	h := map[string]string{"appkey": app.AppKey, "appsecret": app.Secret, "authorization": "Bearer " + tok, "tr_id": trID, "custtype": "P", "tr_cont": trCont}
	ans := do(t, "GET", base(ts, kauth.KIS, e)+"/uapi/domestic-stock/v1/trading/inquire-balance?"+query, h, nil)
	var p balancePage
	if err := json.Unmarshal(ans.raw, &p); err != nil || ans.status != 200 {
		t.Fatalf("inquire-balance = %d %s", ans.status, ans.raw)
	}
	return p, ans.header
}

// TestKISBalancePages pages through the fake portfolio as the official
// sample does: the first call without tr_cont, then tr_cont: N with the
// keys of the previous answer while its tr_cont header says F or M.
func TestKISBalancePages(t *testing.T) {
	for _, tt := range []struct {
		app   App
		conts []string
	}{
		{DemoKISReal, []string{"F", "E"}},
		{DemoKISMock, []string{"F", "M", "E"}},
	} {
		t.Run(string(tt.app.Env), func(t *testing.T) {
			sim, ts := newSim(t)
			tok := kisToken(t, ts, tt.app)
			var got []string
			var conts []string
			fk, nk, trCont := "", "", ""
			for page := 0; page < 10; page++ {
				p, h := balanceCall(t, ts, sim, tt.app.Env, tt.app, tok, trCont, balanceQuery(fk, nk))
				if p.RtCd != "0" || len(p.Output2) != 1 || p.Output2[0]["dnca_tot_amt"] == "" {
					t.Fatalf("page %d: rt_cd=%q output2=%v", page, p.RtCd, p.Output2)
				}
				for _, row := range p.Output1 {
					got = append(got, row["pdno"])
				}
				cont := h.Get("tr_cont")
				conts = append(conts, cont)
				if cont != "F" && cont != "M" {
					break
				}
				fk, nk, trCont = p.FK, p.NK, "N"
			}
			if strings.Join(conts, "") != strings.Join(tt.conts, "") {
				t.Errorf("tr_cont of the pages = %q; want %q", conts, tt.conts)
			}
			if len(got) != PortfolioSize {
				t.Fatalf("holdings = %d; want %d", len(got), PortfolioSize)
			}
			seen := map[string]bool{}
			for _, c := range got {
				if seen[c] {
					t.Fatalf("holding %s came twice", c)
				}
				seen[c] = true
			}
		})
	}
}

func TestKISBalanceContinuation(t *testing.T) {
	sim, ts := newSim(t)
	app := DemoKISMock
	tok := kisToken(t, ts, app)
	first, _ := balanceCall(t, ts, sim, kauth.Mock, app, tok, "", balanceQuery("", ""))
	if first.NK == "" || first.FK == "" {
		t.Fatalf("first page keys fk=%q nk=%q; want both set", first.FK, first.NK)
	}
	t.Run("keys without tr_cont N start over", func(t *testing.T) {
		p, h := balanceCall(t, ts, sim, kauth.Mock, app, tok, "", balanceQuery(first.FK, first.NK))
		if h.Get("tr_cont") != "F" || p.Output1[0]["pdno"] != first.Output1[0]["pdno"] {
			t.Errorf("tr_cont=%q first=%s; want page one again", h.Get("tr_cont"), p.Output1[0]["pdno"])
		}
	})
	t.Run("pykis's lowercase keys", func(t *testing.T) {
		q := strings.NewReplacer("CTX_AREA_FK100", "ctx_area_fk100", "CTX_AREA_NK100", "ctx_area_nk100").Replace(balanceQuery(first.FK, first.NK))
		p, h := balanceCall(t, ts, sim, kauth.Mock, app, tok, "N", q)
		if h.Get("tr_cont") != "M" || p.Output1[0]["pdno"] == first.Output1[0]["pdno"] {
			t.Errorf("tr_cont=%q; want the second page (M)", h.Get("tr_cont"))
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		p, _ := balanceCall(t, ts, sim, kauth.Mock, app, tok, "N", balanceQuery(first.FK, "99999999^01^000000^"))
		if p.RtCd != "1" || p.MsgCd != opsqInput {
			t.Errorf("rt_cd=%q msg_cd=%q; want 1, %s", p.RtCd, p.MsgCd, opsqInput)
		}
	})
	t.Run("real tr_id on mock", func(t *testing.T) {
		sim.Advance(time.Second)
		h := map[string]string{"appkey": app.AppKey, "appsecret": app.Secret, "authorization": "Bearer " + tok, "tr_id": kisTrIDBalanceReal, "custtype": "P"}
		ans := do(t, "GET", base(ts, kauth.KIS, kauth.Mock)+"/uapi/domestic-stock/v1/trading/inquire-balance?"+balanceQuery("", ""), h, nil)
		if ans.str("msg_cd") != opsqNoService {
			t.Errorf("msg_cd = %q; want %s", ans.str("msg_cd"), opsqNoService)
		}
	})
	t.Run("bad account", func(t *testing.T) {
		p, _ := balanceCall(t, ts, sim, kauth.Mock, app, tok, "", strings.Replace(balanceQuery("", ""), "CANO=50123456", "CANO=123", 1))
		if p.RtCd != "1" || p.MsgCd != opsqInput {
			t.Errorf("rt_cd=%q msg_cd=%q; want 1, %s", p.RtCd, p.MsgCd, opsqInput)
		}
	})
}

// TestInquirePriceHasWhatPykisParses checks every field that pykis reads
// from inquire-price, parsed the way pykis parses it (KisDecimal, KisInt,
// KisDate "%Y%m%d", KisBool Y/N, the sign and risk maps).
func TestInquirePriceHasWhatPykisParses(t *testing.T) {
	_, ts := newSim(t)
	app := DemoKISReal
	ans := kisPrice(t, ts, kauth.Real, app, kisToken(t, ts, app))
	var body struct {
		RtCd   string            `json:"rt_cd"`
		Output map[string]string `json:"output"`
	}
	if err := json.Unmarshal(ans.raw, &body); err != nil || body.RtCd != "0" {
		t.Fatalf("inquire-price = %s", ans.raw)
	}
	out := body.Output
	decimals := []string{"stck_prpr", "acml_tr_pbmn", "hts_avls", "prdy_vrss_vol_rate", "prdy_vrss", "stck_oprc", "stck_hgpr", "stck_lwpr",
		"stck_mxpr", "stck_llam", "stck_sdpr", "aspr_unit", "eps", "bps", "per", "pbr", "w52_hgpr", "w52_lwpr"}
	for _, f := range decimals {
		if _, err := strconv.ParseFloat(out[f], 64); err != nil {
			t.Errorf("%s = %q; want a decimal", f, out[f])
		}
	}
	if _, err := strconv.ParseInt(out["acml_vol"], 10, 64); err != nil {
		t.Errorf("acml_vol = %q; want an integer", out["acml_vol"])
	}
	for _, f := range []string{"w52_hgpr_date", "w52_lwpr_date"} {
		if _, err := time.Parse("20060102", out[f]); err != nil {
			t.Errorf("%s = %q; want YYYYMMDD", f, out[f])
		}
	}
	for _, f := range []string{"temp_stop_yn", "short_over_yn"} {
		if out[f] != "Y" && out[f] != "N" {
			t.Errorf("%s = %q; want Y or N", f, out[f])
		}
	}
	if !strings.Contains("0 1 2 3 4 5", out["prdy_vrss_sign"]) || len(out["prdy_vrss_sign"]) != 1 {
		t.Errorf("prdy_vrss_sign = %q; want 0…5", out["prdy_vrss_sign"])
	}
	if !map[string]bool{"00": true, "01": true, "02": true, "03": true}[out["mrkt_warn_cls_code"]] {
		t.Errorf("mrkt_warn_cls_code = %q; want 00…03", out["mrkt_warn_cls_code"])
	}
	if out["stck_prpr"] == "0" || out["stck_shrn_iscd"] != "005930" || out["bstp_kor_isnm"] == "" {
		t.Errorf("stck_prpr=%q stck_shrn_iscd=%q bstp_kor_isnm=%q", out["stck_prpr"], out["stck_shrn_iscd"], out["bstp_kor_isnm"])
	}
	// The official sample lists 82 output fields (chk_inquire_price.py).
	if len(out) != 82 {
		t.Errorf("output has %d fields; want the documented 82", len(out))
	}
}

// TestHandlerServesEnvAtRoot: a client that joins absolute paths onto a
// domain, as pykis does with urljoin(domain, "/oauth2/tokenP"), loses the
// path prefix of the shared layout; an env's own Handler serves it at /.
func TestHandlerServesEnvAtRoot(t *testing.T) {
	sim, prefixed := newSim(t)
	root := httptest.NewServer(sim.Handler(kauth.KIS, kauth.Mock))
	defer root.Close()
	join := func(domain, path string) string {
		d, err := url.Parse(domain)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := url.Parse(path)
		return d.ResolveReference(p).String() // urljoin of an absolute path
	}
	app := DemoKISMock
	body := map[string]string{"grant_type": "client_credentials", "appkey": app.AppKey, "appsecret": app.Secret}

	lost := do(t, "POST", join(base(prefixed, kauth.KIS, kauth.Mock), "/oauth2/tokenP"), nil, body)
	if lost.status != http.StatusNotFound {
		t.Fatalf("urljoin onto the prefixed URL = %d; want 404 (the prefix is dropped)", lost.status)
	}
	ans := do(t, "POST", join(root.URL, "/oauth2/tokenP"), nil, body)
	tok := ans.str("access_token")
	if ans.status != 200 || tok == "" {
		t.Fatalf("tokenP at the root = %d %s", ans.status, ans.raw)
	}
	h := map[string]string{"appkey": app.AppKey, "appsecret": app.Secret, "tr_id": kisTrIDInquirePrice, "authorization": "Bearer " + tok}
	price := do(t, "GET", join(root.URL, "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"), h, nil)
	if price.str("rt_cd") != "0" {
		t.Errorf("inquire-price at the root = %s", price.raw)
	}
	if again := do(t, "GET", join(root.URL, "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"), h, nil); again.str("rt_cd") != "0" {
		t.Errorf("second inquire-price at the root = %s", again.raw)
	}
	// One simulator: the token works on the prefixed layout too, and the
	// controls are there at the root.
	if p := kisPrice(t, prefixed, kauth.Mock, app, tok); p.str("rt_cd") != "1" || p.str("msg_cd") != egwCallRateLimit {
		// The mock limit (2/s) is shared: the third call in this second
		// is refused, which shows that the app's state is one.
		t.Errorf("third mock call in a second on the prefixed layout = %s; want EGW00201", p.raw)
	}
	if st := do(t, "GET", root.URL+"/_sim/stats", nil, nil); st.status != 200 || st.num("issued") != 1 {
		t.Errorf("/_sim/stats at the root = %d %s", st.status, st.raw)
	}
	// The other broker's routes are not there.
	if nf := do(t, "POST", root.URL+"/oauth2/token", nil, body); nf.status != http.StatusNotFound {
		t.Errorf("Kiwoom's /oauth2/token on KIS's root = %d; want 404", nf.status)
	}
}

// TestKiwoomAccountPages pages kt00018 as the official SDK does
// (fetch_page): cont-yn and next-key of each answer go back as request
// headers while cont-yn is Y.
func TestKiwoomAccountPages(t *testing.T) {
	sim, ts := newSim(t)
	tok := kiwoomToken(t, ts, DemoKiwoomMock)
	url := base(ts, kauth.Kiwoom, kauth.Mock) + "/api/dostk/acnt"
	body := map[string]string{"qry_tp": "1", "dmst_stex_tp": "KRX"}
	var codes []string
	var conts []string
	h := map[string]string{"api-id": kwIDAcntEval, "authorization": "Bearer " + tok}
	for page := 0; page < 10; page++ {
		sim.Advance(time.Second)
		ans := do(t, "POST", url, h, body)
		if returnCode(t, ans) != "0" {
			t.Fatalf("kt00018 page %d = %s", page, ans.raw)
		}
		rows, _ := ans.body["acnt_evlt_remn_indv_tot"].([]any)
		for _, r := range rows {
			codes = append(codes, r.(map[string]any)["stk_cd"].(string))
		}
		cont := ans.header.Get("cont-yn")
		conts = append(conts, cont)
		if cont != "Y" {
			break
		}
		h["cont-yn"], h["next-key"] = cont, ans.header.Get("next-key")
	}
	if strings.Join(conts, "") != "YYN" || len(codes) != PortfolioSize {
		t.Errorf("cont-yn of the pages = %q, rows = %d; want YYN, %d", conts, len(codes), PortfolioSize)
	}
	sim.Advance(time.Second)
	bad := do(t, "POST", url, map[string]string{"api-id": kwIDAcntEval, "authorization": "Bearer " + tok, "cont-yn": "Y", "next-key": "zz"}, body)
	if returnCode(t, bad) != "2" || !strings.Contains(bad.str("return_msg"), "[1517") {
		t.Errorf("kt00018 with a bad next-key = %s; want 1517", bad.raw)
	}
	sim.Advance(time.Second)
	if wrong := do(t, "POST", url, map[string]string{"api-id": "ka10001", "authorization": "Bearer " + tok}, body); !strings.Contains(wrong.str("return_msg"), "[1504") {
		t.Errorf("ka10001 on /api/dostk/acnt = %s; want 1504", wrong.raw)
	}
}
