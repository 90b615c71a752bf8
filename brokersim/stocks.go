package brokersim

import "strconv"

// stock is the quote the simulator serves for a listed stock. Prices never
// move: the simulator is about auth, not markets.
type stock struct {
	code, name      string
	price, prevDiff int
	upper, lower    int
}

var stocks = map[string]stock{
	"005930": {"005930", "삼성전자", 71000, 0, 92300, 49700},
	"000660": {"000660", "SK하이닉스", 178000, 0, 231400, 124600},
	"035420": {"035420", "NAVER", 185000, 0, 240500, 129500},
}

// kisOutput is the output of KIS inquire-price (FHKST01010100), abridged.
func (s stock) kisOutput() map[string]string {
	p := strconv.Itoa(s.price)
	return map[string]string{
		"iscd_stat_cls_code": "55",
		"rprs_mrkt_kor_name": "KOSPI200",
		"stck_shrn_iscd":     s.code,
		"stck_prpr":          p,
		"prdy_vrss":          strconv.Itoa(s.prevDiff),
		"prdy_vrss_sign":     "3",
		"prdy_ctrt":          "0.00",
		"stck_oprc":          p,
		"stck_hgpr":          p,
		"stck_lwpr":          p,
		"stck_mxpr":          strconv.Itoa(s.upper),
		"stck_llam":          strconv.Itoa(s.lower),
		"stck_sdpr":          p,
		"acml_vol":           "0",
	}
}

// kiwoomRecord is the answer body of Kiwoom ka10001 (주식기본정보요청),
// abridged, without return_code and return_msg.
func (s stock) kiwoomRecord() map[string]any {
	p := strconv.Itoa(s.price)
	return map[string]any{
		"stk_cd":    s.code,
		"stk_nm":    s.name,
		"setl_mm":   "12",
		"cur_prc":   p,
		"pre_sig":   "3",
		"pred_pre":  strconv.Itoa(s.prevDiff),
		"flu_rt":    "0.00",
		"trde_qty":  "0",
		"open_pric": p,
		"high_pric": p,
		"low_pric":  p,
		"upl_pric":  strconv.Itoa(s.upper),
		"lst_pric":  strconv.Itoa(s.lower),
		"base_pric": p,
	}
}
