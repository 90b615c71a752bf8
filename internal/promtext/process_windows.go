package promtext

import (
	"syscall"
)

// NewProcessCollector returns a collector of the process's series that
// Windows gives cheaply: process_cpu_seconds_total and
// process_start_time_seconds, from GetProcessTimes.
func NewProcessCollector() Collector {
	cpu, start := processDesc("process_cpu_seconds_total"), processDesc("process_start_time_seconds")
	return CollectorFunc(func(b *Batch) {
		h, err := syscall.GetCurrentProcess()
		if err != nil {
			return
		}
		var created, exited, kernel, user syscall.Filetime
		if syscall.GetProcessTimes(h, &created, &exited, &kernel, &user) != nil {
			return
		}
		// Kernel and user times count 100 ns intervals.
		ticks := func(t syscall.Filetime) float64 { return float64(uint64(t.HighDateTime)<<32 | uint64(t.LowDateTime)) }
		b.Add(cpu, (ticks(kernel)+ticks(user))/1e7)
		b.Add(start, float64(created.Nanoseconds())/1e9)
	})
}
