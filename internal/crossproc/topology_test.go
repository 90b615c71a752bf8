package crossproc_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/internal/longtest"
	"github.com/kauth/kauth/internal/redistopo"
)

// Cold processes on a Redis Cluster and on a Sentinel setup issue once
// between them, as they do on one server.
func TestTopologyProcessesIssueOnce(t *testing.T) {
	longtest.Skip(t, "a Redis Cluster and a Sentinel setup under a storm of processes; store/redis keeps one of each in the default run")
	for name, start := range map[string]func(t *testing.T) string{
		"cluster":  func(t *testing.T) string { return redistopo.StartCluster(t, 3).URL() },
		"sentinel": func(t *testing.T) string { return redistopo.StartSentinel(t).URL("/0") },
	} {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			sim, base := newSim(t)
			env := []string{envBase + "=" + base, envStore + "=redis:" + url, envPrefix + "=kauthtopo",
				"KAUTH_KEY=" + base64.StdEncoding.EncodeToString(newKey(t))}
			first := storm(t, 6, env)
			sameNonEmpty(t, first)
			if got := issued(sim); got != 1 {
				t.Errorf("6 cold processes on a Redis %s: issuances = %d; want 1", name, got)
			}
			if again := storm(t, 1, env); again[0] != first[0] {
				t.Errorf("a restarted process got token %q; want the shared %q", again[0], first[0])
			}
		})
	}
}

// A failover in the middle of a storm of restarting processes (Sentinel
// promotes the replica; a Cluster master is killed) costs no second
// issuance, and no caller waits past its deadline.
func TestFailoverDuringStormIssuesOnce(t *testing.T) {
	longtest.Skip(t, "a Sentinel and a Cluster failover under a storm of processes; store/redis keeps a Sentinel failover under load in the default run")
	cases := map[string]func(t *testing.T) (url string, failover func(context.Context) error){
		"sentinel": func(t *testing.T) (string, func(context.Context) error) {
			s := redistopo.StartSentinel(t)
			return s.URL("/0"), func(ctx context.Context) error { _, err := s.Failover(ctx); return err }
		},
		"cluster": func(t *testing.T) (string, func(context.Context) error) {
			c := redistopo.StartCluster(t, 3)
			return c.URL(), func(ctx context.Context) error {
				k := brokersim.DemoKISMock.Credentials().Key()
				m, err := c.MasterOf(ctx, "kauthfo:{"+k.String()+"}:entry")
				if err != nil {
					return err
				}
				m.Kill()
				return nil
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			url, failover := setup(t)
			sim, base := newSim(t)
			// The children restart until told to stop, a second after the
			// failover is complete, rather than for a fixed time that a slow
			// failover could outlast.
			stop := filepath.Join(t.TempDir(), "stop")
			env := []string{envBase + "=" + base, envStore + "=redis:" + url, envPrefix + "=kauthfo",
				"KAUTH_KEY=" + base64.StdEncoding.EncodeToString(newKey(t)), envLoop + "=60s", envStop + "=" + stop}
			done := make(chan []string, 1)
			go func() { done <- storm(t, 4, env) }()
			// Let the storm issue its one token and spread it first.
			deadline := time.Now().Add(5 * time.Second)
			for issued(sim) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := failover(ctx)
			if err == nil {
				// Rounds on the new master, after the failover.
				time.Sleep(time.Second)
			}
			if werr := os.WriteFile(stop, nil, 0o600); werr != nil {
				t.Fatal(werr)
			}
			if err != nil {
				<-done
				t.Fatal(err)
			}
			outs := <-done
			var fps = map[string]bool{}
			for i, out := range outs {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				last := lines[len(lines)-1]
				if !strings.HasPrefix(last, "failed=") {
					t.Fatalf("child %d printed %q", i, out)
				}
				if strings.Contains(last, "late=") && !strings.HasSuffix(last, "late=0") {
					t.Errorf("child %d: callers past their deadline: %s", i, last)
				}
				t.Logf("child %d: %s", i, last)
				for _, l := range lines[:len(lines)-1] {
					if fp, ok := strings.CutPrefix(l, "token: "); ok {
						fps[fp] = true
					} else {
						t.Logf("child %d: %s", i, l)
					}
				}
			}
			if got := issued(sim); got != 1 || len(fps) != 1 {
				t.Errorf("a %s failover during the storm: issuances = %d, distinct tokens served = %d; want 1 and 1", name, got, len(fps))
			}
		})
	}
}
