package storetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// CrashEnv names the environment variable that makes a re-executed test
// binary the writer of a crash test. Its value is the store's location (a
// file path, a database URL) for the child's open function.
const CrashEnv = "PALISADE_STORETEST_CRASH"

// CrashCluster is the cluster that the crash writer fills.
const CrashCluster = "crash"

const (
	crashWriters   = 4
	crashBatchSize = 5
	// crashMaxRun bounds a writer whose parent died without killing it.
	crashMaxRun = 2 * time.Minute
)

// CrashChild makes the running test the writer of a crash test when this
// process was started by Crash: it opens the store at the location Crash
// passed, writes until it is killed or a write fails, and returns true.
// Otherwise it returns false at once. Call it first thing in the test that
// calls Crash:
//
//	func TestCrash(t *testing.T) {
//		if storetest.CrashChild(t, open) {
//			return
//		}
//		...
//		storetest.Crash(t, storetest.CrashTest{...})
//	}
func CrashChild(t *testing.T, open func(ctx context.Context, target string) (store.Store, error)) bool {
	target := os.Getenv(CrashEnv)
	if target == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(t.Context(), crashMaxRun)
	defer cancel()
	s, err := open(ctx, target)
	if err != nil {
		t.Fatalf("crash writer: opening store: %v", err)
	}
	defer s.Close()
	if err := CrashWriter(ctx, s, os.Stdout); err != nil {
		t.Logf("crash writer stopped: %v", err)
	}
	return true
}

// CrashWriter applies batches to s from several goroutines until ctx ends
// or an Apply fails. Writer w's batch b upserts crashBatchSize objects and
// w's progress object, and deletes object 0 of batch b-1. After each Apply
// that returned nil it writes "ack w b" to out.
func CrashWriter(ctx context.Context, s store.Store, out io.Writer) error {
	var mu sync.Mutex
	errs := make(chan error, crashWriters)
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for b := 1; ctx.Err() == nil; b++ {
				var deletes []model.Key
				if b > 1 {
					deletes = []model.Key{crashObject(w, b-1, 0).ObjectKey()}
				}
				if err := s.Apply(ctx, crashBatch(w, b), deletes); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
					return
				}
				mu.Lock()
				_, err := fmt.Fprintf(out, "ack %d %d\n", w, b)
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func crashObject(w, b, j int) *model.Workload {
	o := Workload(CrashCluster, fmt.Sprintf("w%d", w), fmt.Sprintf("b%06d-%d", b, j))
	o.Labels["batch"] = fmt.Sprint(b)
	return o
}

func crashProgress(w, b int) *model.Workload {
	o := Workload(CrashCluster, "progress", fmt.Sprintf("w%d", w))
	o.ResourceVersion = fmt.Sprint(b)
	return o
}

func crashBatch(w, b int) []model.Object {
	objs := make([]model.Object, 0, crashBatchSize+1)
	for j := range crashBatchSize {
		objs = append(objs, crashObject(w, b, j))
	}
	return append(objs, crashProgress(w, b))
}

// CrashTest describes a crash test.
type CrashTest struct {
	// Target is the store location passed to the child's open function.
	Target string
	// Acks is how many acknowledged batches to read before the kill; 200
	// when zero.
	Acks int
	// Kill crashes what the test is about. When nil the child is killed
	// with SIGKILL; otherwise Kill runs (to kill a database server, say)
	// and the child is killed after it has stopped by itself or had 30
	// seconds to.
	Kill func(t *testing.T, child *os.Process)
	// Reopen opens the store after the crash, restarting anything Kill
	// stopped. The test closes it.
	Reopen func(t *testing.T) store.Store
}

// Crash re-executes the running test as a writer (see CrashChild), reads
// the batches it acknowledges, crashes it mid-write, reopens the store and
// checks that every acknowledged batch is there, that every batch is there
// whole or not at all, and that the store still takes writes. It returns
// the reopened store.
func Crash(t *testing.T, c CrashTest) store.Store {
	t.Helper()
	if c.Acks == 0 {
		c.Acks = 200
	}
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), CrashEnv+"="+c.Target)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting crash writer: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Read acknowledgements until EOF: lines in the pipe when the child
	// dies were written after their Apply returned, so they count too.
	var (
		mu      sync.Mutex
		acked   = map[int]int{} // writer -> highest acknowledged batch
		nAcks   int
		enough  = make(chan struct{})
		readErr = make(chan error, 1)
	)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var w, b int
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &w, &b); err != nil {
				continue // test framework output
			}
			mu.Lock()
			acked[w] = max(acked[w], b)
			nAcks++
			if nAcks == c.Acks {
				close(enough)
			}
			mu.Unlock()
		}
		readErr <- sc.Err()
	}()

	select {
	case <-enough:
	case err := <-readErr:
		_ = cmd.Wait()
		t.Fatalf("crash writer ended after %d acknowledged batches, before %d (read error %v); its stderr:\n%s", nAcks, c.Acks, err, stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("crash writer acknowledged %d batches in a minute, want %d; its stderr:\n%s", nAcks, c.Acks, stderr.String())
	}
	if c.Kill == nil {
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("killing crash writer: %v", err)
		}
	} else {
		c.Kill(t, cmd.Process)
		timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
		defer timer.Stop()
	}
	if err := <-readErr; err != nil {
		t.Errorf("reading crash writer: %v", err)
	}
	_ = cmd.Wait() // killed or failed: its exit status says nothing
	mu.Lock()
	t.Logf("crash after %d acknowledged batches: %v", nAcks, acked)
	mu.Unlock()

	s := c.Reopen(t)
	verifyCrash(t, s, acked)

	// The store still takes writes.
	extra := Workload(CrashCluster+"-after", "ns", "written-after-crash")
	if err := s.Apply(t.Context(), []model.Object{extra}, nil); err != nil {
		t.Fatalf("Apply after crash: %v", err)
	}
	return s
}

