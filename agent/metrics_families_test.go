package agent_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kauth/kauth/agent"
	"github.com/kauth/kauth/agent/internal/config"
)

// TestMetricsKeepTheirFamilies: a busy agent (tokens issued, proxied
// calls, a WebSocket client, a webhook) serves /metrics in the text format
// with its content type, and every family keeps the name, type, label
// names and help text it had when Prometheus's Go client wrote it
// (testdata/metrics_families.txt); no family is added unannounced. The
// scrape is parsed by the Prometheus text parser.
func TestMetricsKeepTheirFamilies(t *testing.T) {
	hook := new(webhookRecorder)
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	s := wsSetup(nil)
	s.cfg = func(c *agent.Config) { c.Alerts = []config.Webhook{{Name: "all", URL: hookSrv.URL}} }
	h := newHarness(t, s)
	for _, n := range []string{"kis-mock", "kiwoom-mock", "kis-real"} {
		h.token(n)
	}
	kisOK(t, h.kisPrice("kis-mock", nil))
	kiwoomOK(t, h.kiwoomInfo("kiwoom-mock", nil))
	w := h.ws("unix", "kis-mock")
	w.kisSubscribe("1", "H0STCNT0", "005930")
	w.wantControl("OPSP0000", "005930")
	h.sim.Tick()
	w.frame()
	eventually(t, "the first token alerts", func() bool { return len(hook.all()) >= 3 })

	r := h.viaUnix("GET", "/metrics", nil, http.Header{"Accept-Encoding": {"identity"}})
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatalf("the text parser refuses /metrics: %v\n%s", err, r.body)
	}

	f, err := os.Open("testdata/metrics_families.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 4)
		name, typ, labels, help := fields[0], fields[1], strings.Trim(fields[2], "{}"), fields[3]
		known[name] = true
		got := fams[name]
		if got == nil {
			if name == "kauth_budget_fallback" || strings.HasPrefix(name, "process_") && runtime.GOOS != "linux" {
				continue
			}
			t.Errorf("/metrics lacks %s", name)
			continue
		}
		if g := strings.ToLower(got.GetType().String()); g != typ {
			t.Errorf("%s is a %s; was a %s", name, g, typ)
		}
		if got.GetHelp() != help {
			t.Errorf("%s's help is %q; was %q", name, got.GetHelp(), help)
		}
		for _, m := range got.GetMetric() {
			if l := labelNames(m); l != labels {
				t.Errorf("a series of %s has labels {%s}; was {%s}", name, l, labels)
			}
		}
	}
	for name := range fams {
		if !known[name] {
			t.Errorf("/metrics has %s, which testdata/metrics_families.txt (and perhaps the README) does not list", name)
		}
	}
}

func labelNames(m *dto.Metric) string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}
