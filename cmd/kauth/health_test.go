package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kauth/kauth"
)

// TestHealth: kauth health asks a running agent's /healthz over its socket
// (the default one too, and the config's) or over TCP without a key, exits 0 when it is up,
// and 1 with one line when nothing answers, something else answers or the
// answer does not come; a bad --addr is a usage error.
func TestHealth(t *testing.T) {
	sim := newTestSim(t)
	env := sim.env(t, kauth.Mock)
	dir := t.TempDir()
	runtimeDir := filepath.Join(dir, "run")
	sock := filepath.Join(runtimeDir, "kauth", "agent.sock")
	config := filepath.Join(dir, "kauth.yaml")
	os.WriteFile(config, []byte(`listen:
  socket: `+sock+`
  tcp: 127.0.0.1:0
accounts:
  - name: paper
    broker: kis
    env: mock
    appkey: {env: KIS_APPKEY}
    appsecret: {env: KIS_APPSECRET}
`), 0o600)

	srv := startServe(t, env, "--config", config)
	tcpRE := regexp.MustCompile(`tcp +http://(\S+)`)
	m := tcpRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("kauth serve printed no tcp address:\n%s", srv.stdout.String())
	}
	tcp := m[1]

	okRE := regexp.MustCompile(`^ok: 1 accounts, [01] tokens usable \(\S+\)\n$`)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"socket", nil, []string{"--addr", "unix:" + sock}},
		{"socket path", nil, []string{"--addr", sock}},
		{"default socket", map[string]string{"XDG_RUNTIME_DIR": runtimeDir}, nil},
		{"the config's socket", map[string]string{"KAUTH_CONFIG": config}, nil},
		{"tcp without a key", nil, []string{"--addr", tcp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", append([]string{"health"}, tc.args...)...)
			r.wantCode(t, 0)
			if !okRE.MatchString(r.stdout) {
				t.Errorf("kauth health stdout = %q; want %v", r.stdout, okRE)
			}
		})
	}

	// Not an agent: a server that answers something else, or nothing.
	notAgent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Host != "localhost" {
			t.Errorf("kauth health asked %s %s with Host %q; want GET /healthz with Host localhost", r.Method, r.URL.Path, r.Host)
		}
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer notAgent.Close()
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(hang)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"nothing listens", nil, []string{"--addr", closedAddr}, exitFailure, "no agent answers at " + closedAddr + ": connection refused"},
		{"no socket", map[string]string{"XDG_RUNTIME_DIR": filepath.Join(dir, "nowhere")}, nil, exitFailure,
			"no agent answers at unix:" + filepath.Join(dir, "nowhere", "kauth", "agent.sock") + ": no such file or directory"},
		{"not healthy", nil, []string{"--addr", strings.TrimPrefix(notAgent.URL, "http://")}, exitFailure, `answered HTTP 503 "draining"`},
		{"no answer", nil, []string{"--addr", strings.TrimPrefix(hanging.URL, "http://"), "--timeout", "200ms"}, exitFailure, "no answer from the agent at 127.0.0.1:"},
		{"a URL", nil, []string{"--addr", "http://" + tcp}, exitUsage, "want HOST:PORT or unix:/path/to/agent.sock"},
		{"no port", nil, []string{"--addr", "127.0.0.1"}, exitUsage, "want HOST:PORT"},
		{"port out of range", nil, []string{"--addr", "127.0.0.1:99999"}, exitUsage, "the port must be a number from 0 to 65535"},
		{"port not a number", nil, []string{"--addr", "localhost:http"}, exitUsage, "the port must be a number from 0 to 65535"},
		{"zero timeout", nil, []string{"--addr", tcp, "--timeout", "0s"}, exitUsage, "want a positive duration"},
		{"an argument", nil, []string{"now"}, exitUsage, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", append([]string{"health"}, tc.args...)...)
			r.wantCode(t, tc.code)
			if !strings.HasPrefix(r.stderr, "kauth health: ") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want one line starting kauth health: and containing %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q; want nothing", r.stdout)
			}
		})
	}

	if c := srv.stop(t); c != 0 {
		t.Errorf("kauth serve exited %d; want 0\n%s", c, srv.stderr.String())
	}
}
