package promtext

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// NewGoCollector returns a collector of the Go runtime's series, under the
// names and help texts of the Go client's default Go collector:
// go_goroutines, go_threads, go_info{version}, go_gc_duration_seconds,
// go_gc_gogc_percent, go_gc_gomemlimit_bytes, go_sched_gomaxprocs_threads
// and the go_memstats_* series of runtime.MemStats. Each scrape reads the
// memory statistics once (runtime.ReadMemStats stops the world for a few
// microseconds).
func NewGoCollector() Collector {
	type memStat struct {
		d *Desc
		v func(*runtime.MemStats) float64
	}
	gauge := func(name, help string, v func(*runtime.MemStats) float64) memStat {
		return memStat{NewDesc(GaugeType, name, help), v}
	}
	counter := func(name, help string, v func(*runtime.MemStats) float64) memStat {
		return memStat{NewDesc(CounterType, name, help), v}
	}
	mem := []memStat{
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", func(m *runtime.MemStats) float64 { return float64(m.Alloc) }),
		counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", func(m *runtime.MemStats) float64 { return float64(m.TotalAlloc) }),
		gauge("go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", func(m *runtime.MemStats) float64 { return float64(m.BuckHashSys) }),
		counter("go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", func(m *runtime.MemStats) float64 { return float64(m.Frees) }),
		gauge("go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", func(m *runtime.MemStats) float64 { return float64(m.GCSys) }),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", func(m *runtime.MemStats) float64 { return float64(m.HeapAlloc) }),
		gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", func(m *runtime.MemStats) float64 { return float64(m.HeapIdle) }),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", func(m *runtime.MemStats) float64 { return float64(m.HeapInuse) }),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", func(m *runtime.MemStats) float64 { return float64(m.HeapObjects) }),
		gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", func(m *runtime.MemStats) float64 { return float64(m.HeapReleased) }),
		gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", func(m *runtime.MemStats) float64 { return float64(m.HeapSys) }),
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", func(m *runtime.MemStats) float64 { return float64(m.LastGC) / 1e9 }),
		counter("go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", func(m *runtime.MemStats) float64 { return float64(m.Mallocs) }),
		gauge("go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", func(m *runtime.MemStats) float64 { return float64(m.MCacheInuse) }),
		gauge("go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", func(m *runtime.MemStats) float64 { return float64(m.MCacheSys) }),
		gauge("go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", func(m *runtime.MemStats) float64 { return float64(m.MSpanInuse) }),
		gauge("go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", func(m *runtime.MemStats) float64 { return float64(m.MSpanSys) }),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", func(m *runtime.MemStats) float64 { return float64(m.NextGC) }),
		gauge("go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", func(m *runtime.MemStats) float64 { return float64(m.OtherSys) }),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", func(m *runtime.MemStats) float64 { return float64(m.StackInuse) }),
		gauge("go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", func(m *runtime.MemStats) float64 { return float64(m.StackSys) }),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", func(m *runtime.MemStats) float64 { return float64(m.Sys) }),
	}
	gcDuration := NewDesc(SummaryType, "go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.")
	gogc := NewDesc(GaugeType, "go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.")
	memLimit := NewDesc(GaugeType, "go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.")
	goroutines := NewDesc(GaugeType, "go_goroutines", "Number of goroutines that currently exist.")
	info := NewDesc(GaugeType, "go_info", "Information about the Go environment.", "version")
	maxProcs := NewDesc(GaugeType, "go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.")
	threads := NewDesc(GaugeType, "go_threads", "Number of OS threads created.")
	gcPercent := gogcPercent(os.Getenv("GOGC"))
	quantiles := []float64{0, 0.25, 0.5, 0.75, 1}
	return CollectorFunc(func(b *Batch) {
		b.Add(goroutines, float64(runtime.NumGoroutine()))
		n, _ := runtime.ThreadCreateProfile(nil)
		b.Add(threads, float64(n))
		b.Add(info, 1, runtime.Version())
		b.Add(maxProcs, float64(runtime.GOMAXPROCS(0)))
		b.Add(gogc, float64(gcPercent))
		b.Add(memLimit, float64(debug.SetMemoryLimit(-1)))

		var gc debug.GCStats
		gc.PauseQuantiles = make([]time.Duration, len(quantiles))
		debug.ReadGCStats(&gc)
		pauses := make([]float64, len(quantiles))
		for i, d := range gc.PauseQuantiles {
			pauses[i] = d.Seconds()
		}
		b.Summary(gcDuration, quantiles, pauses, gc.PauseTotal.Seconds(), uint64(gc.NumGC))

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for _, m := range mem {
			b.Add(m.d, m.v(&ms))
		}
	})
}

// gogcPercent is the GC percent the runtime starts with: GOGC as a number,
// -1 for "off", else 100 (runtime.readGOGC). kauth never changes it with
// debug.SetGCPercent, which would be the only other source.
func gogcPercent(env string) int {
	if env == "off" {
		return -1
	}
	if n, err := strconv.ParseInt(env, 10, 32); err == nil {
		return int(n)
	}
	return 100
}
