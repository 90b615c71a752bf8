package toss

import (
	"testing"

	"github.com/kauth/kauth/realtime"
)

// FuzzParseRealtime feeds the real-time frame decoder Toss's frames (the
// AsyncAPI document's examples) and mutations of them: it must never
// panic, an accepted declaration is never a refusal too, and a data frame
// always names its topic.
func FuzzParseRealtime(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","topic":"trade:kr:005930","data":{"price":"72000","volume":"10","timestamp":"2026-12-07T09:30:00.000+09:00","currency":"KRW"}}`,
		`{"type":"message","topic":"orderbook:us:AAPL","data":{"asks":[],"bids":[]}}`,
		`{"type":"subscriptions","id":"req-1","subscribed":["trade:us:AAPL","personal:order:3"],"rejected":[]}`,
		`{"type":"subscriptions","id":"req-2","subscribed":["trade:kr:005930"],"rejected":[{"target":"trade:kr:999999","code":"stock-not-found","message":"해당 종목을 찾을 수 없습니다."}]}`,
		`{"type":"error","error":{"code":"no-codes","message":"codes must be a non-empty array of strings"},"id":"req-1"}`,
		`{"type":"error","error":{"code":"rate-limit-exceeded","message":"declare rate limit exceeded"}}`,
		`{"type":"error","error":{"code":"server-shutdown","message":"서버가 재시작됩니다. 재연결해주세요."}}`,
		`{"type":"error","error":null}`, `{"type":"subscriptions","rejected":[1,null]}`,
		`{"type":"pong"}`, `PING`, `[]`, ``, `{"type":"message"}`, `{"type":"message","topic":":"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		p := Realtime{}.Parse(msg)
		if p.OK && (p.Limit || p.Retry) {
			t.Fatalf("an answer both accepted and refused: %+v", p)
		}
		if p.Kind == realtime.FrameData && p.Topic == (realtime.Topic{}) {
			t.Fatalf("a data frame of no topic: %q", msg)
		}
	})
}
