// Package promtext writes metrics in the Prometheus text exposition
// format, version 0.0.4, for the agent's /metrics:
// https://prometheus.io/docs/instrumenting/exposition_formats/
//
// Prometheus's own client (github.com/prometheus/client_golang) does this
// job well, but kauth is one binary: the agent (`kauth serve`) and the quick
// client commands (`kauth token`, `kauth version`) link the same packages,
// and Go initializes every linked package before main runs. The client's
// package initialization, and that of the protobuf, procfs and
// runtime/metrics packages it brings, cost every `kauth token` about 2–3 ms
// at start for metrics it never serves. The text format is small and
// stable, and the agent's series are few and simple: counters, gauges, one
// histogram, values read at scrape time, and the Go runtime's and the
// process's basics. The tests parse this package's output with the
// client's own parser (github.com/prometheus/common/expfmt), which the
// binary does not link.
//
// What it writes: a # HELP and a # TYPE line per family, families sorted
// by name and their series by label values (label names in each series
// sorted too), help text and label values escaped as the format says
// (backslash, double quote in label values, line feed; invalid UTF-8
// replaced by U+FFFD so that the scrape still parses), values formatted as
// the Go client formats them (shortest 'g' form, +Inf, -Inf, NaN), and
// histograms as cumulative _bucket{le} series ending with le="+Inf", then
// _sum and _count. A family with no series is left out, and so is a second
// series with the labels of one already written.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Type is a metric family's type, as the # TYPE line names it.
type Type uint8

// The types kauth exports.
const (
	CounterType Type = iota + 1
	GaugeType
	HistogramType
	SummaryType
)

func (t Type) String() string {
	switch t {
	case CounterType:
		return "counter"
	case GaugeType:
		return "gauge"
	case HistogramType:
		return "histogram"
	case SummaryType:
		return "summary"
	}
	return "untyped"
}

// Desc describes a metric family: its name, help text, type and label
// names. Create it with NewDesc.
type Desc struct {
	name, help string
	typ        Type
	labels     []string // in the order values are given
	order      []int    // indices into labels, sorted by label name
}

// NewDesc describes a family whose series carry labels, in the order their
// values will be given. It panics on a name or label name the format does
// not allow, or a label given twice: they are constants of the program.
func NewDesc(typ Type, name, help string, labels ...string) *Desc {
	if !validName(name, true) {
		panic("promtext: invalid metric name " + strconv.Quote(name))
	}
	d := &Desc{name: name, help: help, typ: typ, labels: labels, order: make([]int, len(labels))}
	for i, l := range labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") ||
			(typ == HistogramType && l == "le") || (typ == SummaryType && l == "quantile") {
			panic("promtext: invalid label name " + strconv.Quote(l) + " of " + name)
		}
		if slices.Index(labels, l) != i {
			panic("promtext: label " + l + " of " + name + " given twice")
		}
		d.order[i] = i
	}
	slices.SortFunc(d.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return d
}

