package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/internal/componenttest"
	"github.com/loadfleet/loadfleet/services/job/backend"
	"github.com/loadfleet/loadfleet/services/job/backend/backendtest"
	"github.com/loadfleet/loadfleet/services/job/backend/docker/dockertest"
)

// fakeSSHEnv makes this test binary a stand-in for ssh: it proxies its
// stdio to the unix socket the variable names, as `ssh host docker system
// dial-stdio` proxies to the remote daemon.
const fakeSSHEnv = "LOADFLEET_TEST_FAKE_SSH_SOCKET"

func TestMain(m *testing.M) {
	if socket := os.Getenv(fakeSSHEnv); socket != "" {
		os.Exit(fakeSSH(socket))
	}
	os.Exit(m.Run())
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestDocker runs everything against one real daemon and one image build.
func TestDocker(t *testing.T) {
	cli, host := dockertest.Client(t)
	tag := fmt.Sprintf("loadfleet/executor-native:test-%d", os.Getpid())
	began := time.Now()
	dockertest.BuildExecutorImage(t, cli, tag)
	t.Logf("binary + image built in %v", time.Since(began).Round(time.Millisecond))
	// Every container of this process carries this location label.
	location := fmt.Sprintf("dockertest-%d", os.Getpid())
	t.Cleanup(func() { dockertest.RemoveContainers(t, cli, LabelLocation+"="+location) })

	cfg := Config{
		Host: host, Image: tag, NetworkMode: "host", CPUs: 0.5, MemoryBytes: 256 << 20,
		Location: location, Grace: backendtest.StopGrace,
	}
	newBackend := func(t *testing.T) *Backend {
		b, err := New(cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	t.Run("Contract", func(t *testing.T) {
		backendtest.Run(t, "docker", func(t *testing.T) backend.Backend { return newBackend(t) }, nil)
	})
	t.Run("Container", func(t *testing.T) { testContainer(t, newBackend(t), cfg) })
	t.Run("Spool", func(t *testing.T) { testSpool(t, newBackend(t)) })
	t.Run("SSH", func(t *testing.T) {
		sshCfg := cfg
		sshCfg.Host, sshCfg.SSHCommand = "ssh://tester@docker-host:2222", []string{os.Args[0]}
		testSSH(t, sshCfg, host)
	})
}

// testContainer checks how an executor's container is made, and that the
// plan's directory is mounted: the executor reads its feeder from it.
func testContainer(t *testing.T, b *Backend, cfg Config) {
	ctx := context.Background()
	var mu sync.Mutex
	var paths []string
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	defer target.Close()
	planDir := t.TempDir()
	// The executor runs as nobody: the checkout is world-readable, as git
	// checks files out, and this directory must be too.
	if err := os.Chmod(planDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(planDir, "users.csv"), []byte("user\nalice\nbob\ncarol\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse([]byte(fmt.Sprintf(`{"name": "feed", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "feeder": {"file": "users.csv", "strategy": "circular"},
			"steps": [{"request": {"name": "user", "url": "/users/${user}"}}]}],
		"load": {"open": [{"atOnceUsers": {"users": 9}}]}}`, target.URL)))
	if err != nil {
		t.Fatal(err)
	}
	id := wire.ShardID{RunID: fmt.Sprintf("feed/%d", time.Now().UnixNano()), Shard: 2, Attempt: 1}
	spec := wire.ShardSpec{RunID: id.RunID, Shard: id.Shard, Shards: 3, Attempt: id.Attempt, Plan: *p, Dir: planDir}
	ingest := runtimetest.NewIngest(t, "feed-token")
	spec.IngestURL, spec.Token = ingest.URL(), "feed-token"
	began := time.Now()
	if err := b.Start(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	t.Logf("container created and started in %v", time.Since(began).Round(time.Millisecond))

	info, err := b.cli.ContainerInspect(ctx, ContainerName(id))
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{LabelManaged: "true", LabelRun: id.RunID, LabelShard: "2", LabelAttempt: "1", LabelLocation: cfg.Location}
	for k, v := range wantLabels {
		if info.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, info.Config.Labels[k], v)
		}
	}
	hc := info.HostConfig
	if hc.RestartPolicy.Name != container.RestartPolicyDisabled || string(hc.NetworkMode) != "host" ||
		hc.NanoCPUs != 500_000_000 || hc.Memory != 256<<20 {
		t.Errorf("host config: restart %q, network %q, nano CPUs %d, memory %d; want no, host, 0.5 CPU, 256 MiB",
			hc.RestartPolicy.Name, hc.NetworkMode, hc.NanoCPUs, hc.Memory)
	}
	if !slices.ContainsFunc(hc.Mounts, func(m mount.Mount) bool {
		return m.Source == planDir && m.Target == planDir && m.ReadOnly && m.Type == mount.TypeBind
	}) {
		t.Errorf("mounts %+v, want %s read-only at the same path", hc.Mounts, planDir)
	}
	if len(info.Config.Env) == 0 || !strings.HasPrefix(info.Config.Env[0], wire.ShardSpecEnv+"={") {
		t.Errorf("env %q lacks the spec", info.Config.Env)
	}
	// The image's own variables (PATH, TMPDIR) aside, the container gets
	// the spec and nothing of the server's environment.
	for _, e := range info.Config.Env[1:] {
		if name, _, _ := strings.Cut(e, "="); name != "PATH" && name != "TMPDIR" {
			t.Errorf("the container's env holds %s: want the spec alone", name)
		}
	}
	if info.Config.User != DefaultUser {
		t.Errorf("the executor runs as %q, want %s (never root)", info.Config.User, DefaultUser)
	}
	if len(hc.Mounts) != 1 {
		t.Errorf("mounts %+v, want the plan's directory alone", hc.Mounts)
	}

	st := waitExited(t, b, id, time.Minute)
	mu.Lock()
	got := slices.Clone(paths)
	mu.Unlock()
	// Shard 2 of 3 takes 3 of the 9 arrivals, each with a row of the
	// feeder it could only read through the mount.
	fromFeeder := func(p string) bool { return slices.Contains([]string{"/users/alice", "/users/bob", "/users/carol"}, p) }
	if st.ExitCode != 0 || len(got) != 3 || !slices.ContainsFunc(got, fromFeeder) || slices.ContainsFunc(got, func(p string) bool { return !fromFeeder(p) }) {
		t.Errorf("exit %+v, the target got %q; want 0 and 3 requests with rows of the mounted feeder\nlogs:\n%s", st, got, containerLogs(t, b, id))
	}
	if left, err := b.Spooled(ctx, id); err != nil || len(left) != 0 {
		t.Errorf("Spooled after every snapshot was acknowledged = %d snapshots, %v; want none", len(left), err)
	}
	if err := b.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// testSpool kills an executor whose ingest never answers: what it
// measured is still in its container's spool, and Spooled reads it back
// in sequence, for the worker to hand to reporting.
func testSpool(t *testing.T, b *Backend) {
	ctx := context.Background()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	p, err := plan.Parse([]byte(fmt.Sprintf(`{"name": "spool", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/"}}]}],
		"load": {"open": [{"constantUsersPerSec": {"rate": 5, "during": "30s"}}]}}`, target.URL)))
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ingestURL := "http://" + closed.Addr().String()
	_ = closed.Close() // nothing listens there: every delivery fails
	id := wire.ShardID{RunID: fmt.Sprintf("spool-%d", time.Now().UnixNano()), Shard: 0}
	spec := wire.ShardSpec{RunID: id.RunID, Shards: 1, Plan: *p, IngestURL: ingestURL, Token: "t"}
	if err := b.Start(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	if left, err := b.Spooled(ctx, id); !errors.Is(err, ErrRunning) {
		t.Errorf("Spooled of a running executor = %d, %v; want ErrRunning", len(left), err)
	}
	time.Sleep(4 * time.Second)
	if err := b.cli.ContainerKill(ctx, ContainerName(id), "KILL"); err != nil {
		t.Fatal(err)
	}
	waitExited(t, b, id, 30*time.Second)
	left, err := b.Spooled(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) < 2 {
		t.Fatalf("%d snapshots read back from the spool, want those of the seconds it ran", len(left))
	}
	for i, doc := range left {
		var snap wire.Snapshot
		if err := json.Unmarshal(doc, &snap); err != nil || snap.RunID != id.RunID || snap.Seq != uint64(i+1) {
			t.Fatalf("spooled snapshot %d: %v, run %q seq %d", i, err, snap.RunID, snap.Seq)
		}
	}
	if err := b.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if left, err := b.Spooled(ctx, id); err != nil || len(left) != 0 {
		t.Errorf("Spooled of a removed executor = %d, %v; want none", len(left), err)
	}
}

// testSSH reaches the daemon through an ssh:// host: the test binary plays
// ssh, proxying to the daemon's socket.
func testSSH(t *testing.T, cfg Config, host string) {
	socket, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		// ci-deps starts dockerd on a unix socket.
		componenttest.Missing(t, fmt.Sprintf("the ssh stand-in proxies to a unix socket; the daemon is at %s", host))
	}
	argsFile := filepath.Join(t.TempDir(), "args")
	t.Setenv(fakeSSHEnv, socket)
	t.Setenv("LOADFLEET_TEST_FAKE_SSH_ARGS", argsFile)
	b, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := wire.ShardID{RunID: "ssh-none", Shard: 0}
	st, err := b.Status(context.Background(), id)
	if err != nil || st.Phase != backend.Missing {
		t.Fatalf("Status over ssh: %+v, %v; want missing", st, err)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "-o BatchMode=yes -o ConnectTimeout=30 -l tester -p 2222 -- docker-host docker system dial-stdio"
	if got := strings.TrimSpace(string(args)); got != want {
		t.Errorf("ssh ran with %q, want %q", got, want)
	}
}

// fakeSSH records its arguments and proxies stdio to socket.
func fakeSSH(socket string) int {
	if f := os.Getenv("LOADFLEET_TEST_FAKE_SSH_ARGS"); f != "" {
		_ = os.WriteFile(f, []byte(strings.Join(os.Args[1:], " ")), 0o644)
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, os.Stdin)
		_ = conn.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(os.Stdout, conn)
	return 0
}

func waitExited(t *testing.T, b *Backend, id wire.ShardID, timeout time.Duration) backend.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := b.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase == backend.Exited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%+v not exited after %v", st, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containerLogs(t *testing.T, b *Backend, id wire.ShardID) string {
	rc, err := b.Logs(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	out, _ := io.ReadAll(rc)
	return string(out)
}
