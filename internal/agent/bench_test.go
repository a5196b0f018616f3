package agent

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs"
	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

// BenchmarkCollect2000 is one poll of a node with 200 containers of 10
// processes each (2,000 processes, 200 network namespaces with 20
// connections each), read from a fake /proc tree through procfs.Scanner
// as `palisade agent` does. At the default 5 s interval, the agent's
// average CPU is about ns/op ÷ 5 s.
func BenchmarkCollect2000(b *testing.B) {
	root := b.TempDir()
	var procs []procfstest.Proc
	pid := 1000
	for c := range 200 {
		id := fmt.Sprintf("%064x", c+1)
		cgroup := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + fmt.Sprintf("%08x_0000_0000_0000_%012x", c, c) + ".slice/cri-containerd-" + id + ".scope\n"
		var socks []procfstest.Socket
		for i := range 20 {
			socks = append(socks, procfstest.Socket{Local: netip.MustParseAddrPort(fmt.Sprintf("10.1.%d.%d:%d", c/250, c%250+1, 40000+i)),
				Remote: netip.MustParseAddrPort(fmt.Sprintf("10.2.0.%d:443", i+1)), State: 1, Inode: uint64(c*100 + i + 1)})
		}
		for i := range 10 {
			pid++
			p := procfstest.Proc{PID: pid, PPID: 1, Exe: fmt.Sprintf("/app/bin/worker%d", i), Cmdline: procfstest.Args("worker", "--id", fmt.Sprint(i)),
				Cgroup: cgroup, NetNS: uint64(4026533000 + c), StartTicks: uint64(pid)}
			if i == 0 {
				p.Net = map[string]string{"tcp": procfstest.Table("tcp", socks...)}
			}
			procs = append(procs, p)
		}
	}
	if err := procfstest.Build(root, time.Now().Add(-time.Hour).Unix(), procs...); err != nil {
		b.Fatal(err)
	}
	fs := procfs.New(root, procfs.Options{})
	scanner := fs.NewScanner()
	proc := struct {
		*procfs.FS
		scan func(context.Context) ([]procfs.Process, procfs.Stats, error)
	}{fs, scanner.Scan}
	a := New(Options{Proc: scanAdapter{proc.FS, proc.scan}, Node: "n", Send: func(context.Context, *observation.Report) error { return nil }})
	a.Collect(context.Background()) // the first, full read
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a.Collect(context.Background())
	}
	b.StopTimer()
	if st := a.Status(); st.Tracked != 2000 {
		b.Fatalf("tracked %d processes, want 2000", st.Tracked)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(DefaultInterval.Nanoseconds())*100, "%cpu@5s")
}

type scanAdapter struct {
	*procfs.FS
	scan func(context.Context) ([]procfs.Process, procfs.Stats, error)
}

func (s scanAdapter) Processes(ctx context.Context) ([]procfs.Process, procfs.Stats, error) {
	return s.scan(ctx)
}

// BenchmarkPack is packing one report of the node above (2,000 processes,
// 4,000 flows), as CloseWindow does to each report the server has not
// taken by the next window, and unpacking it, as Flush does to send it.
func BenchmarkPack(b *testing.B) {
	r := bigReport()
	var size int
	b.Run("pack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := pack(r)
			if err != nil {
				b.Fatal(err)
			}
			size = len(p)
		}
		b.ReportMetric(float64(size), "bytes/report")
	})
	p, err := pack(r)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unpack(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bigReport is one window of 200 containers of 10 processes, each
// container with 20 connections.
func bigReport() *observation.Report {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := &observation.Report{Node: "n", Cluster: "c", Agent: "v", SentAt: now, WindowStart: now.Add(-30 * time.Second), Collection: "polling",
		Degraded: []string{"no eBPF"}, Processes: []observation.Process{}, Flows: []observation.Flow{}}
	for c := range 200 {
		id := fmt.Sprintf("%064x", c+1)
		for i := range 10 {
			r.Processes = append(r.Processes, observation.Process{ContainerID: id, PodUID: fmt.Sprintf("%08x-0000-0000-0000-%012x", c, c),
				PID: 1000 + c*10 + i, PPID: 1, Exe: fmt.Sprintf("/app/bin/worker%d", i), Args: []string{"worker", "--id", fmt.Sprint(i)},
				StartedAt: now.Add(-time.Hour), FirstSeen: now.Add(-30 * time.Second), LastSeen: now, Running: true})
		}
		for i := range 20 {
			r.Flows = append(r.Flows, observation.Flow{ContainerID: id, Proto: "tcp",
				Local:    netip.MustParseAddrPort(fmt.Sprintf("10.1.%d.%d:%d", c/250, c%250+1, 40000+i)),
				Remote:   netip.MustParseAddrPort(fmt.Sprintf("10.2.0.%d:443", i+1)),
				Outbound: true, FirstSeen: now.Add(-30 * time.Second), LastSeen: now, Count: 6})
		}
	}
	return r
}
