package promtext

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// userHZ is the unit of the times in /proc/self/stat: USER_HZ, 100 on
// every Linux architecture Go supports (the Go client's procfs assumes it
// too).
const userHZ = 100

// NewProcessCollector returns a collector of the process's series, read
// from /proc at each scrape: process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds (from /proc/self/stat and /proc/stat's boot
// time), process_open_fds (/proc/self/fd), process_max_fds and
// process_virtual_memory_max_bytes (the soft limits), and
// process_network_receive_bytes_total and
// process_network_transmit_bytes_total (/proc/self/net/dev: every
// interface of the process's network namespace). A series that cannot be
// read is left out of that scrape.
func NewProcessCollector() Collector {
	cpu, rss, vsize, start := processDesc("process_cpu_seconds_total"), processDesc("process_resident_memory_bytes"),
		processDesc("process_virtual_memory_bytes"), processDesc("process_start_time_seconds")
	openFDs, maxFDs, maxVsize := processDesc("process_open_fds"), processDesc("process_max_fds"), processDesc("process_virtual_memory_max_bytes")
	rx, tx := processDesc("process_network_receive_bytes_total"), processDesc("process_network_transmit_bytes_total")
	bootTime := sync.OnceValues(readBootTime)
	pageSize := float64(os.Getpagesize())
	return CollectorFunc(func(b *Batch) {
		if st, err := readStat("/proc/self/stat"); err == nil {
			b.Add(cpu, float64(st.utime+st.stime)/userHZ)
			b.Add(rss, float64(st.rss)*pageSize)
			b.Add(vsize, float64(st.vsize))
			if boot, err := bootTime(); err == nil {
				b.Add(start, float64(boot)+float64(st.starttime)/userHZ)
			}
		}
		if n := countDir("/proc/self/fd"); n >= 0 {
			b.Add(openFDs, float64(n))
		}
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			b.Add(maxFDs, float64(lim.Cur))
		}
		if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
			b.Add(maxVsize, float64(lim.Cur))
		}
		if r, t, err := readNetDev("/proc/self/net/dev"); err == nil {
			b.Add(rx, float64(r))
			b.Add(tx, float64(t))
		}
	})
}

type procStat struct {
	utime, stime, starttime, vsize, rss uint64
}

// readStat reads the fields of proc_pid_stat(5) the series need.
func readStat(path string) (procStat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the fields start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, strconv.ErrSyntax
	}
	f := bytes.Fields(data[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, strconv.ErrSyntax
	}
	var st procStat
	for _, x := range []struct {
		field int
		v     *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rss}} {
		if *x.v, err = strconv.ParseUint(string(f[x.field-3]), 10, 64); err != nil {
			return procStat{}, err
		}
	}
	return st, nil
}

// readBootTime reads the boot time (btime, seconds since the epoch) from
// /proc/stat.
func readBootTime() (uint64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, strconv.ErrSyntax
}

// readNetDev sums the received and sent bytes of every interface in a
// /proc/net/dev table.
func readNetDev(path string) (rx, tx uint64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		_, counters, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue // the two header lines
		}
		f := bytes.Fields(counters)
		if len(f) < 9 {
			return 0, 0, strconv.ErrSyntax
		}
		r, err1 := strconv.ParseUint(string(f[0]), 10, 64)
		t, err2 := strconv.ParseUint(string(f[8]), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, strconv.ErrSyntax
		}
		rx += r
		tx += t
	}
	return rx, tx, nil
}
