// Command agentsoak measures the node agent on a node-sized /proc: it
// writes a fake /proc tree of 200 containers with 10 processes each
// (internal/procfs/procfstest), starts a server that accepts reports,
// runs the real `palisade agent` binary against both for a while, and
// prints the agent's average CPU and its peak RSS from /proc/<pid>.
//
//	go run ./hack/agentsoak -duration 2m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

func main() {
	duration := flag.Duration("duration", 2*time.Minute, "how long to run the agent")
	interval := flag.Duration("interval", 5*time.Second, "the agent's poll interval")
	bin := flag.String("palisade", "", "palisade binary (default: built into a temporary directory)")
	flag.Parse()
	if err := run(*duration, *interval, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "agentsoak:", err)
		os.Exit(1)
	}
}

func run(duration, interval time.Duration, bin string) error {
	dir, err := os.MkdirTemp("", "agentsoak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "palisade")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/palisade")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building palisade: %w", err)
		}
	}
	root := filepath.Join(dir, "proc")
	if err := writeTree(root); err != nil {
		return err
	}
	var reports, bytes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		reports.Add(1)
		bytes.Add(n)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "agent", "--server", srv.URL, "--token", "pls_soak", "--proc-root", root, "--node", "soak",
		"--interval", interval.String(), "--report-interval", (6 * interval).String())
	cmd.Env = append(os.Environ(), "PALISADE_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	start := time.Now()
	var peakRSS int64
	var cpu time.Duration
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		if rss, err := rssKB(pid); err == nil && rss > peakRSS {
			peakRSS = rss
		}
		if c, err := cpuTime(pid); err == nil {
			cpu = c
		}
	}
	elapsed := time.Since(start)
	_ = cmd.Wait()
	fmt.Printf("agent over %s, 2,000 processes in 200 containers, %s interval:\n", elapsed.Round(time.Second), interval)
	fmt.Printf("  CPU   %.2f%% of one core on average (%s of CPU)\n", 100*cpu.Seconds()/elapsed.Seconds(), cpu.Round(time.Millisecond))
	fmt.Printf("  RSS   %.1f MB peak\n", float64(peakRSS)/1024)
	fmt.Printf("  sent  %d reports, %.1f KB each on average (gzip)\n", reports.Load(), float64(bytes.Load())/float64(max(reports.Load(), 1))/1024)
	return nil
}

// writeTree writes 200 containers of 10 processes, each container's
// network namespace holding 20 connections.
func writeTree(root string) error {
	var procs []procfstest.Proc
	pid := 1000
	for c := range 200 {
		id := fmt.Sprintf("%064x", c+1)
		cgroup := fmt.Sprintf("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08x_0000_0000_0000_%012x.slice/cri-containerd-%s.scope\n", c, c, id)
		var socks []procfstest.Socket
		for i := range 20 {
			socks = append(socks, procfstest.Socket{Local: netip.MustParseAddrPort(fmt.Sprintf("10.1.%d.%d:%d", c/250, c%250+1, 40000+i)),
				Remote: netip.MustParseAddrPort(fmt.Sprintf("10.2.0.%d:443", i+1)), State: 1, Inode: uint64(c*100 + i + 1)})
		}
		for i := range 10 {
			pid++
			p := procfstest.Proc{PID: pid, PPID: 1, Exe: fmt.Sprintf("/app/bin/worker%d", i), Cmdline: procfstest.Args("worker", "--id", strconv.Itoa(i)),
				Cgroup: cgroup, NetNS: uint64(4026533000 + c), StartTicks: uint64(pid)}
			if i == 0 {
				p.Net = map[string]string{"tcp": procfstest.Table("tcp", socks...)}
			}
			procs = append(procs, p)
		}
	}
	return procfstest.Build(root, time.Now().Add(-time.Hour).Unix(), procs...)
}

func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// cpuTime is the user plus system time of pid, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short stat")
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
