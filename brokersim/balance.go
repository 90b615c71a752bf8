package brokersim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/kauth/kauth"
)

// The balance inquiry (주식잔고조회, v1_국내주식-006) pages for real, so that
// clients' paging can be tested: tr_cont in the response header says
// whether more follows (F/M) or this is the last page (E, or D when all of
// it fits in one), the client asks for the next page with the request
// header tr_cont: N and the CTX_AREA_FK100/CTX_AREA_NK100 query parameters
// copied from the previous answer's ctx_area_fk100/ctx_area_nk100. A page
// holds up to 50 holdings on real and 20 on mock, as the official sample
// documents (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/inquire_balance/inquire_balance.py); the tr_id
// is TTTC8434R on real and VTTC8434R on mock.
const (
	kisTrIDBalanceReal = "TTTC8434R"
	kisTrIDBalanceMock = "VTTC8434R"
	balancePageReal    = 50
	balancePageMock    = 20
	// PortfolioSize is the number of holdings of the simulator's fixed
	// fake portfolio: more than a page on either env (two pages on real,
	// three on mock).
	PortfolioSize = 60
)

// holding is one line of the fake portfolio.
type holding struct {
	code, name     string
	qty, avg, last int
}

// portfolio is the same for every account: PortfolioSize made-up stocks,
// made on first use rather than at the start of every kauth command.
var portfolio = sync.OnceValue(func() []holding {
	out := make([]holding, PortfolioSize)
	for i := range out {
		out[i] = holding{
			code: fmt.Sprintf("9%05d", 100+i*7),
			name: fmt.Sprintf("모의종목%02d", i+1),
			qty:  10 + i,
			avg:  10000 + 250*i,
			last: 10000 + 250*i + 100*(i%5) - 200,
		}
	}
	return out
})

func (h holding) kisRecord() map[string]string {
	n := strconv.Itoa
	buy, eval := h.qty*h.avg, h.qty*h.last
	pl := eval - buy
	rate := fmt.Sprintf("%.2f", float64(pl)*100/float64(buy))
	return map[string]string{
		"pdno": h.code, "prdt_name": h.name, "trad_dvsn_name": "현금",
		"bfdy_buy_qty": "0", "bfdy_sll_qty": "0", "thdt_buyqty": "0", "thdt_sll_qty": "0",
		"hldg_qty": n(h.qty), "ord_psbl_qty": n(h.qty),
		"pchs_avg_pric": n(h.avg) + ".0000", "pchs_amt": n(buy), "prpr": n(h.last),
		"evlu_amt": n(eval), "evlu_pfls_amt": n(pl), "evlu_pfls_rt": rate, "evlu_erng_rt": rate,
		"loan_dt": "", "loan_amt": "0", "stln_slng_chgs": "0", "expd_dt": "",
		"fltt_rt": "0.00000000", "bfdy_cprs_icdc": "0",
		"item_mgna_rt_name": "20%", "grta_rt_name": "", "sbst_pric": n(h.last * 7 / 10), "stck_loan_unpr": "0.0000",
	}
}

// balanceSummary is output2 of the balance inquiry, over the whole
// portfolio.
func balanceSummary() []map[string]string {
	var buy, eval int
	for _, h := range portfolio() {
		buy += h.qty * h.avg
		eval += h.qty * h.last
	}
	n := strconv.Itoa
	const cash = 10_000_000
	return []map[string]string{{
		"dnca_tot_amt": n(cash), "nxdy_excc_amt": n(cash), "prvs_rcdl_excc_amt": n(cash), "cma_evlu_amt": "0",
		"bfdy_buy_amt": "0", "thdt_buy_amt": "0", "nxdy_auto_rdpt_amt": "0", "bfdy_sll_amt": "0", "thdt_sll_amt": "0",
		"d2_auto_rdpt_amt": "0", "bfdy_tlex_amt": "0", "thdt_tlex_amt": "0", "tot_loan_amt": "0",
		"scts_evlu_amt": n(eval), "tot_evlu_amt": n(eval + cash), "nass_amt": n(eval + cash),
		"fncg_gld_auto_rdpt_yn": "", "pchs_amt_smtl_amt": n(buy), "evlu_amt_smtl_amt": n(eval),
		"evlu_pfls_smtl_amt": n(eval - buy), "tot_stln_slng_chgs": "0",
		"bfdy_tot_asst_evlu_amt": n(eval + cash), "asst_icdc_amt": "0", "asst_icdc_erng_rt": "0.00000000",
	}}
}

