package brokersim

import (
	"encoding/json"
	"testing"

	"github.com/kauth/kauth"
)

// TestSearchInfoAsPykisAsks: pykis's kis.stock("005930") first asks
// 상품기본조회 (GET …/quotations/search-info, tr_id CTPF1604R, PDNO and
// PRDT_TYPE_CD=300) on the real domain and reads shtn_pdno, std_pdno,
// prdt_abrv_name, prdt_name120, prdt_eng_abrv_name, prdt_eng_name120 and
// prdt_type_cd; a code it does not know must answer rt_cd 7 ("no data"),
// which pykis skips to the next market type.
func TestSearchInfoAsPykisAsks(t *testing.T) {
	_, ts := newSim(t)
	app := DemoKISReal
	tok := kisToken(t, ts, app)
	ask := func(pdno, typ string) (answer, struct {
		RtCd   string            `json:"rt_cd"`
		MsgCd  string            `json:"msg_cd"`
		Output map[string]string `json:"output"`
	}) {
		h := map[string]string{"appkey": app.AppKey, "appsecret": app.Secret, "authorization": "Bearer " + tok, "tr_id": kisTrIDSearchInfo}
		ans := do(t, "GET", base(ts, kauth.KIS, kauth.Real)+"/uapi/domestic-stock/v1/quotations/search-info?PDNO="+pdno+"&PRDT_TYPE_CD="+typ, h, nil)
		var body struct {
			RtCd   string            `json:"rt_cd"`
			MsgCd  string            `json:"msg_cd"`
			Output map[string]string `json:"output"`
		}
		if err := json.Unmarshal(ans.raw, &body); err != nil {
			t.Fatalf("search-info = %d %s", ans.status, ans.raw)
		}
		return ans, body
	}
	ans, body := ask("005930", "300")
	if ans.status != 200 || body.RtCd != "0" {
		t.Fatalf("search-info 005930 = %d %s", ans.status, ans.raw)
	}
	for _, f := range []string{"pdno", "prdt_type_cd", "std_pdno", "shtn_pdno", "prdt_abrv_name", "prdt_name120", "prdt_eng_abrv_name", "prdt_eng_name120"} {
		if body.Output[f] == "" {
			t.Errorf("output.%s is empty", f)
		}
	}
	if body.Output["shtn_pdno"] != "005930" || body.Output["prdt_type_cd"] != "300" || body.Output["prdt_abrv_name"] != "삼성전자" {
		t.Errorf("output = %v", body.Output)
	}
	if got := ans.header.Get("tr_id"); got != kisTrIDSearchInfo {
		t.Errorf("tr_id header = %q; want %s", got, kisTrIDSearchInfo)
	}
	if _, body := ask("999999", "300"); body.RtCd != "7" {
		t.Errorf("unknown code: rt_cd = %q; want 7 (no data)", body.RtCd)
	}
	if _, body := ask("005930", "512"); body.RtCd != "7" {
		t.Errorf("005930 as a NASDAQ product: rt_cd = %q; want 7 (no data)", body.RtCd)
	}
	if _, body := ask("", "300"); body.RtCd != "1" || body.MsgCd != opsqInput {
		t.Errorf("no PDNO: rt_cd=%q msg_cd=%q; want 1, %s", body.RtCd, body.MsgCd, opsqInput)
	}
}
