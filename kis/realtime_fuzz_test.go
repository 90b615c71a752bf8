package kis

import (
	"testing"
	"unicode/utf8"

	"github.com/kauth/kauth/realtime"
)

// FuzzParseRealtime feeds the real-time frame decoder frames as KIS sends them and
// mutations of them: it must never panic, and a data frame's topic must
// come from the frame.
func FuzzParseRealtime(f *testing.F) {
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
		p := Realtime{}.Parse(msg)
		if p.Kind == realtime.FrameData && !p.ByID && utf8.ValidString(p.Topic.Key) && len(p.Topic.Key) > len(msg) {
			t.Fatalf("topic key longer than the frame")
		}
		if p.OK && (p.Rejected || p.InUse || p.Limit) {
			t.Fatalf("an answer both accepted and refused: %+v", p)
		}
	})
}
