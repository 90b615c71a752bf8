package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/tcpproxy"
	"github.com/kauth/kauth/internal/testredis"
)

// rtAgent is one kauth serve process of the shared-session test, with its
// own link to Redis.
type rtAgent struct {
	d     *daemon
	proxy *tcpproxy.Proxy
	addr  string // its TCP listener
	key   string
	bot   *rtBot
	code  string
}

// rtBot is a KIS client of an agent's gateway; msgs carries what it
// reads.
type rtBot struct {
	c    *websocket.Conn
	msgs chan string
}

func (b *rtBot) read() {
	for {
		_, m, err := b.c.Read(context.Background())
		if err != nil {
			close(b.msgs)
			return
		}
		if !strings.Contains(string(m), "PINGPONG") {
			select {
			case b.msgs <- string(m):
			default: // the test reads only what it waits for
			}
		}
	}
}

// restored waits until the bot's subscription is answered again and a
// frame of code follows, and returns how long that took from since.
func (b *rtBot) restored(t *testing.T, code string, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	timeout := time.After(within - time.Since(since))
	answered := false
	var seen []string
	for {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				t.Fatalf("bot of %s: connection closed; saw %q", code, seen)
			}
			if strings.Contains(m, "SUBSCRIBE SUCCESS") {
				answered = true
			}
			if answered && strings.HasPrefix(m, "0|H0STCNT0|001|"+code+"^") {
				return time.Since(since)
			}
			if len(seen) < 20 && !strings.HasPrefix(m, "0|") {
				seen = append(seen, m)
			}
		case <-timeout:
			t.Fatalf("bot of %s not restored within %v; saw %q", code, within, seen)
		}
	}
}

// frame waits for the next frame of code.
func (b *rtBot) frame(t *testing.T, code string, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				t.Fatalf("bot of %s: connection closed", code)
			}
			if strings.HasPrefix(m, "0|H0STCNT0|001|"+code+"^") {
				return
			}
		case <-timeout:
			t.Fatalf("bot of %s got no frame within %v", code, within)
		}
	}
}