// Name is the family's name.
func (d *Desc) Name() string { return d.name }

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || (colon && c == ':') || (i > 0 && '0' <= c && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// A Collector adds its series to a scrape's Batch.
type Collector interface {
	Collect(*Batch)
}

// CollectorFunc is a function that is a Collector: values read at scrape
// time.
type CollectorFunc func(*Batch)

// Collect calls f.
func (f CollectorFunc) Collect(b *Batch) { f(b) }

// Batch holds the series of one scrape, gathered from the collectors, to
// be written sorted. Its methods are not safe for concurrent use; each
// scrape has its own.
type Batch struct {
	fams map[string]*family
}

// family is one family's series. Their label values (in label name order)
// and the numbers of histograms and summaries are kept in flat slices, so
// that a scrape of thousands of series makes few allocations.
type family struct {
	desc   *Desc
	values []string
	series []series
	nums   []float64 // bounds and cumulative counts; quantiles and values
}

type series struct {
	at    int     // its label values: values[at : at+len(desc.labels)]
	value float64 // the value; a histogram's or summary's sum
	count uint64  // a histogram's or summary's count
	nums  int     // its numbers: nums[nums : nums+2*n]
	n     int     // buckets or quantiles
}

// NewBatch returns an empty Batch.
func NewBatch() *Batch { return &Batch{fams: map[string]*family{}} }

func (b *Batch) family(d *Desc, values []string) (*family, int) {
	if len(values) != len(d.labels) {
		panic(fmt.Sprintf("promtext: %s has labels %v, given %d values", d.name, d.labels, len(values)))
	}
	f := b.fams[d.name]
	if f == nil {
		f = &family{desc: d}
		b.fams[d.name] = f
	} else if f.desc != d && (f.desc.typ != d.typ || !slices.Equal(f.desc.labels, d.labels)) {
		panic("promtext: two families named " + d.name + " with different types or labels")
	}
	at := len(f.values)
	for _, i := range f.desc.order {
		f.values = append(f.values, values[i])
	}
	return f, at
}

// Add adds a counter's or gauge's series with the label values given in
// the order of d's labels.
func (b *Batch) Add(d *Desc, v float64, values ...string) {
	f, at := b.family(d, values)
	f.series = append(f.series, series{at: at, value: v})
}

// Histogram adds a histogram's series: upper are its buckets' upper
// bounds, increasing and without +Inf; counts are the observations in each
// bucket alone (not cumulative), with one more at the end for those above
// the last bound. The series' count is their sum.
func (b *Batch) Histogram(d *Desc, upper []float64, counts []uint64, sum float64, values ...string) {
	if len(counts) != len(upper)+1 {
		panic("promtext: " + d.name + ": want one count per bucket and one above the last")
	}
	f, at := b.family(d, values)
	s := series{at: at, value: sum, nums: len(f.nums), n: len(upper)}
	for i, u := range upper {
		s.count += counts[i]
		f.nums = append(f.nums, u, float64(s.count))
	}
	s.count += counts[len(upper)]
	f.series = append(f.series, s)
}

// Summary adds a summary's series: the values at quantiles q.
func (b *Batch) Summary(d *Desc, q, v []float64, sum float64, count uint64, values ...string) {
	f, at := b.family(d, values)
	s := series{at: at, value: sum, count: count, nums: len(f.nums), n: len(q)}
	for i := range q {
		f.nums = append(f.nums, q[i], v[i])
	}
	f.series = append(f.series, s)
}

// WriteTo writes the batch in the text format.
func (b *Batch) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	names := make([]string, 0, len(b.fams))
	for name, f := range b.fams {
		if len(f.series) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var buf []byte
	for _, name := range names {
		f := b.fams[name]
		f.sort()
		buf = append(buf[:0], "# HELP "...)
		buf = append(buf, name...)
		buf = append(buf, ' ')
		buf = appendEscaped(buf, f.desc.help, false)
		buf = append(buf, "\n# TYPE "...)
		buf = append(buf, name...)
		buf = append(buf, ' ')
		buf = append(buf, f.desc.typ.String()...)
		buf = append(buf, '\n')
		var last []string
		for i, s := range f.series {
			vals := f.values[s.at : s.at+len(f.desc.labels)]
			if i > 0 && slices.Equal(vals, last) {
				continue
			}
			last = vals
			buf = f.appendSeries(buf, s, vals)
			if len(buf) > 16<<10 {
				if _, err := bw.Write(buf); err != nil {
					return cw.n, err
				}
				buf = buf[:0]
			}
		}
		if _, err := bw.Write(buf); err != nil {
			return cw.n, err
		}
	}
	err := bw.Flush()
	return cw.n, err
}

// sort sorts the family's series by their label values.
func (f *family) sort() {
	n := len(f.desc.labels)
	slices.SortStableFunc(f.series, func(a, b series) int {
		return slices.Compare(f.values[a.at:a.at+n], f.values[b.at:b.at+n])
	})
}

func (f *family) appendSeries(buf []byte, s series, vals []string) []byte {
	d := f.desc
	switch d.typ {
	case HistogramType:
		for i := range s.n {
			buf = f.appendLine(buf, "_bucket", vals, "le", f.nums[s.nums+2*i], f.nums[s.nums+2*i+1])
		}
		buf = f.appendLine(buf, "_bucket", vals, "le", math.Inf(1), float64(s.count))
		buf = f.appendLine(buf, "_sum", vals, "", 0, s.value)
		return f.appendLine(buf, "_count", vals, "", 0, float64(s.count))
	case SummaryType:
		for i := range s.n {
			buf = f.appendLine(buf, "", vals, "quantile", f.nums[s.nums+2*i], f.nums[s.nums+2*i+1])
		}
		buf = f.appendLine(buf, "_sum", vals, "", 0, s.value)
		return f.appendLine(buf, "_count", vals, "", 0, float64(s.count))
	}
	return f.appendLine(buf, "", vals, "", 0, s.value)
}

// appendLine appends one sample line: the name with suffix, the labels
// (and extra with the value x if extra is not empty) and v.
func (f *family) appendLine(buf []byte, suffix string, vals []string, extra string, x, v float64) []byte {
	buf = append(buf, f.desc.name...)
	buf = append(buf, suffix...)
	if len(vals) > 0 || extra != "" {
		buf = append(buf, '{')
		for i, j := range f.desc.order {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, f.desc.labels[j]...)
			buf = append(buf, `="`...)
			buf = appendEscaped(buf, vals[i], true)
			buf = append(buf, '"')
		}
		if extra != "" {
			if len(vals) > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, extra...)
			buf = append(buf, `="`...)
			buf = AppendFloat(buf, x)
			buf = append(buf, '"')
		}
		buf = append(buf, '}')
	}
	buf = append(buf, ' ')
	buf = AppendFloat(buf, v)
	return append(buf, '\n')
}

