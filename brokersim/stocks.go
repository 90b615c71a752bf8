package brokersim

import (
	"fmt"
	"strconv"
)

// stock is the quote the simulator serves for a listed stock. Prices never
// move: the simulator is about auth, not markets.
type stock struct {
	code, name      string
	price, prevDiff int
	upper, lower    int
	shares          int64  // listed shares (lstn_stcn)
	sector          string // bstp_kor_isnm
}

var stocks = map[string]stock{
	"005930": {"005930", "삼성전자", 71000, 0, 92300, 49700, 5969782550, "전기.전자"},
	"000660": {"000660", "SK하이닉스", 178000, 0, 231400, 124600, 728002365, "전기.전자"},
	"035420": {"035420", "NAVER", 185000, 0, 240500, 129500, 158437008, "서비스업"},
}

// kisOutput is the output of KIS inquire-price (FHKST01010100): every field
// the official sample lists for it (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/inquire_price/chk_inquire_price.py,
// COLUMN_MAPPING), with plausible values. pykis parses stck_prpr, acml_vol,
// acml_tr_pbmn, hts_avls, prdy_vrss_sign (0-5), mrkt_warn_cls_code
// (00-03), temp_stop_yn and short_over_yn (Y/N), prdy_vrss_vol_rate,
// prdy_vrss, stck_oprc/hgpr/lwpr/mxpr/llam/sdpr, aspr_unit, eps, bps, per,
// pbr, w52_hgpr, w52_lwpr and w52_hgpr_date/w52_lwpr_date (YYYYMMDD)
// (Soju06/python-kis, pykis/api/stock/quote.py, KisDomesticQuote and
// KisDomesticIndicator). All values are strings, as KIS sends them.
func (s stock) kisOutput() map[string]string {
	p := strconv.Itoa(s.price)
	n := strconv.Itoa
	const volume = 12345678
	hi52, lo52 := s.price*13/10, s.price*7/10
	eps := s.price / 20
	bps := s.price * 2 / 3
	return map[string]string{
		"iscd_stat_cls_code":       "55",
		"marg_rate":                "20.00",
		"rprs_mrkt_kor_name":       "KOSPI200",
		"new_hgpr_lwpr_cls_code":   "",
		"bstp_kor_isnm":            s.sector,
		"temp_stop_yn":             "N",
		"oprc_rang_cont_yn":        "N",
		"clpr_rang_cont_yn":        "N",
		"crdt_able_yn":             "Y",
		"grmn_rate_cls_code":       "40",
		"elw_pblc_yn":              "Y",
		"stck_prpr":                p,
		"prdy_vrss":                n(s.prevDiff),
		"prdy_vrss_sign":           "3",
		"prdy_ctrt":                "0.00",
		"acml_tr_pbmn":             strconv.FormatInt(int64(volume)*int64(s.price), 10),
		"acml_vol":                 n(volume),
		"prdy_vrss_vol_rate":       "100.00",
		"stck_oprc":                p,
		"stck_hgpr":                p,
		"stck_lwpr":                p,
		"stck_mxpr":                n(s.upper),
		"stck_llam":                n(s.lower),
		"stck_sdpr":                p,
		"wghn_avrg_stck_prc":       p + ".00",
		"hts_frgn_ehrt":            "50.00",
		"frgn_ntby_qty":            "0",
		"pgtr_ntby_qty":            "0",
		"pvt_scnd_dmrs_prc":        n(s.price * 102 / 100),
		"pvt_frst_dmrs_prc":        n(s.price * 101 / 100),
		"pvt_pont_val":             p,
		"pvt_frst_dmsp_prc":        n(s.price * 99 / 100),
		"pvt_scnd_dmsp_prc":        n(s.price * 98 / 100),
		"dmrs_val":                 n(s.price * 101 / 100),
		"dmsp_val":                 n(s.price * 99 / 100),
		"cpfn":                     "7780",
		"rstc_wdth_prc":            n(s.upper - s.price),
		"stck_fcam":                "100",
		"stck_sspr":                n(s.price * 7 / 10),
		"aspr_unit":                n(tick(s.price)),
		"hts_deal_qty_unit_val":    "1",
		"lstn_stcn":                strconv.FormatInt(s.shares, 10),
		"hts_avls":                 strconv.FormatInt(s.shares*int64(s.price)/100_000_000, 10), // 억원
		"per":                      fmt.Sprintf("%.2f", float64(s.price)/float64(eps)),
		"pbr":                      fmt.Sprintf("%.2f", float64(s.price)/float64(bps)),
		"stac_month":               "12",
		"vol_tnrt":                 "0.21",
		"eps":                      n(eps) + ".00",
		"bps":                      n(bps) + ".00",
		"d250_hgpr":                n(hi52),
		"d250_hgpr_date":           "20250710",
		"d250_hgpr_vrss_prpr_rate": "-23.08",
		"d250_lwpr":                n(lo52),
		"d250_lwpr_date":           "20241114",
		"d250_lwpr_vrss_prpr_rate": "42.86",
		"stck_dryy_hgpr":           n(hi52),
		"dryy_hgpr_vrss_prpr_rate": "-23.08",
		"dryy_hgpr_date":           "20250710",
		"stck_dryy_lwpr":           n(lo52),
		"dryy_lwpr_vrss_prpr_rate": "42.86",
		"dryy_lwpr_date":           "20250102",
		"w52_hgpr":                 n(hi52),
		"w52_hgpr_vrss_prpr_ctrt":  "-23.08",
		"w52_hgpr_date":            "20250710",
		"w52_lwpr":                 n(lo52),
		"w52_lwpr_vrss_prpr_ctrt":  "42.86",
		"w52_lwpr_date":            "20241114",
		"whol_loan_rmnd_rate":      "0.10",
		"ssts_yn":                  "Y",
		"stck_shrn_iscd":           s.code,
		"fcam_cnnm":                "100",
		"cpfn_cnnm":                "7,780 억",
		"apprch_rate":              "0.00",
		"frgn_hldn_qty":            strconv.FormatInt(s.shares/2, 10),
		"vi_cls_code":              "N",
		"ovtm_vi_cls_code":         "N",
		"last_ssts_cntg_qty":       "0",
		"invt_caful_yn":            "N",
		"mrkt_warn_cls_code":       "00",
		"short_over_yn":            "N",
		"sltr_yn":                  "N",
		"mang_issu_cls_code":       "N",
	}
}

// tick is the KRX price unit (호가단위) of a stock priced p.
func tick(p int) int {
	switch {
	case p < 2000:
		return 1
	case p < 5000:
		return 5
	case p < 20000:
		return 10
	case p < 50000:
		return 50
	case p < 200000:
		return 100
	case p < 500000:
		return 500
	default:
		return 1000
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