// verifyCrash checks the crash writer's data against what it acknowledged.
// Each writer runs one Apply at a time, so the batches it committed are 1
// to m, where m is its last acknowledged batch or the one after (committed
// before the crash, acknowledged never).
func verifyCrash(t *testing.T, s store.Store, acked map[int]int) {
	t.Helper()
	snap, err := s.Snapshot(t.Context(), CrashCluster)
	if err != nil {
		t.Fatalf("Snapshot after crash: %v", err)
	}
	type batchKey struct{ w, b int }
	stored := map[batchKey]map[int]*model.Workload{}
	progress := map[int]*model.Workload{}
	last := map[int]int{}
	for _, o := range snap.Workloads {
		var w, b, j int
		if o.Namespace == "progress" {
			if _, err := fmt.Sscanf(o.Name, "w%d", &w); err != nil {
				t.Fatalf("unexpected object %s", o.ObjectKey())
			}
			progress[w] = o
			continue
		}
		if _, err := fmt.Sscanf(o.Namespace, "w%d", &w); err != nil {
			t.Fatalf("unexpected object %s", o.ObjectKey())
		}
		if _, err := fmt.Sscanf(o.Name, "b%d-%d", &b, &j); err != nil {
			t.Fatalf("unexpected object %s", o.ObjectKey())
		}
		k := batchKey{w, b}
		if stored[k] == nil {
			stored[k] = map[int]*model.Workload{}
		}
		stored[k][j] = o
		last[w] = max(last[w], b)
	}
	for w := range crashWriters {
		m := last[w]
		if m < acked[w] || m > acked[w]+1 {
			t.Errorf("writer %d: last stored batch is %d, acknowledged %d: acknowledged data lost or batches out of order", w, m, acked[w])
		}
		if m == 0 {
			if p, ok := progress[w]; ok {
				t.Errorf("writer %d: progress object %s stored without its batch", w, p.ObjectKey())
			}
			continue
		}
		if diff := cmp.Diff(crashProgress(w, m), progress[w], diffOpts...); diff != "" {
			t.Errorf("writer %d: progress object mismatch (-want +got):\n%s", w, diff)
		}
		for b := 1; b <= m; b++ {
			got := stored[batchKey{w, b}]
			for j := range crashBatchSize {
				// Batch b+1 deleted object 0 of batch b in the same
				// transaction.
				if j == 0 && b < m {
					if o, ok := got[j]; ok {
						t.Errorf("writer %d: %s survives although batch %d, which deleted it, is stored", w, o.ObjectKey(), b+1)
					}
					continue
				}
				if diff := cmp.Diff(crashObject(w, b, j), got[j], diffOpts...); diff != "" {
					t.Errorf("writer %d batch %d object %d mismatch (-want +got):\n%s", w, b, j, diff)
				}
			}
		}
	}
	for k := range stored {
		if k.w < 0 || k.w >= crashWriters || k.b < 1 {
			t.Errorf("unexpected batch %d of writer %d", k.b, k.w)
		}
	}
}
