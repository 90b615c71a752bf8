package promtext

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a float64 that only goes up, safe for concurrent use. The zero
// value is 0.
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v, which must not be negative.
func (c *Counter) Add(v float64) {
	if v < 0 {
		panic("promtext: a counter cannot decrease")
	}
	addFloat(&c.bits, v)
}

// Value is the counter's value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// Gauge is a float64 that goes up and down, safe for concurrent use.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Value is the gauge's value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Histogram counts observations in buckets, safe for concurrent use. Create
// it with NewHistogram.
type Histogram struct {
	upper  []float64       // the buckets' upper bounds, increasing
	counts []atomic.Uint64 // per bucket (not cumulative), and one above the last
	sum    atomic.Uint64   // float64 bits
}

// NewHistogram returns a histogram with buckets of upper bounds upper
// (increasing; a last +Inf is implied).
func NewHistogram(upper []float64) *Histogram {
	upper = slices.Clone(upper)
	if n := len(upper); n > 0 && math.IsInf(upper[n-1], 1) {
		upper = upper[:n-1]
	}
	for i := 1; i < len(upper); i++ {
		if !(upper[i-1] < upper[i]) {
			panic("promtext: histogram buckets must increase")
		}
	}
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// Observe counts v: in the first bucket whose bound is at least v.
func (h *Histogram) Observe(v float64) {
	h.counts[sort.SearchFloat64s(h.upper, v)].Add(1)
	addFloat(&h.sum, v)
}

// Snapshot returns the counts of each bucket alone (and one above the
// last) and the sum of the observations.
func (h *Histogram) Snapshot(counts []uint64) ([]uint64, float64) {
	counts = counts[:0]
	for i := range h.counts {
		counts = append(counts, h.counts[i].Load())
	}
	return counts, math.Float64frombits(h.sum.Load())
}

// vec holds the children of a family with labels, by their label values.
type vec[T any] struct {
	desc *Desc
	make func() *T
	mu   sync.RWMutex
	m    map[string]*child[T]
}

type child[T any] struct {
	values []string
	v      *T
}

// key joins label values with a byte that is never in valid UTF-8.
func key(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values, "\xff")
}

// With returns the child of these label values, made at zero if there is
// none.
func (v *vec[T]) With(values ...string) *T {
	if len(values) != len(v.desc.labels) {
		panic("promtext: " + v.desc.name + ": wrong number of label values")
	}
	k := key(values)
	v.mu.RLock()
	c := v.m[k]
	v.mu.RUnlock()
	if c != nil {
		return c.v
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c = v.m[k]; c == nil {
		c = &child[T]{values: slices.Clone(values), v: v.make()}
		v.m[k] = c
	}
	return c.v
}

// DeleteMatch deletes the children whose label name has value; it
// returns how many.
func (v *vec[T]) DeleteMatch(name, value string) int {
	i := slices.Index(v.desc.labels, name)
	if i < 0 {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for k, c := range v.m {
		if c.values[i] == value {
			delete(v.m, k)
			n++
		}
	}
	return n
}

func (v *vec[T]) each(f func(values []string, x *T)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, c := range v.m {
		f(c.values, c.v)
	}
}

// CounterVec is a counter family with labels.
type CounterVec struct{ vec[Counter] }

// NewCounterVec returns a counter family.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{vec[Counter]{desc: NewDesc(CounterType, name, help, labels...), make: func() *Counter { return new(Counter) }, m: map[string]*child[Counter]{}}}
}

// Collect adds the family's series.
func (v *CounterVec) Collect(b *Batch) {
	v.each(func(values []string, c *Counter) { b.Add(v.desc, c.Value(), values...) })
}

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ vec[Gauge] }

// NewGaugeVec returns a gauge family.
func NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{vec[Gauge]{desc: NewDesc(GaugeType, name, help, labels...), make: func() *Gauge { return new(Gauge) }, m: map[string]*child[Gauge]{}}}
}

// Collect adds the family's series.
func (v *GaugeVec) Collect(b *Batch) {
	v.each(func(values []string, g *Gauge) { b.Add(v.desc, g.Value(), values...) })
}

// HistogramVec is a histogram family with labels, each child with the same
// buckets.
type HistogramVec struct {
	vec[Histogram]
	upper []float64
}

// NewHistogramVec returns a histogram family with buckets of upper bounds
// upper.
func NewHistogramVec(name, help string, upper []float64, labels ...string) *HistogramVec {
	proto := NewHistogram(upper)
	return &HistogramVec{
		vec: vec[Histogram]{desc: NewDesc(HistogramType, name, help, labels...), make: func() *Histogram {
			return &Histogram{upper: proto.upper, counts: make([]atomic.Uint64, len(proto.upper)+1)}
		}, m: map[string]*child[Histogram]{}},
		upper: proto.upper,
	}
}

// Collect adds the family's series.
func (v *HistogramVec) Collect(b *Batch) {
	var counts []uint64
	v.each(func(values []string, h *Histogram) {
		var sum float64
		counts, sum = h.Snapshot(counts)
		b.Histogram(v.desc, v.upper, counts, sum, values...)
	})
}
