package testlog_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/kauth/kauth/internal/testlog"
)

func TestBufferConcurrentWriters(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("len(String()) = %d; want 800", n)
	}
}

func TestLoggerAndWarnings(t *testing.T) {
	var b testlog.Buffer
	log := b.Logger()
	log.Debug("quiet")
	log.Info("fine")
	log.Warn("careful")
	log.Error("broken")
	if !strings.Contains(b.String(), "msg=quiet") {
		t.Errorf("debug line missing; log:\n%s", b.String())
	}
	w := b.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "msg=careful") || !strings.Contains(w[1], "msg=broken") {
		t.Errorf("Warnings() = %q; want the WARN and ERROR lines", w)
	}
}
