package promtext

import (
	"os"
	"strings"
)

// processDesc describes a process series under the name and help text of
// the Go client's process collector; a counter if its name ends in _total.
// Which series a system gives is in NewProcessCollector of its file.
func processDesc(name string) *Desc {
	var help string
	switch name {
	case "process_cpu_seconds_total":
		help = "Total user and system CPU time spent in seconds."
	case "process_max_fds":
		help = "Maximum number of open file descriptors."
	case "process_network_receive_bytes_total":
		help = "Number of bytes received by the process over the network."
	case "process_network_transmit_bytes_total":
		help = "Number of bytes sent by the process over the network."
	case "process_open_fds":
		help = "Number of open file descriptors."
	case "process_resident_memory_bytes":
		help = "Resident memory size in bytes."
	case "process_start_time_seconds":
		help = "Start time of the process since unix epoch in seconds."
	case "process_virtual_memory_bytes":
		help = "Virtual memory size in bytes."
	case "process_virtual_memory_max_bytes":
		help = "Maximum amount of virtual memory available in bytes."
	default:
		panic("promtext: no process series " + name)
	}
	typ := GaugeType
	if strings.HasSuffix(name, "_total") {
		typ = CounterType
	}
	return NewDesc(typ, name, help)
}

// countDir counts the entries of a directory; -1 if it cannot be read.
func countDir(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(256)
		n += len(names)
		if err != nil || len(names) == 0 {
			return n
		}
	}
}
