package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBinDir names an environment variable that can point at the bin
// directory of a PostgreSQL installation (the one holding initdb and
// postgres). Without it Server looks in /usr/lib/postgresql/*/bin, newest
// version first, then in PATH.
const EnvBinDir = "PALISADE_TEST_PG_BINDIR"

// Server is a private PostgreSQL server that one test owns: it runs in a
// temporary directory on a random loopback port, and the test can kill it
// with SIGKILL and start it again on the same data.
type Server struct {
	bin  string
	dir  string // holds data/, the socket and the log
	port int
	cred *syscall.Credential // the postgres user's, when running as root

	cmd    *exec.Cmd     // nil when stopped
	exited chan struct{} // closed when cmd has exited
}

// StartServer initialises and starts a private server, and stops it and
// deletes its files when the test ends. It skips the test when no
// PostgreSQL binaries are installed (and fails it when CI=true).
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinDir()
	if err != nil {
		skipOrFail(t, "no private PostgreSQL server: %v; install Debian's postgresql package or set %s", err, EnvBinDir)
	}
	// initdb and postgres refuse to run as root: run them as postgres.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "palisade-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{bin: bin, dir: dir, cred: cred}

	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "palisade",
		"--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.port = freePort(t)
	s.Start(t)
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// URL returns the URL of the server's postgres database, as the
// superuser palisade.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://palisade@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// NewDatabase creates a database on the server and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, s.URL())
}

// Start starts the server on its data directory, running crash recovery
// if it was killed, and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("pgtest: server already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(), "-p", strconv.Itoa(s.port),
		"-k", s.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, away from signals sent to the test's.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		select {
		case <-exited:
			s.cmd = nil
			t.Fatalf("postgres exited at start: %s", s.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not accept connections in 60s: %v\n%s", err, s.logTail())
		}
	}
}

// Kill sends SIGKILL to the server and all its backends, as a crash of
// the machine would, and waits until they are gone. Committed transactions
// must survive it.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("pgtest: server not running")
	}
	if err := s.killAll(); err != nil {
		t.Fatalf("killing postgres: %v", err)
	}
}

// killAll kills the postmaster and its children. Each child leads a
// process group of its own, so killing the postmaster's group would miss
// them; they are found by parent PID. The postmaster is stopped first so
// that it forks no new backend in between.
func (s *Server) killAll() error {
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	kids := children(pid)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	<-s.exited
	s.cmd = nil
	// The backends now belong to init; wait until they have exited, or a
	// new postmaster finds their shared memory still attached.
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range kids {
		for alive(k) {
			if time.Now().After(deadline) {
				return fmt.Errorf("backend %d did not exit after SIGKILL", k)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// stat returns the state and parent PID of a process from /proc.
func stat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// "pid (comm) state ppid ...", where comm may hold spaces and parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err == nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, ok := stat(pid)
	return ok && st != "Z" && st != "X"
}

// children returns the PIDs of the processes whose parent is pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := stat(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	// SIGQUIT: immediate shutdown; the postmaster takes its children down.
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGQUIT)
	select {
	case <-s.exited:
		s.cmd = nil
	case <-time.After(10 * time.Second):
		_ = s.killAll()
	}
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func findBinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinDir, d, err)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first.
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("initdb and postgres not found in /usr/lib/postgresql/*/bin or PATH")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
