package realtime

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseKIS feeds the KIS frame decoder frames as KIS sends them and
// mutations of them: it must never panic, and a data frame's topic must
// come from the frame.
func FuzzParseKIS(f *testing.F) {
	for _, s := range []string{
		"0|H0STCNT0|001|005930^093000^71000^3^0^0.00",
		"0|H0STCNT0|004|005930^123929^73100^5",
		"1|H0STCNI0|001|c2VjcmV0c2VjcmV0c2VjcmV0",
		`{"header":{"tr_id":"PINGPONG","datetime":"20261201093000"}}`,
		`{"header":{"tr_id":"H0STCNT0","tr_key":"005930","encrypt":"N"},"body":{"rt_cd":"0","msg_cd":"OPSP0000","msg1":"SUBSCRIBE SUCCESS","output":{"iv":"0123456789abcdef","key":"abcdefghijklmnopqrstuvwxyzabcdef"}}}`,
		`{"header":{"tr_id":"H0STCNT0","tr_key":"000660","encrypt":"N"},"body":{"rt_cd":"1","msg_cd":"OPSP0008","msg1":"MAX SUBSCRIBE OVER"}}`,
		`{"header":{"tr_id":"H0STCNT0","tr_key":"005930"},"body":{"rt_cd":"1","msg_cd":"OPSP8996","msg1":"ALREADY IN USE appkey"}}`,
		"0|", "0||", "1|x", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		p := kisProtocol{}.parse(msg)
		if p.kind == pData && !p.byID && utf8.ValidString(p.topic.Key) && len(p.topic.Key) > len(msg) {
			t.Fatalf("topic key longer than the frame")
		}
		if p.ok && (p.rejected || p.inUse) {
			t.Fatalf("an answer both accepted and refused: %+v", p)
		}
	})
}

// FuzzParseKiwoom does the same for Kiwoom's JSON frames.
func FuzzParseKiwoom(f *testing.F) {
	for _, s := range []string{
		`{"trnm":"REAL","data":[{"type":"0B","name":"주식체결","item":"005930","values":{"10":"+71000","20":"093000"}}]}`,
		`{"trnm":"REAL","data":[{"type":"0B","item":"005930","values":{}},{"type":"0B","item":"000660","values":{}}]}`,
		`{"trnm":"LOGIN","return_code":0,"return_msg":""}`,
		`{"trnm":"LOGIN","return_code":8005,"return_msg":"토큰 인증에 실패했습니다[CODE=8005, MESSAGE=Token이 유효하지 않습니다]"}`,
		`{"trnm":"REG","return_code":"0","return_msg":""}`,
		`{"trnm":"REG","return_code":1,"return_msg":"등록 종목수 초과"}`,
		`{"trnm":"PING"}`,
		`{"trnm":"SYSTEM","code":"R10001","message":"동일한 App key로 접속이 되었습니다"}`,
		`{"trnm":"REAL","data":null}`, `{"trnm":"REAL","data":[1,"x",null]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		p := kiwoomProtocol{}.parse(msg)
		if p.kind == pData && len(p.entries) != len(p.raw) {
			t.Fatalf("%d entries for %d raw entries", len(p.entries), len(p.raw))
		}
		if p.kind == pLogin && p.ok && p.rejected {
			t.Fatalf("a LOGIN both accepted and refused: %+v", p)
		}
	})
}
