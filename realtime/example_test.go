package realtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/realtime"
)

// One KIS session shared by two members, against the simulator.
func Example() {
	sim := brokersim.New()
	sim.WS.TickInterval = -1 // frames on Tick only
	ts := httptest.NewServer(sim)
	defer ts.Close()
	base := brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock)
	creds := brokersim.DemoKISMock.Credentials()
	quiet := slog.New(slog.DiscardHandler)

	keys, err := kis.NewApprovalManager(&kis.Provider{BaseURL: base}, kauth.Config{Credentials: creds, Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	proto := kis.Realtime{}
	sess, err := realtime.New(realtime.Config{Credentials: creds, Keys: keys, Protocol: proto, URL: proto.URL(kauth.Mock, base), Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer sess.Close()

	ctx := context.Background()
	a, b := sess.Join(16), sess.Join(16)
	topic := realtime.Topic{ID: "H0STCNT0", Key: "005930"}
	ack, _ := a.Subscribe(ctx, topic)
	b.Subscribe(ctx, topic)
	fmt.Println(strings.Contains(string(ack.Raw), "SUBSCRIBE SUCCESS"))
	sim.Tick()
	for _, m := range []*realtime.Member{a, b} {
		msg := <-m.Messages()
		fmt.Println(msg.Kind, msg.Topic, strings.SplitN(string(msg.Raw), "^", 2)[0])
	}
	st := sim.WSStats(kauth.KIS, kauth.Mock, creds.AppKey)
	fmt.Println("upstream sessions:", st.Opened, "subscriptions:", st.Subscribes)
	// Output:
	// true
	// data H0STCNT0|005930 0|H0STCNT0|001|005930
	// data H0STCNT0|005930 0|H0STCNT0|001|005930
	// upstream sessions: 1 subscriptions: 1
}
