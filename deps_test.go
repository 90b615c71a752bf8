package kauth_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLayers keeps the packages' layering: the engine knows no broker, the
// stores know no broker and no broker list, and the agent does not link
// the simulator, nor do the parts of the agent that live in packages of
// their own, which know nothing of the agent that uses them (the WebSocket
// gateway knows no broker either); the simulator serves brokers from its
// own families, and a broker package knows none of the layers above it.
func TestLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/kauth/kauth"
	brokerPkgs := []string{mod + "/kis", mod + "/kiwoom", mod + "/ls", mod + "/db", mod + "/toss", mod + "/brokers"}
	rules := []struct {
		pkgs      string   // a go list pattern
		forbidden []string // these and the packages under them
		exact     []string // these alone
	}{
		{mod, brokerPkgs, nil},
		{mod + "/store/...", brokerPkgs, nil},
		{mod + "/agent/...", []string{mod + "/brokersim"}, nil},
		{mod + "/agent/internal/...", []string{mod + "/brokersim", mod + "/cmd"}, []string{mod + "/agent"}},
		// The WebSocket gateway asks a broker's Provider for its real-time
		// protocol: it links no broker, nor the simulator its tests use.
		{mod + "/agent/internal/gateway", append([]string{mod + "/brokersim"}, brokerPkgs...), nil},
		// The proxy and the facade ask a broker's Provider for what they
		// need of it, never a broker package.
		{mod + "/agent/internal/proxy", append([]string{mod + "/brokersim", mod + "/cmd"}, brokerPkgs...), []string{mod + "/agent"}},
		{mod + "/brokersim", brokerPkgs, nil},
		{mod + "/kis " + mod + "/kiwoom " + mod + "/ls " + mod + "/db", []string{mod + "/agent", mod + "/brokers", mod + "/brokersim", mod + "/cmd"}, nil},
	}
	for _, r := range rules {
		t.Run(r.pkgs, func(t *testing.T) {
			args := append([]string{"list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}, strings.Fields(r.pkgs)...)
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", r.pkgs, err, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				fields := strings.Fields(line)
				if len(fields) == 0 {
					continue
				}
				for _, dep := range fields[1:] {
					if slices.Contains(r.exact, dep) {
						t.Errorf("%s imports %s", fields[0], dep)
					}
					for _, bad := range r.forbidden {
						if dep == bad || strings.HasPrefix(dep, bad+"/") {
							t.Errorf("%s imports %s", fields[0], dep)
						}
					}
				}
			}
		})
	}
}

// TestCommandLinksNoPrometheusClient: every kauth command, `kauth token`
// too, runs the initialization of every package linked into the one
// binary. Prometheus's client and the protobuf packages it brings cost
// each start about 2–3 ms of it (its default registry's Go and process
// collectors, protobuf descriptors, procfs); the agent writes its /metrics
// with internal/promtext instead (expvar and runtime/metrics came with
// the client). Tests may still use them.
func TestCommandLinksNoPrometheusClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "./cmd/kauth").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/kauth: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/prometheus/") || strings.HasPrefix(dep+"/", "google.golang.org/protobuf/") ||
			dep == "expvar" || dep == "runtime/metrics" {
			t.Errorf("the kauth binary links %s", dep)
		}
	}
}
