package promtext_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kauth/kauth/internal/promtext"
)

// parse parses a scrape with the Prometheus text parser, by family name.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the text parser refuses the scrape: %v\n%s", err, text)
	}
	return fams
}

func write(t *testing.T, r *promtext.Registry) string {
	t.Helper()
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sample is one series of the comparison with the Go client.
type sample struct {
	typ    promtext.Type
	name   string
	help   string
	labels []string // names
	values []string
	v      float64
}

var hostileHelp = "Help with a backslash \\ and a\nline feed, \"quotes\" and 한글."

var samples = []sample{
	{promtext.GaugeType, "z_last", "Written last.", nil, nil, 3},
	{promtext.CounterType, "a_total", hostileHelp, []string{"b", "a"}, []string{"x", "2"}, 0},
	{promtext.CounterType, "a_total", hostileHelp, []string{"b", "a"}, []string{"y", "1"}, 1},
	{promtext.CounterType, "a_total", hostileHelp, []string{"b", "a"}, []string{"a", "10"}, 12345678},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"neg1"}, -1},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"half"}, 0.5},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"million"}, 1e6},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"rss"}, 2818920},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"expiry"}, 86399.010631415},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"tiny"}, 1e-7},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"huge"}, 1e21},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"maxint64"}, math.MaxInt64},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"maxuint64"}, math.MaxUint64},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"nan"}, math.NaN()},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"inf"}, math.Inf(1)},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"-inf"}, math.Inf(-1)},
	{promtext.GaugeType, "values", "Every kind of number.", []string{"v"}, []string{"negzero"}, math.Copysign(0, -1)},
	{promtext.GaugeType, "hostile", "Label values the format escapes.", []string{"account"}, []string{`say "hi"`}, 1},
	{promtext.GaugeType, "hostile", "Label values the format escapes.", []string{"account"}, []string{`back\slash\`}, 2},
	{promtext.GaugeType, "hostile", "Label values the format escapes.", []string{"account"}, []string{"two\nlines"}, 3},
	{promtext.GaugeType, "hostile", "Label values the format escapes.", []string{"account"}, []string{"삼성 {x=\"1\"} ,="}, 4},
	{promtext.GaugeType, "hostile", "Label values the format escapes.", []string{"account"}, []string{""}, 5},
}

// clientCollector gives the samples to the Go client as const metrics.
type clientCollector struct{ hist *prometheus.HistogramVec }

func (c clientCollector) Describe(chan<- *prometheus.Desc) {}

func (c clientCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range samples {
		vt := prometheus.GaugeValue
		if s.typ == promtext.CounterType {
			vt = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(s.name, s.help, s.labels, nil), vt, s.v, s.values...)
	}
	ch <- prometheus.MustNewConstSummary(prometheus.NewDesc("pauses_seconds", "A summary.", nil, nil), 7, 0.125,
		map[float64]float64{0: 0.001, 0.25: 0.002, 0.5: 0.003, 0.75: 0.004, 1: 0.5})
	c.hist.Collect(ch)
}

var buckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

var observations = map[string][]float64{
	"kis-mock":    {0.005, 0.0051, 0.02, 31, 0.5, 0.5, 0},
	"kiwoom-mock": {1e-9},
	`a"b`:         {10, 30, 29.999},
}

// TestSameTextAsTheGoClient: for the same series the writer's text is the
// Go client's, byte for byte: the order of families, series and labels,
// the escaping of help and label values, every kind of number, a
// histogram's buckets, sum and count, and a summary's quantiles.
func TestSameTextAsTheGoClient(t *testing.T) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latency_seconds", Help: "A histogram.", Buckets: buckets}, []string{"account"})
	ours := promtext.NewHistogramVec("latency_seconds", "A histogram.", buckets, "account")
	for account, obs := range observations {
		for _, v := range obs {
			hist.WithLabelValues(account).Observe(v)
			ours.With(account).Observe(v)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(clientCollector{hist})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := expfmt.NewEncoder(&want, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}

	var r promtext.Registry
	descs := map[string]*promtext.Desc{}
	r.Register(promtext.CollectorFunc(func(b *promtext.Batch) {
		for _, s := range samples {
			d := descs[s.name]
			if d == nil {
				d = promtext.NewDesc(s.typ, s.name, s.help, s.labels...)
				descs[s.name] = d
			}
			b.Add(d, s.v, s.values...)
		}
	}), ours)
	summary := promtext.NewDesc(promtext.SummaryType, "pauses_seconds", "A summary.")
	r.Register(promtext.CollectorFunc(func(b *promtext.Batch) {
		b.Summary(summary, []float64{0, 0.25, 0.5, 0.75, 1}, []float64{0.001, 0.002, 0.003, 0.004, 0.5}, 0.125, 7)
	}))
	got := write(t, &r)
	if got != want.String() {
		t.Errorf("the text differs from the Go client's:\n%s", lineDiff(want.String(), got))
	}
	parse(t, got)
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d:\n  client: %q\n  ours:   %q", i+1, a, b))
		}
	}
	return strings.Join(out, "\n")
}