func (a *rtAgent) connectBot(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+a.addr+"/ws/kis-mock", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + a.key}}})
	if err != nil {
		t.Fatalf("bot dial %s: %v", a.addr, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	a.bot = &rtBot{c: c, msgs: make(chan string, 4096)}
	req := fmt.Sprintf(`{"header":{"approval_key":"placeholder","custtype":"P","tr_type":"1","content-type":"utf-8"},"body":{"input":{"tr_id":"H0STCNT0","tr_key":%q}}}`, a.code)
	if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	go a.bot.read()
}

// Three kauth serve processes on one Redis serve bots of one KIS app key:
// the simulator never sees a second session of it, bots on all three get
// their frames, and when the holder is killed, cut off from Redis or
// stalled on its link to Redis, the bots on the other agents are restored
// within 10 s.
func TestProcessRealtimeSharedAcrossAgents(t *testing.T) {
	if os.Getenv("KAUTH_LONG") == "" {
		t.Skip("takes about 20 s of real time; set KAUTH_LONG=1")
	}
	ro := testredis.Options(t)
	direct := testredis.Client(t)

	sim := brokersim.New()
	sim.WS.TickInterval = 100 * time.Millisecond
	sim.WS.PingInterval = time.Second
	var kb [12]byte
	rand.Read(kb[:])
	appKey, secret := "PS"+hex.EncodeToString(kb[:]), base64.StdEncoding.EncodeToString(kb[:])+"secret"
	sim.Register(kauth.KIS, kauth.Mock, appKey, secret)
	srv := httptest.NewServer(sim)
	defer srv.Close()

	storeKey := make([]byte, 32)
	rand.Read(storeKey)
	fp := kauth.Fingerprint(appKey)
	codes := []string{"005930", "000660", "035420"}
	agents := make([]*rtAgent, 3)
	for i := range agents {
		p, err := tcpproxy.New(ro.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		dir := t.TempDir()
		cfg := fmt.Sprintf(`listen:
  socket: "off"
  tcp: 127.0.0.1:0
  key_file: %s
accounts:
  - name: kis-mock
    broker: kis
    env: mock
    appkey: {env: RT_APPKEY}
    appsecret: {env: RT_SECRET}
    base_url: %s
`, filepath.Join(dir, "agent.key"), brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock))
		cfgPath := filepath.Join(dir, "kauth.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		userinfo := ""
		if ro.Password != "" {
			userinfo = ":" + ro.Password + "@"
		}
		env := map[string]string{
			"KAUTH_STORE":     fmt.Sprintf("redis://%s%s/%d", userinfo, p.Addr(), ro.DB),
			"KAUTH_KEY":       base64.StdEncoding.EncodeToString(storeKey),
			"KAUTH_CACHE_DIR": filepath.Join(dir, "cache"),
			"RT_APPKEY":       appKey,
			"RT_SECRET":       secret,
		}
		d := startDaemon(t, env, "serve", "--config", cfgPath)
		m := d.waitLine(t, regexp.MustCompile(`^\s+tcp\s+http://(\S+) \(send Authorization: Bearer <the key in (\S+)>\)`))
		k, err := os.ReadFile(m[2])
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = &rtAgent{d: d, proxy: p, addr: m[1], key: strings.TrimSpace(string(k)), code: codes[i]}
	}
	t.Cleanup(func() {
		// The leases of this test's app key.
		keys, _ := direct.Keys(context.Background(), "kauth:{kis/mock/"+fp+"}:*").Result()
		for _, k := range keys {
			direct.Del(context.Background(), k)
		}
		if t.Failed() {
			for i, a := range agents {
				t.Logf("agent %d:\n%s", i, a.d.output())
			}
		}
	})
	for _, a := range agents {
		a.connectBot(t)
	}
	for _, a := range agents {
		a.bot.frame(t, a.code, 15*time.Second)
	}
	stats := func() brokersim.WSStats { return sim.WSStats(kauth.KIS, kauth.Mock, appKey) }
	wantTopics := func(live []*rtAgent) {
		t.Helper()
		var want []string
		for _, a := range live {
			want = append(want, "H0STCNT0|"+a.code)
		}
		slices.Sort(want)
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := stats().Topics
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("simulator's subscriptions = %v; want %v", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if st := stats(); st.Opened != 1 || st.Refused != 0 || st.Live != 1 {
		t.Fatalf("simulator: %+v; want one session", st)
	}
	wantTopics(agents)

	// holder returns the agent the lease names.
	holder := func(among []*rtAgent) *rtAgent {
		t.Helper()
		keys, err := direct.Keys(context.Background(), "kauth:{kis/mock/"+fp+"}:rt:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, ":fence") {
				continue
			}
			v, _ := direct.Get(context.Background(), k).Result()
			for _, a := range among {
				if strings.HasSuffix(v, " "+a.addr) {
					return a
				}
			}
		}
		t.Fatalf("no agent among %d holds the lease (keys %v)", len(among), keys)
		return nil
	}
	others := func(all []*rtAgent, but *rtAgent) []*rtAgent {
		var out []*rtAgent
		for _, a := range all {
			if a != but {
				out = append(out, a)
			}
		}
		return out
	}
	const within = 10 * time.Second

	// 1. SIGKILL of the holder.
	h := holder(agents)
	began := time.Now()
	if err := h.d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	live := others(agents, h)
	for _, a := range live {
		t.Logf("SIGKILL: bot of %s restored after %v", a.code, a.bot.restored(t, a.code, began, within))
	}
	wantTopics(live)

	// 2. The holder's link to Redis is cut, then 3. stalled (open, but
	// silent). The agent cut off comes back as a follower once its link
	// does.
	for _, fault := range []string{"cut", "stall"} {
		h := holder(live)
		began := time.Now()
		if fault == "cut" {
			h.proxy.Cut()
		} else {
			h.proxy.Stall()
		}
		for _, a := range others(live, h) {
			t.Logf("%s: bot of %s restored after %v", fault, a.code, a.bot.restored(t, a.code, began, within))
		}
		h.proxy.Restore()
		// The agent that was cut off serves its bot again, through the
		// new holder.
		h.bot.restored(t, h.code, began, 60*time.Second)
		wantTopics(live)
	}

	st := stats()
	if st.Refused != 0 || st.Replaced != 0 || st.Live != 1 {
		t.Errorf("simulator: %+v; want never a second session of the app key", st)
	}
	t.Logf("simulator: %d sessions opened one after another, none refused", st.Opened)
	for _, a := range live {
		if code := a.d.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("kauth serve exited %d after SIGTERM", code)
		}
	}
	for i, a := range agents {
		if out := a.d.output(); strings.Contains(out, secret) || strings.Contains(out, appKey) || strings.Contains(out, base64.StdEncoding.EncodeToString(storeKey)) {
			t.Errorf("agent %d printed a secret", i)
		}
	}
}
