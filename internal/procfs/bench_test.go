package procfs

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

// benchTree writes the /proc of a busy node: 2,000 processes in 200
// containers of 100 pods, half under the systemd cgroup driver on cgroup
// v2 (containerd), half under cgroupfs on a v1 hierarchy of 14
// controllers (CRI-O), with command lines of a few hundred bytes, some
// holding a secret.
func benchTree(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	if err := procfstest.WriteStat(root, testBtime); err != nil {
		b.Fatal(err)
	}
	pid := 1000
	for c := range 200 {
		id := testID("container" + strconv.Itoa(c))
		pod := fmt.Sprintf("%08x-2c4a-4b7e-9f0d-%012x", c/2, c/2)
		var cgroup string
		if c%2 == 0 {
			sdPod := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + pod[:8] + "_2c4a_4b7e_9f0d_" + pod[24:] + ".slice"
			cgroup = "0::" + sdPod + "/cri-containerd-" + id + ".scope\n"
		} else {
			cgroup = v1Lines("/kubepods/burstable/pod"+pod+"/crio-"+id, "/")
		}
		for i := range 10 {
			args := []string{"/usr/local/bin/server", "--config=/etc/app/config.yaml", "--listen=:8080", "--metrics-addr=:9090",
				"--log-level=info", "--upstream=http://backend.default.svc.cluster.local:8080", "--worker=" + strconv.Itoa(i)}
			if i == 0 {
				args = append(args, "--db=postgres://app:hunter2@db:5432/app")
			}
			p := procfstest.Proc{
				PID: pid, PPID: pid - i, Comm: "server", StartTicks: uint64(100_000 + pid), UID: 1000, NSpid: []int{pid, i + 1},
				Exe: "/usr/local/bin/server", Cmdline: procfstest.Args(args...), Cgroup: cgroup,
				NetNS: uint64(4026532000 + c), PIDNS: uint64(4026533000 + c),
			}
			if err := procfstest.Write(root, p); err != nil {
				b.Fatal(err)
			}
			pid++
		}
	}
	return root
}

// BenchmarkProcesses reads a fake tree of 2,000 processes in 200
// containers: the cost of one polling scan apart from the kernel's work of
// generating /proc files.
func BenchmarkProcesses(b *testing.B) {
	root := benchTree(b)
	fs := New(root, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		procs, st, err := fs.Processes(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if len(procs) != 2000 || st.ArgsRedacted != 200 {
			b.Fatalf("%d processes, stats %+v", len(procs), st)
		}
	}
}

// BenchmarkProcessesReal reads this machine's /proc.
func BenchmarkProcessesReal(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skipf("no /proc: %v", err)
	}
	fs := New("/proc", Options{})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		procs, _, err := fs.Processes(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		n = len(procs)
	}
	b.ReportMetric(float64(n), "processes")
}

// BenchmarkScanner is BenchmarkProcesses for a polling agent: each scan
// after the first reuses what did not change (stat and exe are read).
func BenchmarkScanner(b *testing.B) {
	root := benchTree(b)
	sc := New(root, Options{}).NewScanner()
	if _, _, err := sc.Scan(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		procs, st, err := sc.Scan(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if len(procs) != 2000 || st.Reused != 2000 {
			b.Fatalf("%d processes, stats %+v", len(procs), st)
		}
	}
}

// BenchmarkScannerReal is BenchmarkScanner on this machine's /proc.
func BenchmarkScannerReal(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skipf("no /proc: %v", err)
	}
	sc := New("/proc", Options{}).NewScanner()
	if _, _, err := sc.Scan(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		procs, _, err := sc.Scan(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		n = len(procs)
	}
	b.ReportMetric(float64(n), "processes")
}
