// Command agentsoak measures the node agent on a node-sized /proc: it
// writes a fake /proc tree of 200 containers with 10 processes each
// (internal/procfs/procfstest), starts a server that accepts reports,
// runs the real `palisade agent` binary against both for a while, and
// prints the agent's average CPU and its RSS over time from /proc/<pid>:
// all of it, and the anonymous part (the agent's own memory; the rest is
// pages of the binary, which the kernel can reclaim under a memory limit).
//
//	go run ./hack/agentsoak -duration 2m
//
// With -away the server is away: "blackhole" accepts connections and
// never answers, "closed" refuses them (nothing listens on the port). It
// stays away for -away-for (the whole run by default), then answers, so
// that the recovery can be watched too. Short intervals make an outage of
// an hour many more windows than production would see:
//
//	go run ./hack/agentsoak -away blackhole -duration 60m -interval 1s -report-interval 2s
//
// The agent's counters come from its log (at most one line a minute while
// sends fail, one when they work again, one when it stops with reports
// unsent); the server side decodes what arrives and checks the order.
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

type config struct {
	duration, interval, reportInterval, awayFor, every time.Duration
	away, bin                                          string
	maxBuffered                                        int
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 2*time.Minute, "how long to run the agent")
	flag.DurationVar(&c.interval, "interval", 5*time.Second, "the agent's poll interval")
	flag.DurationVar(&c.reportInterval, "report-interval", 0, "the agent's report interval (default 6 × -interval)")
	flag.StringVar(&c.away, "away", "", `make the server away: "blackhole" (accepts, never answers) or "closed" (refuses connections)`)
	flag.DurationVar(&c.awayFor, "away-for", 0, "how long the server is away from the start (default: the whole run)")
	flag.DurationVar(&c.every, "every", 0, "print RSS and CPU this often while running (default: a tenth of -duration)")
	flag.IntVar(&c.maxBuffered, "max-buffered", 0, "the agent's --max-buffered (default: the agent's)")
	flag.StringVar(&c.bin, "palisade", "", "palisade binary (default: built into a temporary directory)")
	flag.Parse()
	if c.reportInterval == 0 {
		c.reportInterval = 6 * c.interval
	}
	if c.awayFor == 0 {
		c.awayFor = c.duration
	}
	if c.every == 0 {
		c.every = max(c.duration/10, time.Second)
	}
	if c.away != "" && c.away != "blackhole" && c.away != "closed" {
		fmt.Fprintln(os.Stderr, `agentsoak: -away is "blackhole" or "closed"`)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "agentsoak:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	dir, err := os.MkdirTemp("", "agentsoak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.bin == "" {
		c.bin = filepath.Join(dir, "palisade")
		cmd := exec.Command("go", "build", "-o", c.bin, "./cmd/palisade")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building palisade: %w", err)
		}
	}
	root := filepath.Join(dir, "proc")
	if err := writeTree(root); err != nil {
		return err
	}
	srv, err := startServer(c.away)
	if err != nil {
		return err
	}
	defer srv.close()

	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	args := []string{"agent", "--server", "http://" + srv.addr, "--token", "pls_soak", "--proc-root", root, "--node", "soak",
		"--interval", c.interval.String(), "--report-interval", c.reportInterval.String()}
	if c.maxBuffered > 0 {
		args = append(args, "--max-buffered", strconv.Itoa(c.maxBuffered))
	}
	cmd := exec.CommandContext(ctx, c.bin, args...)
	// Stop it as the kubelet would, so that it closes its last window.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	level := "warn"
	if c.away != "" {
		level = "info" // the recovery line is at Info
	}
	cmd.Env = append(os.Environ(), "PALISADE_LOG_LEVEL="+level)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	logs := &agentLog{}
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		logs.read(stderr, os.Stderr)
	}()

	pid := cmd.Process.Pid
	start := time.Now()
	fmt.Printf("agent pid %d, 2,000 processes in 200 containers, interval %s, report interval %s", pid, c.interval, c.reportInterval)
	if c.away != "" {
		fmt.Printf(", server away (%s) for %s", c.away, c.awayFor)
	}
	fmt.Printf(", for %s\n", c.duration)
	var samples []sample
	var cpu time.Duration
	back := c.away == ""
	nextPrint := c.every
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		at := time.Since(start)
		if !back && at >= c.awayFor {
			back = true
			if err := srv.comeBack(); err != nil {
				return err
			}
			fmt.Printf("  %8s  the server is back\n", at.Round(time.Second))
		}
		if ct, err := cpuTime(pid); err == nil && ctx.Err() == nil {
			cpu = ct
		}
		rss, anon, err := rssKB(pid)
		if err != nil || ctx.Err() != nil {
			continue
		}
		samples = append(samples, sample{at, rss, anon, cpu})
		if at >= nextPrint {
			nextPrint += c.every
			fmt.Printf("  %8s  RSS %5.1f MB (anonymous %5.1f MB)  CPU %5.2f%% so far  %s\n", at.Round(time.Second), mb(rss), mb(anon),
				100*cpu.Seconds()/at.Seconds(), logs.last())
		}
	}
	elapsed := time.Since(start)
	err = cmd.Wait()
	<-logsDone
	// Stopped by the deadline (SIGTERM) is the normal end; the exit
	// status is printed below.
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if len(samples) == 0 {
		return fmt.Errorf("no samples of the agent's RSS")
	}

	fmt.Printf("agent over %s:\n", elapsed.Round(time.Second))
	fmt.Printf("  exit       %v\n", cmd.ProcessState)
	fmt.Printf("  CPU        %.2f%% of one core on average (%s of CPU)\n", 100*cpu.Seconds()/elapsed.Seconds(), cpu.Round(time.Millisecond))
	peak := slices.MaxFunc(samples, func(x, y sample) int { return int(x.rssKB - y.rssKB) })
	peakAnon := slices.MaxFunc(samples, func(x, y sample) int { return int(x.anonKB - y.anonKB) })
	at := func(d time.Duration) sample {
		i, _ := slices.BinarySearchFunc(samples, d, func(s sample, d time.Duration) int { return int(s.at - d) })
		return samples[min(i, len(samples)-1)]
	}
	// "Start" is after the first minute (or tenth of the run): the first
	// full read and a few windows, not the process starting.
	first, mid, last := at(min(time.Minute, c.duration/10)), at(elapsed/2), samples[len(samples)-1]
	fmt.Printf("  RSS        start %.1f MB (at %s), mid %.1f MB (at %s), end %.1f MB (at %s), peak %.1f MB (at %s)\n",
		mb(first.rssKB), first.at.Round(time.Second), mb(mid.rssKB), mid.at.Round(time.Second),
		mb(last.rssKB), last.at.Round(time.Second), mb(peak.rssKB), peak.at.Round(time.Second))
	fmt.Printf("  anonymous  start %.1f MB, mid %.1f MB, end %.1f MB, peak %.1f MB (at %s)\n",
		mb(first.anonKB), mb(mid.anonKB), mb(last.anonKB), mb(peakAnon.anonKB), peakAnon.at.Round(time.Second))
	if c.away != "" && c.awayFor < c.duration {
		a, b := at(c.awayFor/2), at(c.awayFor-time.Second)
		fmt.Printf("  CPU away   %.2f%% of one core from %s to %s\n", 100*(b.cpu-a.cpu).Seconds()/(b.at-a.at).Seconds(),
			a.at.Round(time.Second), b.at.Round(time.Second))
	}
	fmt.Printf("  server     %d reports received, %.1f KB each on average (gzip), %d observations reported dropped, %d out of order\n",
		srv.reports.Load(), float64(srv.bytes.Load())/float64(max(srv.reports.Load(), 1))/1024, srv.dropped.Load(), srv.outOfOrder.Load())
	if c.away != "" {
		fmt.Printf("  agent log  %d warnings that sends fail, %d recoveries, %d stop lines\n", logs.warns, logs.recoveries, logs.stops)
		fmt.Printf("  counters   %s\n", logs.last())
	}
	return nil
}

