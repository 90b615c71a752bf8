// Package proc reads what the benchmark tools measure of a process from
// Linux's /proc: its CPU time, its memory and its context switches.
package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux build that matters.
const clockTicks = 100

// CPU returns the user+system CPU seconds pid has used.
func CPU(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: split after it.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(ut+st) / clockTicks, nil
}

// Mem returns VmRSS and VmHWM (the peak) of pid, in KiB.
func Mem(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		var v int64
		if _, err := fmt.Sscanf(l, "VmRSS: %d kB", &v); err == nil {
			rss = v
		}
		if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &v); err == nil {
			hwm = v
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return rss, hwm, nil
}

// Switches returns the context switches, voluntary and not, of every
// thread of pid so far.
func Switches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			var v int64
			if _, err := fmt.Sscanf(l, "voluntary_ctxt_switches: %d", &v); err == nil {
				n += v
			}
			if _, err := fmt.Sscanf(l, "nonvoluntary_ctxt_switches: %d", &v); err == nil {
				n += v
			}
		}
	}
	return n
}
