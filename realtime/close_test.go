package realtime_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/realtime"
)

// lockedBuffer is a log destination the session's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSessionCloseIsQuiet closes sessions whose connections are up, as the
// agent does when it stops. Close ends the connection cleanly, and the
// broker's answer to that close is no lost connection: nothing is logged as
// a reconnect, no reconnect is counted and the broker sees one session, for
// KIS and Kiwoom alike.
func TestSessionCloseIsQuiet(t *testing.T) {
	for _, b := range []kauth.Broker{kauth.KIS, kauth.Kiwoom} {
		t.Run(string(b), func(t *testing.T) {
			e := newEnv(t, b, nil)
			var logs lockedBuffer
			s := e.session(t, func(c *realtime.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			topic := samsung
			if b == kauth.Kiwoom {
				topic = realtime.Topic{ID: "0B", Key: "005930"}
			}
			subscribe(t, s.Join(64), topic)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := logs.String(); strings.Contains(got, "reconnecting") {
				t.Errorf("Close logged a reconnect:\n%s", got)
			}
			if n := s.Stats().Reconnects; n != 0 {
				t.Errorf("Reconnects = %d after Close; want 0", n)
			}
			eventually(t, "the broker to see the session closed", func() bool { return e.stats().Live == 0 })
			if st := e.stats(); st.Opened != 1 {
				t.Errorf("broker stats %+v; want one session opened", st)
			}
		})
	}
}
