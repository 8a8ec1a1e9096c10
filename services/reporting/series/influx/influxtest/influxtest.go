// Package influxtest gives tests a real InfluxDB 1.8: the shared one that
// scripts/ci-deps.sh starts, or a private influxd a test starts, stops and
// restarts itself (from the binary ci-deps built).
package influxtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/internal/componenttest"
)

// Bucket is the shared server's bucket in InfluxDB 1.8's v2 API terms:
// database loadfleet (created by ci-deps), retention policy autogen.
const Bucket = "loadfleet/autogen"

const envURL = "LOADFLEET_INFLUXDB_URL"

// URL is the shared test InfluxDB: $LOADFLEET_INFLUXDB_URL, else the one
// recorded in ci-deps' state file. When none answers the test fails under
// CI=true and is skipped otherwise.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		u = fromStateFile()
	}
	if u == "" {
		componenttest.Missing(t, fmt.Sprintf("no InfluxDB: %s is unset and not in %s (run scripts/ci-deps.sh start influxdb)",
			envURL, stateFile()))
		return ""
	}
	if err := ping(u); err != nil {
		componenttest.Missing(t, fmt.Sprintf("InfluxDB at %s does not answer: %v (run scripts/ci-deps.sh start influxdb)", u, err))
	}
	return u
}

func stateFile() string {
	dir := os.Getenv("LOADFLEET_STATE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "loadfleet", "state")
	}
	return filepath.Join(dir, "env")
}

// fromStateFile reads "export KEY=VALUE" lines written by ci-deps.
func fromStateFile() string {
	f, err := os.Open(stateFile())
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if v, ok := strings.CutPrefix(line, envURL+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("GET /ping: %s", resp.Status)
	}
	return nil
}

// Binary is the influxd that ci-deps built: $LOADFLEET_CACHE/influxd, by
// default ~/.cache/loadfleet/bin/influxd.
func Binary() string {
	dir := os.Getenv("LOADFLEET_CACHE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "loadfleet", "bin")
	}
	return filepath.Join(dir, "influxd")
}

// Server is an influxd of the test's own, on free loopback ports, with its
// data in a temporary directory that survives Stop and Start.
type Server struct {
	URL string

	t        testing.TB
	bin, dir string
	httpPort int
	rpcPort  int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has exited
}

// Start runs a private influxd and waits until it answers; it is stopped
// when the test ends. Missing binary: fails under CI=true, skips otherwise.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		componenttest.Missing(t, fmt.Sprintf("no influxd binary at %s (run scripts/ci-deps.sh start influxdb)", bin))
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), httpPort: freePort(t), rpcPort: freePort(t)}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// Pid is the running influxd's process ID (0 when stopped).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Restart starts influxd again, on the same ports and data, and waits
// until it answers /ping.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		s.t.Fatal("influxtest: Restart while running")
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.mu.Unlock()
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "run")
	cmd.Env = append(os.Environ(),
		"INFLUXDB_REPORTING_DISABLED=true", // never send usage statistics out
		"INFLUXDB_BIND_ADDRESS=127.0.0.1:"+strconv.Itoa(s.rpcPort),
		"INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:"+strconv.Itoa(s.httpPort),
		"INFLUXDB_HTTP_FLUX_ENABLED=true",
		"INFLUXDB_HTTP_LOG_ENABLED=false",
		"INFLUXDB_DATA_QUERY_LOG_ENABLED=false",
		"INFLUXDB_MONITOR_STORE_ENABLED=false",
		"INFLUXDB_META_DIR="+filepath.Join(s.dir, "meta"),
		"INFLUXDB_DATA_DIR="+filepath.Join(s.dir, "data"),
		"INFLUXDB_DATA_WAL_DIR="+filepath.Join(s.dir, "wal"),
	)
	cmd.Stdout, cmd.Stderr = log, log
	// Dies with the test binary, even when that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		log.Close()
		s.t.Fatalf("influxtest: start %s: %v", s.bin, err)
	}
	exit := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // SIGTERM makes it non-zero
		log.Close()
		close(exit)
	}()
	s.cmd, s.exit = cmd, exit
	s.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for ping(s.URL) != nil {
		select {
		case <-exit:
			s.t.Fatalf("influxtest: influxd exited at start; log: %s", s.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("influxtest: influxd not answering on %s after 60s; log: %s", s.URL, s.logTail())
		}
	}
}

// Stop sends SIGTERM to the influxd this Server started and waits for it
// to exit (SIGKILL after 20 s). A no-op when stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd, s.exit = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
	}
}

// CreateDatabase runs CREATE DATABASE on an InfluxDB 1.x server.
func CreateDatabase(t testing.TB, serverURL, name string) {
	t.Helper()
	if err := Query(serverURL, "", fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		t.Fatal(err)
	}
}

// Query runs an InfluxQL statement on /query and fails on an HTTP error.
func Query(serverURL, db, q string) error {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(strings.TrimSuffix(serverURL, "/")+"/query", form)
	if err != nil {
		return fmt.Errorf("influxtest: %s: %w", q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("influxtest: %s: %s", q, resp.Status)
	}
	return nil
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "influxd.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freePort is a loopback TCP port free at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