// TestInvalidUTF8StillParses: a label value that is not UTF-8 (an account
// name is the user's) is written with U+FFFD in place of each bad byte,
// and the scrape still parses; the Go client refused the whole scrape.
func TestInvalidUTF8StillParses(t *testing.T) {
	var r promtext.Registry
	d := promtext.NewDesc(promtext.GaugeType, "names", "Help \xff with a bad byte.", "account", "app")
	r.Register(promtext.CollectorFunc(func(b *promtext.Batch) {
		b.Add(d, 1, "bad\xff\xfe\"\\\nname", "ok")
		b.Add(d, 2, "\xc3", "x\xe2\x82")
	}))
	fams := parse(t, write(t, &r))
	f := fams["names"]
	if f == nil || len(f.GetMetric()) != 2 {
		t.Fatalf("parsed %v", fams)
	}
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		var l []string
		for _, p := range m.GetLabel() {
			l = append(l, p.GetName()+"="+p.GetValue())
		}
		got[strings.Join(l, ",")] = m.GetGauge().GetValue()
	}
	want := map[string]float64{
		"account=bad\uFFFD\"\\\nname,app=ok": 1,
		"account=\uFFFD,app=x\uFFFD":         2,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parsed %v; want %v", got, want)
	}
	if h := f.GetHelp(); h != "Help \uFFFD with a bad byte." {
		t.Errorf("help = %q", h)
	}
}

// TestEmptyAndDuplicateSeries: a family with no series is left out (as the
// Go client does) and a second series with the labels of one already
// written is dropped, so that the scrape still parses.
func TestEmptyAndDuplicateSeries(t *testing.T) {
	var r promtext.Registry
	vec := promtext.NewCounterVec("empty_total", "No series yet.", "account")
	d := promtext.NewDesc(promtext.GaugeType, "dup", "Two collectors report the same series.", "k")
	r.Register(vec,
		promtext.CollectorFunc(func(b *promtext.Batch) { b.Add(d, 1, "a") }),
		promtext.CollectorFunc(func(b *promtext.Batch) { b.Add(d, 2, "a"); b.Add(d, 3, "b") }))
	s := write(t, &r)
	if strings.Contains(s, "empty_total") {
		t.Errorf("an empty family is written:\n%s", s)
	}
	want := "# HELP dup Two collectors report the same series.\n# TYPE dup gauge\ndup{k=\"a\"} 1\ndup{k=\"b\"} 3\n"
	if s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
	vec.With("a").Inc()
	if n := vec.DeleteMatch("account", "a"); n != 1 {
		t.Errorf("DeleteMatch deleted %d", n)
	}
	if strings.Contains(write(t, &r), "empty_total") {
		t.Error("a deleted series is still written")
	}
}

// TestNewDescRefusesBadNames: names the format does not allow, reserved
// labels and a label given twice are programming errors.
func TestNewDescRefusesBadNames(t *testing.T) {
	for _, c := range []struct {
		typ    promtext.Type
		name   string
		labels []string
	}{
		{promtext.GaugeType, "", nil},
		{promtext.GaugeType, "1abc", nil},
		{promtext.GaugeType, "a-b", nil},
		{promtext.GaugeType, "ok", []string{"a:b"}},
		{promtext.GaugeType, "ok", []string{"__name"}},
		{promtext.GaugeType, "ok", []string{"x", "x"}},
		{promtext.HistogramType, "ok", []string{"le"}},
		{promtext.SummaryType, "ok", []string{"quantile"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDesc(%v, %q, %q) did not panic", c.typ, c.name, c.labels)
				}
			}()
			promtext.NewDesc(c.typ, c.name, "help", c.labels...)
		}()
	}
	promtext.NewDesc(promtext.GaugeType, "kauth:ok_1", "fine", "_a", "b1")
}

