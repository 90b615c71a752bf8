package kiwoom

import (
	"testing"

	"github.com/kauth/kauth/realtime"
)

// FuzzParseRealtime feeds the real-time frame decoder Kiwoom's JSON frames
// and mutations of them: it must never panic, and a frame's entries match
// its raw entries.
func FuzzParseRealtime(f *testing.F) {
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
		p := Realtime{}.Parse(msg)
		if p.Kind == realtime.FrameData && len(p.Entries) != len(p.Raw) {
			t.Fatalf("%d entries for %d raw entries", len(p.Entries), len(p.Raw))
		}
		if p.Kind == realtime.FrameLogin && p.OK && p.Rejected {
			t.Fatalf("a LOGIN both accepted and refused: %+v", p)
		}
	})
}
