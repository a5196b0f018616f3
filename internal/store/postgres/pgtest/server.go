package pgtest

import (
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
	// Its own process group, so that Kill takes every backend down at once,
	// as a crash of the machine would.
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

// Kill sends SIGKILL to the server and all its backends, and waits for
// the server to exit. Committed transactions must survive it.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("pgtest: server not running")
	}
	pgid := s.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing postgres: %v", err)
	}
	<-s.exited
	s.cmd = nil
	// Backends were in the group too; give the kernel a moment to reap
	// them, or the new postmaster may see their shared memory attached.
	for range 50 {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
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