// queryFold returns the query parameter name, matched without regard to
// case: the official sample sends CTX_AREA_NK100, pykis ctx_area_nk100
// (pykis/client/page.py, KisPage.build), and KIS answers both.
func queryFold(r *http.Request, name string) string {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// kisInquireBalance serves GET /uapi/domestic-stock/v1/trading/inquire-balance.
// After the checks of kisCallLocked it checks the account (CANO, 8 digits;
// ACNT_PRDT_CD, 2) and the required flags (OPSQ2002), then answers one page
// of the fake portfolio.
//
// Only a request with tr_cont: N continues: any other value is a first
// inquiry, whatever CTX_AREA_NK100 holds, so a client (or a proxy) that
// loses the request header tr_cont reads page one forever. A continuation
// key that this account never got is an input error.
func (s *Server) kisInquireBalance(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	trID, size := kisTrIDBalanceReal, balancePageReal
	if e == kauth.Mock {
		trID, size = kisTrIDBalanceMock, balancePageMock
	}
	trCont := "D"
	rep, outcome := func() (reply, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var rep reply
		if code := s.kisCallLocked(r, e, trID, &rep); code != "" {
			return rep, code
		}
		key := r.Header.Get("appkey")
		inputErr := func(field string) (reply, string) { return s.kisInputErrorLocked(e, key, "["+field+"]") }
		cano, prdt := queryFold(r, "CANO"), queryFold(r, "ACNT_PRDT_CD")
		if len(cano) != 8 || !digits(cano) {
			return inputErr("CANO")
		}
		if len(prdt) != 2 || !digits(prdt) {
			return inputErr("ACNT_PRDT_CD")
		}
		for _, f := range []string{"AFHR_FLPR_YN", "INQR_DVSN", "UNPR_DVSN", "FUND_STTL_ICLD_YN", "FNCG_AMT_AUTO_RDPT_YN", "PRCS_DVSN"} {
			if queryFold(r, f) == "" {
				return inputErr(f)
			}
		}
		search := cano + "^" + prdt + "^" + queryFold(r, "INQR_DVSN") + "^"
		start := 0
		if r.Header.Get("tr_cont") == "N" {
			if nk := strings.TrimSpace(queryFold(r, "CTX_AREA_NK100")); nk != "" {
				var ok bool
				if start, ok = parseBalanceKey(nk, cano, prdt); !ok {
					return inputErr("CTX_AREA_NK100")
				}
			}
		}
		end := min(start+size, len(portfolio()))
		rows := make([]map[string]string, 0, end-start)
		for _, h := range portfolio()[start:end] {
			rows = append(rows, h.kisRecord())
		}
		next := ""
		switch more := end < len(portfolio()); {
		case more && start == 0:
			trCont = "F"
		case more:
			trCont = "M"
		case start > 0:
			trCont = "E"
		}
		if end < len(portfolio()) {
			next = balanceKey(cano, prdt, end)
		}
		s.count(kauth.KIS, e, key, func(c *Counts) { c.OK++ })
		return reply{http.StatusOK, map[string]any{
			"ctx_area_fk100": search,
			"ctx_area_nk100": next,
			"output1":        rows,
			"output2":        balanceSummary(),
			"rt_cd":          "0",
			"msg_cd":         "MCA00000",
			"msg1":           "정상처리 되었습니다.",
		}}, "ok"
	}()
	s.logf("brokersim: kis %s inquire-balance app=%s: %s tr_cont=%s", e, kauth.Fingerprint(r.Header.Get("appkey")), outcome, trCont)
	kisHeaders(w, r, trCont)
	writeJSON(w, rep.status, rep.body)
}

// balanceKey is the simulator's continuation key: the account and the
// offset of the next holding. (The real key is opaque; clients only copy
// it back.)
func balanceKey(cano, prdt string, next int) string {
	return fmt.Sprintf("%s^%s^%s^", cano, prdt, portfolio()[next].code)
}

func parseBalanceKey(nk, cano, prdt string) (int, bool) {
	parts := strings.Split(nk, "^")
	if len(parts) < 3 || parts[0] != cano || parts[1] != prdt {
		return 0, false
	}
	for i, h := range portfolio() {
		if h.code == parts[2] {
			return i, true
		}
	}
	return 0, false
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