type sample struct {
	at            time.Duration
	rssKB, anonKB int64
	cpu           time.Duration
}

// mb is MiB, as the figures in docs/benchmarks.md have always been.
func mb(kb int64) float64 { return float64(kb) / 1024 }

// server is the reports' sink, or a server that is away.
type server struct {
	addr                                string
	away                                string
	ln                                  net.Listener
	http                                *http.Server
	conns                               chan net.Conn
	isAway                              atomic.Bool
	reports, bytes, dropped, outOfOrder atomic.Int64
	mu                                  sync.Mutex
	lastWindow                          time.Time
}

func startServer(away string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{addr: ln.Addr().String(), away: away, ln: ln, conns: make(chan net.Conn)}
	s.http = &http.Server{Handler: http.HandlerFunc(s.accept), ReadHeaderTimeout: 10 * time.Second}
	switch away {
	case "":
		go s.http.Serve(ln)
	case "closed":
		ln.Close() // nothing listens until comeBack
		s.ln = nil
	case "blackhole":
		s.isAway.Store(true)
		go s.acceptLoop()
		go s.http.Serve(chanListener{ln, s.conns})
	}
	return s, nil
}

// acceptLoop accepts every connection; while away it reads and discards
// what the agent sends and never answers, else it hands it to s.http.
func (s *server) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			close(s.conns)
			return
		}
		if s.isAway.Load() {
			go func() {
				io.Copy(io.Discard, c) // until the agent gives up and closes
				c.Close()
			}()
			continue
		}
		s.conns <- c
	}
}

