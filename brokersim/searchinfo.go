package brokersim

import (
	"net/http"

	"github.com/kauth/kauth"
)

// kisTrIDSearchInfo is 상품기본조회 [v1_국내주식-029], GET
// /uapi/domestic-stock/v1/quotations/search-info with PDNO and PRDT_TYPE_CD
// (koreainvestment/open-trading-api,
// examples_llm/domestic_stock/search_info/search_info.py).
const kisTrIDSearchInfo = "CTPF1604R"

// kisProductStock is PRDT_TYPE_CD 300, 주식 (same sample, chk_search_info.py).
const kisProductStock = "300"

// engNames are the English short and full names of the simulated stocks.
var engNames = map[string][2]string{
	"005930": {"SamsungElec", "SAMSUNG ELECTRONICS"},
	"000660": {"SK hynix", "SK HYNIX"},
	"035420": {"NAVER", "NAVER"},
}

// searchInfoOutput is the output of 상품기본조회 for a stock: the fields the
// official sample lists (chk_search_info.py, COLUMN_MAPPING) and those pykis
// reads (Soju06/python-kis, pykis/api/stock/info.py, _KisStockInfo:
// shtn_pdno, std_pdno, prdt_abrv_name, prdt_name120, prdt_eng_abrv_name,
// prdt_eng_name120, prdt_type_cd).
func (s stock) searchInfoOutput() map[string]string {
	eng := engNames[s.code]
	return map[string]string{
		"pdno":               s.code,
		"prdt_type_cd":       kisProductStock,
		"std_pdno":           "KR7" + s.code + "003",
		"shtn_pdno":          s.code,
		"prdt_name":          s.name,
		"prdt_name120":       s.name,
		"prdt_abrv_name":     s.name,
		"prdt_eng_name":      eng[1],
		"prdt_eng_name120":   eng[1],
		"prdt_eng_abrv_name": eng[0],
		"prdt_sale_stat_cd":  "",
		"prdt_risk_grad_cd":  "",
		"prdt_clsf_cd":       "101210",
		"sale_strt_dt":       "",
		"sale_end_dt":        "",
		"wrap_asst_type_cd":  "",
		"ivst_prdt_type_cd":  "",
		"frst_erlm_dt":       "19750611",
	}
}

// kisSearchInfo serves GET /uapi/domestic-stock/v1/quotations/search-info,
// which pykis calls before any quote to learn a code's market. After the
// checks of kisCallLocked: no PDNO or PRDT_TYPE_CD is OPSQ2002; a code the
// simulator does not list, or a product type other than 300, answers rt_cd
// "7", which pykis takes for "no data" and skips to its next market type
// (pykis/api/stock/info.py, info: e.rt_cd == 7), with KIOK0560 조회할 내용이
// 없습니다, the message KIS's published response samples carry for an empty
// result.
func (s *Server) kisSearchInfo(w http.ResponseWriter, r *http.Request, e kauth.Env) {
	rep, outcome := func() (reply, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var rep reply
		if code := s.kisCallLocked(r, e, kisTrIDSearchInfo, &rep); code != "" {
			return rep, code
		}
		key := r.Header.Get("appkey")
		q := r.URL.Query()
		if f := missing(q, "PDNO", "PRDT_TYPE_CD"); f != "" {
			return s.kisInputErrorLocked(e, key, "["+f+"] [0]")
		}
		st, ok := stocks[q.Get("PDNO")]
		if !ok || q.Get("PRDT_TYPE_CD") != kisProductStock {
			s.count(kauth.KIS, e, key, func(c *Counts) { c.OK++ })
			return reply{http.StatusOK, kisResult{RtCd: "7", MsgCd: "KIOK0560", Msg1: "조회할 내용이 없습니다"}}, "no data"
		}
		s.count(kauth.KIS, e, key, func(c *Counts) { c.OK++ })
		return reply{http.StatusOK, kisResult{RtCd: "0", MsgCd: "MCA00000", Msg1: "정상처리 되었습니다.", Output: st.searchInfoOutput()}}, "ok"
	}()
	s.logf("brokersim: kis %s search-info app=%s: %s", e, kauth.Fingerprint(r.Header.Get("appkey")), outcome)
	kisHeaders(w, r, "D")
	writeJSON(w, rep.status, rep.body)
}