// AppendFloat appends v as the Go client formats a sample value: the
// shortest 'g' form that reads back as v (1, 0.25, 86400, 2.81892e+06),
// 0 for -0, and +Inf, -Inf and NaN.
func AppendFloat(buf []byte, v float64) []byte {
	switch {
	case v == 0: // -0 too
		return append(buf, '0')
	case math.IsNaN(v):
		return append(buf, "NaN"...)
	case math.IsInf(v, 1):
		return append(buf, "+Inf"...)
	case math.IsInf(v, -1):
		return append(buf, "-Inf"...)
	}
	return strconv.AppendFloat(buf, v, 'g', -1, 64)
}

// appendEscaped appends s escaped as the format says: in help text a
// backslash and a line feed, in a label value a double quote too. Invalid
// UTF-8 becomes U+FFFD, which a parser accepts.
func appendEscaped(buf []byte, s string, quote bool) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			buf = append(buf, `\\`...)
		case c == '\n':
			buf = append(buf, `\n`...)
		case c == '"' && quote:
			buf = append(buf, `\"`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Registry holds the collectors of one /metrics. The zero value is ready
// to use; it is safe for concurrent use.
type Registry struct {
	mu sync.Mutex
	cs []Collector
}

// Register adds collectors.
func (r *Registry) Register(cs ...Collector) {
	r.mu.Lock()
	r.cs = append(r.cs, cs...)
	r.mu.Unlock()
}

// Gather collects every registered collector's series now.
func (r *Registry) Gather() *Batch {
	r.mu.Lock()
	cs := slices.Clone(r.cs)
	r.mu.Unlock()
	b := NewBatch()
	for _, c := range cs {
		c.Collect(b)
	}
	return b
}

// WriteTo gathers the series and writes them in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	return r.Gather().WriteTo(w)
}