// comeBack makes the server answer.
func (s *server) comeBack() error {
	switch s.away {
	case "closed":
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("listening again on %s: %w", s.addr, err)
		}
		s.ln = ln
		go s.http.Serve(ln)
	case "blackhole":
		s.isAway.Store(false)
	}
	return nil
}

func (s *server) close() {
	s.http.Close()
	if s.ln != nil {
		s.ln.Close()
	}
}

// accept reads one report: its size, its dropped count and whether its
// window follows the last one's.
func (s *server) accept(w http.ResponseWriter, r *http.Request) {
	var n countingReader
	n.r = r.Body
	var rep struct {
		WindowStart time.Time `json:"windowStart"`
		Dropped     int64     `json:"dropped"`
	}
	zr, err := gzip.NewReader(&n)
	if err == nil {
		err = json.NewDecoder(zr).Decode(&rep)
		io.Copy(io.Discard, zr)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.reports.Add(1)
	s.bytes.Add(n.n)
	s.dropped.Add(rep.Dropped)
	s.mu.Lock()
	if !rep.WindowStart.After(s.lastWindow) {
		s.outOfOrder.Add(1)
	}
	s.lastWindow = rep.WindowStart
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type chanListener struct {
	net.Listener
	conns chan net.Conn
}

func (l chanListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

// agentLog copies the agent's log and keeps its latest counters.
type agentLog struct {
	mu                       sync.Mutex
	counters                 string
	warns, recoveries, stops int
}

var counterKeys = []string{"buffered", "bufferedKB", "dropped", "droppedTotal", "sendFailures", "consecutiveFailures", "lastSent", "lastError"}

var attr = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)

func (l *agentLog) read(r io.Reader, copyTo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(copyTo, line)
		var counted *int
		switch {
		case strings.Contains(line, `msg="sending reports fails`):
			counted = &l.warns
		case strings.Contains(line, `msg="sending reports works again"`):
			counted = &l.recoveries
		case strings.Contains(line, `msg="agent stopped with reports unsent"`):
			counted = &l.stops
		default:
			continue
		}
		kv := map[string]string{}
		for _, m := range attr.FindAllStringSubmatch(line, -1) {
			kv[m[1]] = m[2]
		}
		var b strings.Builder
		for _, k := range counterKeys {
			fmt.Fprintf(&b, "%s=%s ", k, kv[k])
		}
		l.mu.Lock()
		*counted++
		l.counters = strings.TrimSpace(b.String())
		l.mu.Unlock()
	}
}

func (l *agentLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counters
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

// rssKB is the resident memory of pid and its anonymous part, from
// /proc/<pid>/status.
func rssKB(pid int) (rss, anon int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	var found int
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "VmRSS" && k != "RssAnon" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			anon = n
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("no VmRSS or RssAnon in /proc/%d/status", pid)
	}
	return rss, anon, nil
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
