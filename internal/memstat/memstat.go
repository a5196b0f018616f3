// Package memstat reads how much memory this process uses, for the
// benchmarks: the resident set and its peak from /proc/self/status (0 where
// there is no /proc), and the Go heap's objects.
package memstat

import (
	"bufio"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Resident returns the process's resident set (VmRSS) and its peak
// (VmHWM), in bytes.
func Resident() (rss, peak uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		// "    123456 kB"
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// PeakRSS returns the process's peak resident set in bytes.
func PeakRSS() uint64 {
	_, peak := Resident()
	return peak
}

// HeapObjects returns the bytes of heap objects, live or not yet swept.
func HeapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
