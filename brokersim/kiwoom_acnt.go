package brokersim

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/kauth/kauth"
)

// The account evaluation (계좌평가잔고내역요청, kt00018, POST
// /api/dostk/acnt) pages for real over the same fake portfolio as KIS's
// balance inquiry: an answer with more to come carries the response
// headers cont-yn: Y and next-key; the client sends both back as request
// headers for the next page (Kiwoom's spec, "cont-yn"/"next-key": "응답
// Header의 연속조회여부값이 Y일 경우 다음데이터 요청시 … 세팅"; the official
// SDK's fetch_page and its kt00018 example page this way). Kiwoom does not
// publish a page size; the simulator uses kwAcntPage.
const (
	kwIDAcntEval = "kt00018"
	kwURIAcnt    = "/api/dostk/acnt"
	kwAcntPage   = 25
)

func (h holding) kiwoomRecord() map[string]string {
	n := strconv.Itoa
	buy, eval := h.qty*h.avg, h.qty*h.last
	return map[string]string{
		"stk_cd": "A" + h.code, "stk_nm": h.name,
		"evltv_prft": n(eval - buy), "prft_rt": fmt.Sprintf("%.2f", float64(eval-buy)*100/float64(buy)),
		"pur_pric": n(h.avg), "pred_close_pric": n(h.last), "rmnd_qty": n(h.qty), "trde_able_qty": n(h.qty),
		"cur_prc": n(h.last), "pred_buyq": "0", "pred_sellq": "0", "tdy_buyq": "0", "tdy_sellq": "0",
		"pur_amt": n(buy), "pur_cmsn": "0", "evlt_amt": n(eval), "sell_cmsn": "0", "tax": "0", "sum_cmsn": "0",
		"poss_rt": "1.67", "crd_tp": "00", "crd_tp_nm": "", "crd_loan_dt": "",
	}
}

// kiwoomAcnt serves POST /api/dostk/acnt with api-id kt00018. After the
// checks of kiwoomCallLocked it checks api-id (1501, 1504) and the body
// (1517; 1511 for a missing qry_tp or dmst_stex_tp). Only cont-yn: Y with
// a next-key continues; a next-key this simulator never handed out is an
// input error (1517).
func (s *Server) kiwoomAcnt(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	var req struct {
		QryTp      string `json:"qry_tp"`
		DmstStexTp string `json:"dmst_stex_tp"`
	}
	ctOK, bodyOK := decodeJSONBody(r, &req)
	contYN, nextKey := "N", ""
	rep, fp, outcome := func() (any, string, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		key, apiID, kerr, more := s.kiwoomCallLocked(r, e)
		fail := func(kerr kiwoomError, more func(*Counts)) (any, string, string) {
			s.reject(kauth.Kiwoom, e, key, more)
			return s.kiwoomErrorBody(kerr), kauth.Fingerprint(key), kerr.msg
		}
		switch {
		case kerr != nil:
			return fail(*kerr, more)
		case apiID == "":
			return fail(kwErrNoAPIID, nil)
		case apiID != kwIDAcntEval:
			return fail(kwInputErr("1504", "해당 URI에서는 지원하는 API ID가 아닙니다. API ID="+apiID+", URI="+kwURIAcnt), nil)
		case !ctOK || !bodyOK:
			return fail(kwErrBadBody, nil)
		case req.QryTp == "":
			return fail(kwInputErr("1511", "필수 입력 값에 값이 존재하지 않습니다. 필수입력 파라미터=qry_tp"), nil)
		case req.DmstStexTp == "":
			return fail(kwInputErr("1511", "필수 입력 값에 값이 존재하지 않습니다. 필수입력 파라미터=dmst_stex_tp"), nil)
		}
		start := 0
		if r.Header.Get("cont-yn") == "Y" {
			nk := r.Header.Get("next-key")
			n, err := strconv.Atoi(nk)
			if err != nil || n <= 0 || n >= len(portfolio()) {
				return fail(kwInputErr("1517", "입력 값 형식이 올바르지 않습니다. 파라미터=next-key 실패사유="+strconv.Quote(nk)), nil)
			}
			start = n
		}
		end := min(start+kwAcntPage, len(portfolio()))
		rows := make([]map[string]string, 0, end-start)
		for _, h := range portfolio()[start:end] {
			rows = append(rows, h.kiwoomRecord())
		}
		if end < len(portfolio()) {
			contYN, nextKey = "Y", strconv.Itoa(end)
		}
		var buy, eval int
		for _, h := range portfolio() {
			buy += h.qty * h.avg
			eval += h.qty * h.last
		}
		n := strconv.Itoa
		s.count(kauth.Kiwoom, e, key, func(c *Counts) { c.OK++ })
		return map[string]any{
			"tot_pur_amt": n(buy), "tot_evlt_amt": n(eval), "tot_evlt_pl": n(eval - buy),
			"tot_prft_rt":        fmt.Sprintf("%.2f", float64(eval-buy)*100/float64(buy)),
			"prsm_dpst_aset_amt": n(eval + 10_000_000), "tot_loan_amt": "0", "tot_crd_loan_amt": "0", "tot_crd_ls_amt": "0",
			"acnt_evlt_remn_indv_tot": rows,
			"return_code":             s.returnCode(kwOK),
			"return_msg":              "조회가 완료되었습니다",
		}, kauth.Fingerprint(key), "ok"
	}()
	s.logf("brokersim: kiwoom %s kt00018 app=%s: %s cont-yn=%s", e, fp, outcome, contYN)
	kiwoomHeaders(w, r, kwIDAcntEval, contYN, nextKey)
	writeJSON(w, http.StatusOK, rep)
}
