package bench

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/memstat"
)

// maxProcFile bounds what is read of a /proc file.
const maxProcFile = 1 << 20

// procLines calls fn with each line of a /proc file, until fn returns
// false. A missing file (not Linux) calls fn never.
func procLines(path string, fn func(line string) bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxProcFile))
	for sc.Scan() {
		if !fn(sc.Text()) {
			return
		}
	}
}

func machine() Machine {
	m := Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUModel:   "unknown",
		// SetGCPercent returns the previous value; set it straight back.
		GCPercent:   debug.SetGCPercent(100),
		MemoryLimit: debug.SetMemoryLimit(-1),
	}
	debug.SetGCPercent(m.GCPercent)
	procLines("/proc/cpuinfo", func(line string) bool {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			m.CPUModel = strings.TrimSpace(v)
			return false
		}
		return true
	})
	procLines("/proc/loadavg", func(line string) bool {
		if f := strings.Fields(line); len(f) > 0 {
			m.LoadAverage, _ = strconv.ParseFloat(f[0], 64)
		}
		return false
	})
	return m
}

// memNow reads the process's resident memory from /proc/self/status and
// the Go heap in use.
func memNow() MemSample {
	var s MemSample
	s.RSS, s.PeakRSS = memstat.Resident()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.Heap = ms.HeapAlloc
	return s
}
