//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package promtext

import (
	"runtime"
	"syscall"
)

// NewProcessCollector returns a collector of the process's series that
// macOS and the BSDs give cheaply: process_cpu_seconds_total (getrusage),
// process_max_fds (the soft limit) and, on macOS, process_open_fds (the
// entries of /dev/fd).
func NewProcessCollector() Collector {
	cpu, openFDs, maxFDs := processDesc("process_cpu_seconds_total"), processDesc("process_open_fds"), processDesc("process_max_fds")
	return CollectorFunc(func(b *Batch) {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			b.Add(cpu, float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
		}
		if runtime.GOOS == "darwin" {
			// Opening /dev/fd takes a descriptor, which it lists too.
			if n := countDir("/dev/fd"); n > 0 {
				b.Add(openFDs, float64(n-1))
			}
		}
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			b.Add(maxFDs, float64(lim.Cur))
		}
	})
}