// TestHandler: the text format's content type (Prometheus 3 refuses a
// scrape without one it knows), gzip when the request accepts it, plain
// when it does not or gives gzip a quality of 0.
func TestHandler(t *testing.T) {
	var r promtext.Registry
	c := promtext.NewCounterVec("hits_total", "Hits.", "path")
	c.With("/").Add(3)
	r.Register(c)
	h := promtext.Handler(&r)
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"identity", false},
		{"deflate, GZIP;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.0, identity", false},
		{"br, x-gzip", false},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		res := w.Result()
		if ct := res.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Accept-Encoding %q: Content-Type %q", tc.accept, ct)
		}
		body := w.Body.Bytes()
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v; want %v", tc.accept, got, tc.gzip)
		}
		if tc.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		f := parse(t, string(body))["hits_total"]
		if f.GetType() != dto.MetricType_COUNTER || f.GetMetric()[0].GetCounter().GetValue() != 3 {
			t.Errorf("Accept-Encoding %q: parsed %v", tc.accept, f)
		}
	}
}

// TestConcurrentScrapes: scrapes while series are added, counted, observed
// and deleted all parse, and their counters never go down (run with
// -race).
func TestConcurrentScrapes(t *testing.T) {
	var r promtext.Registry
	c := promtext.NewCounterVec("events_total", "Events.", "account", "kind")
	g := promtext.NewGaugeVec("level", "Level.", "account")
	h := promtext.NewHistogramVec("wait_seconds", "Waits.", []float64{0.1, 1}, "account")
	var total promtext.Counter
	totalDesc := promtext.NewDesc(promtext.CounterType, "all_total", "All events.")
	r.Register(c, g, h, promtext.CollectorFunc(func(b *promtext.Batch) { b.Add(totalDesc, total.Value()) }))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				acct := fmt.Sprintf("acct%d", (w*7+i)%20)
				c.With(acct, "issued").Inc()
				total.Inc()
				g.With(acct).Set(float64(i))
				h.With(acct).Observe(float64(i%3) / 2)
				if i%50 == 49 {
					g.DeleteMatch("account", acct)
				}
			}
		})
	}
	last := 0.0
	for range 50 {
		w := httptest.NewRecorder()
		promtext.Handler(&r).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		fams := parse(t, w.Body.String())
		v := fams["all_total"].GetMetric()[0].GetCounter().GetValue()
		if v < last {
			t.Errorf("all_total went from %v to %v", last, v)
		}
		last = v
		for _, m := range fams["wait_seconds"].GetMetric() {
			hs := m.GetHistogram()
			// The parser keeps the +Inf bucket: 0.1, 1 and +Inf.
			if b := hs.GetBucket(); len(b) != 3 || b[0].GetCumulativeCount() > b[1].GetCumulativeCount() || b[2].GetCumulativeCount() != hs.GetSampleCount() {
				t.Errorf("histogram %v", hs)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestHistogramBuckets: a bucket counts the observations up to and
// including its bound; the +Inf bucket and the count are all of them.
func TestHistogramBuckets(t *testing.T) {
	var r promtext.Registry
	h := promtext.NewHistogramVec("d_seconds", "D.", []float64{0.5, 1, math.Inf(1)}, "a")
	for _, v := range []float64{0.5, 0.50001, 1, 7} {
		h.With("x").Observe(v)
	}
	r.Register(h)
	want := `d_seconds_bucket{a="x",le="0.5"} 1
d_seconds_bucket{a="x",le="1"} 3
d_seconds_bucket{a="x",le="+Inf"} 4
d_seconds_sum{a="x"} 9.00001
d_seconds_count{a="x"} 4
`
	if s := write(t, &r); !strings.HasSuffix(s, want) {
		t.Errorf("got\n%s\nwant its end to be\n%s", s, want)
	}
}

// TestGoAndProcessSeries: the Go runtime's series on every system, and on
// Linux the process's, with the Go client's types and plausible values.
func TestGoAndProcessSeries(t *testing.T) {
	var r promtext.Registry
	r.Register(promtext.NewGoCollector(), promtext.NewProcessCollector())
	runtime.GC()
	fams := parse(t, write(t, &r))
	want := map[string]dto.MetricType{
		"go_gc_duration_seconds": dto.MetricType_SUMMARY, "go_gc_gogc_percent": dto.MetricType_GAUGE,
		"go_gc_gomemlimit_bytes": dto.MetricType_GAUGE, "go_goroutines": dto.MetricType_GAUGE,
		"go_info": dto.MetricType_GAUGE, "go_sched_gomaxprocs_threads": dto.MetricType_GAUGE, "go_threads": dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes": dto.MetricType_GAUGE, "go_memstats_alloc_bytes_total": dto.MetricType_COUNTER,
		"go_memstats_buck_hash_sys_bytes": dto.MetricType_GAUGE, "go_memstats_frees_total": dto.MetricType_COUNTER,
		"go_memstats_gc_sys_bytes": dto.MetricType_GAUGE, "go_memstats_heap_alloc_bytes": dto.MetricType_GAUGE,
		"go_memstats_heap_idle_bytes": dto.MetricType_GAUGE, "go_memstats_heap_inuse_bytes": dto.MetricType_GAUGE,
		"go_memstats_heap_objects": dto.MetricType_GAUGE, "go_memstats_heap_released_bytes": dto.MetricType_GAUGE,
		"go_memstats_heap_sys_bytes": dto.MetricType_GAUGE, "go_memstats_last_gc_time_seconds": dto.MetricType_GAUGE,
		"go_memstats_mallocs_total": dto.MetricType_COUNTER, "go_memstats_mcache_inuse_bytes": dto.MetricType_GAUGE,
		"go_memstats_mcache_sys_bytes": dto.MetricType_GAUGE, "go_memstats_mspan_inuse_bytes": dto.MetricType_GAUGE,
		"go_memstats_mspan_sys_bytes": dto.MetricType_GAUGE, "go_memstats_next_gc_bytes": dto.MetricType_GAUGE,
		"go_memstats_other_sys_bytes": dto.MetricType_GAUGE, "go_memstats_stack_inuse_bytes": dto.MetricType_GAUGE,
		"go_memstats_stack_sys_bytes": dto.MetricType_GAUGE, "go_memstats_sys_bytes": dto.MetricType_GAUGE,
	}
	var counters, gauges []string
	switch runtime.GOOS {
	case "linux":
		counters = []string{"process_cpu_seconds_total", "process_network_receive_bytes_total", "process_network_transmit_bytes_total"}
		gauges = []string{"process_max_fds", "process_open_fds", "process_resident_memory_bytes", "process_start_time_seconds",
			"process_virtual_memory_bytes", "process_virtual_memory_max_bytes"}
	case "darwin":
		counters, gauges = []string{"process_cpu_seconds_total"}, []string{"process_max_fds", "process_open_fds"}
	case "dragonfly", "freebsd", "netbsd", "openbsd":
		counters, gauges = []string{"process_cpu_seconds_total"}, []string{"process_max_fds"}
	case "windows":
		counters, gauges = []string{"process_cpu_seconds_total"}, []string{"process_start_time_seconds"}
	}
	for _, n := range counters {
		want[n] = dto.MetricType_COUNTER
	}
	for _, n := range gauges {
		want[n] = dto.MetricType_GAUGE
	}
	for name, typ := range want {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: got %v; want a %v", name, f, typ)
		}
	}
	value := func(name string) float64 {
		f := fams[name]
		if f == nil {
			return math.NaN()
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if v := value("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if m := fams["go_info"].GetMetric()[0]; m.GetLabel()[0].GetValue() != runtime.Version() {
		t.Errorf("go_info = %v", m)
	}
	if s := fams["go_gc_duration_seconds"].GetMetric()[0].GetSummary(); s.GetSampleCount() < 1 || len(s.GetQuantile()) != 5 {
		t.Errorf("go_gc_duration_seconds = %v after a GC", s)
	}
	for name := range fams {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected %s on %s", name, runtime.GOOS)
		}
	}
	now := float64(time.Now().UnixNano()) / 1e9
	if v := value("process_start_time_seconds"); fams["process_start_time_seconds"] != nil && (v > now+1 || v < now-24*3600) {
		t.Errorf("process_start_time_seconds = %v; now is %v", v, now)
	}
	if runtime.GOOS != "linux" {
		return
	}
	for _, n := range []string{"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds"} {
		if v := value(n); !(v > 0) {
			t.Errorf("%s = %v", n, v)
		}
	}
	if v := value("process_resident_memory_bytes"); v > value("process_virtual_memory_bytes") {
		t.Errorf("RSS %v above the virtual size %v", v, value("process_virtual_memory_bytes"))
	}
}
