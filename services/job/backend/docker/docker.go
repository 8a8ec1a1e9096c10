// Package docker runs executors as containers on a Docker host: the local
// daemon, a remote one over TCP with TLS, or one reached over SSH (how a
// team brings its own VMs). Containers are labelled and named after their
// shard ID, so the daemon itself is the state: a restarted job service
// finds them again by label, and a second Start of an ID meets the name.
package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// ErrRunning is a Remove of an executor that has not exited yet.
var ErrRunning = errors.New("executor still running")

// Labels of every container this backend creates.
const (
	LabelManaged  = "loadfleet.managed" // "true"
	LabelRun      = "loadfleet.run"
	LabelShard    = "loadfleet.shard"
	LabelAttempt  = "loadfleet.attempt"
	LabelLocation = "loadfleet.location"
)

// DefaultGrace is how long Stop waits after SIGTERM before the daemon
// kills the container: the executor's gracefulStop plus its flush.
const DefaultGrace = 30 * time.Second

// Config is a Docker host and how executors run on it.
type Config struct {
	// Host is a DOCKER_HOST-style URL: unix:///var/run/docker.sock,
	// tcp://host:2376 (with the TLS files), ssh://user@host[:port]. Empty:
	// the environment's DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
	Host string
	// TLS files for tcp:// hosts; all three, or none for plain TCP.
	TLSCA, TLSCert, TLSKey string
	// SSHCommand runs the ssh client for ssh:// hosts (default "ssh"); the
	// destination and "docker system dial-stdio" are appended.
	SSHCommand []string
	// Image holds the executor binary as its entrypoint
	// (executors/images/native/Dockerfile).
	Image string
	// PullMissing pulls Image when the host lacks it; otherwise Start
	// fails, which is what hosts without a reachable registry want.
	PullMissing bool
	// NetworkMode of the containers: "host" lets executors reach targets
	// and the control plane as the host does; "" is the daemon's default.
	NetworkMode string
	// CPUs and MemoryBytes limit each container (0: no limit).
	CPUs        float64
	MemoryBytes int64
	// User runs the executor in the container ("uid:gid"); default
	// DefaultUser, never root unless set so.
	User string
	// Location names this host in labels and logs.
	Location string
	// Grace is how long Stop waits for a clean stop before the kill.
	Grace time.Duration
}

// workDir is the executor's working directory and spool in its container.
const workDir = "/loadfleet"

// DefaultUser is the user executors run as: nobody, so that a container
// escape or a file the mount exposes gets no root.
const DefaultUser = "65534:65534"

// Backend runs executors as containers. Safe for concurrent use.
type Backend struct {
	cfg    Config
	cli    *client.Client
	logger *slog.Logger

	starting sync.Map // container name -> *sync.Mutex: one Start per ID at a time
}

// New returns a backend for the Docker host of cfg. It does not contact the
// daemon: an unreachable one makes operations fail with
// backend.ErrUnavailable.
func New(cfg Config, logger *slog.Logger) (*Backend, error) {
	if cfg.Image == "" {
		return nil, errors.New("docker: no executor image configured")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.User == "" {
		cfg.User = DefaultUser
	}
	opts, err := clientOptions(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: client for %q: %w", cfg.Host, err)
	}
	return &Backend{cfg: cfg, cli: cli, logger: logger}, nil
}

// clientOptions turn the host settings into client options.
func clientOptions(cfg Config) ([]client.Opt, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch {
	case cfg.Host == "":
		return append(opts, client.FromEnv), nil
	case strings.HasPrefix(cfg.Host, "ssh://"):
		dial, err := sshDialer(cfg.Host, cfg.SSHCommand)
		if err != nil {
			return nil, err
		}
		// The host name is only what HTTP requests say; the dialer makes
		// every connection through ssh.
		return append(opts, client.WithHost("http://docker.example.com"), client.WithDialContext(dial)), nil
	}
	opts = append(opts, client.WithHost(cfg.Host))
	if cfg.TLSCA != "" || cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, client.WithTLSClientConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// Close releases the client's connections.
func (b *Backend) Close() error { return b.cli.Close() }

// Name implements backend.Backend.
func (b *Backend) Name() string { return "docker" }

// ContainerName is the container of an ID: readable, and unique thanks to a
// hash of the run ID (whose characters a name may not all hold).
func ContainerName(id wire.ShardID) string {
	sum := sha256.Sum256([]byte(id.RunID))
	run := nameUnsafe.ReplaceAllString(id.RunID, "_")
	if len(run) > 40 {
		run = run[:40]
	}
	return fmt.Sprintf("loadfleet-%s-%s-s%d-a%d", run, hex.EncodeToString(sum[:4]), id.Shard, id.Attempt)
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// Start implements backend.Backend. A container of the same name means the
// ID was started already (by this instance or an earlier one); one that
// was created but never started (a crash in between) is started now.
func (b *Backend) Start(ctx context.Context, id wire.ShardID, spec wire.ShardSpec) error {
	name := ContainerName(id)
	lock, _ := b.starting.LoadOrStore(name, &sync.Mutex{})
	lock.(*sync.Mutex).Lock()
	defer lock.(*sync.Mutex).Unlock()

	cfg, host, err := b.containerConfig(id, spec)
	if err != nil {
		return err
	}
	_, err = b.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if cerrdefs.IsNotFound(err) && b.cfg.PullMissing {
		if err = b.pull(ctx); err == nil {
			_, err = b.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
		}
	}
	switch {
	case cerrdefs.IsConflict(err):
		return b.startCreated(ctx, id, name)
	case err != nil:
		return b.wrap("create "+name, err)
	}
	if err := b.cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return b.wrap("start "+name, err)
	}
	b.logger.Info("executor started", "run", id.RunID, "shard", id.Shard, "attempt", id.Attempt, "container", name)
	return nil
}

// startCreated starts an existing container that never ran; one that runs
// or ran is left alone (starting it again would rerun the shard).
func (b *Backend) startCreated(ctx context.Context, id wire.ShardID, name string) error {
	info, err := b.cli.ContainerInspect(ctx, name)
	if err != nil {
		return b.wrap("inspect "+name, err)
	}
	if info.State == nil || info.State.Status != container.StateCreated {
		return nil
	}
	b.logger.Info("starting an executor created earlier", "run", id.RunID, "shard", id.Shard, "container", name)
	if err := b.cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return b.wrap("start "+name, err)
	}
	return nil
}

// containerConfig is the container of one executor.
func (b *Backend) containerConfig(id wire.ShardID, spec wire.ShardSpec) (*container.Config, *container.HostConfig, error) {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("docker: encode spec: %w", err)
	}
	stopTimeout := int(b.cfg.Grace / time.Second)
	cfg := &container.Config{
		Image: b.cfg.Image,
		// The spool is the image's /spool, in the container's own layer:
		// what the executor leaves there outlives it, for Spooled.
		Cmd:        []string{"agent", "--spool", SpoolRoot},
		WorkingDir: workDir,
		User:       b.cfg.User,
		// The spec (and its token) goes in the environment, and nothing
		// else of the server's: no file to copy to a remote host. Whoever
		// may inspect containers on the host may read it.
		Env: []string{wire.ShardSpecEnv + "=" + string(specJSON)},
		Labels: map[string]string{
			LabelManaged:  "true",
			LabelRun:      id.RunID,
			LabelShard:    strconv.Itoa(id.Shard),
			LabelAttempt:  strconv.Itoa(id.Attempt),
			LabelLocation: b.cfg.Location,
		},
		StopTimeout: &stopTimeout,
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(b.cfg.NetworkMode),
		// A restarted shard is a new attempt, decided by the worker; the
		// daemon must never rerun one.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		// The executor is not root: its spool and working directory are
		// a tmpfs of its own, owned by its user.
		Tmpfs: map[string]string{workDir: tmpfsOptions(b.cfg.User)},
		Resources: container.Resources{
			NanoCPUs: int64(b.cfg.CPUs * 1e9),
			Memory:   b.cfg.MemoryBytes,
		},
	}
	if spec.Dir != "" {
		// The run's own checkout, read-only, at the path the spec names
		// (the job service confined it to the checkouts); nothing else of
		// the host. This needs the path on the Docker host: a local
		// daemon, or the same checkout on a remote one.
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: spec.Dir, Target: spec.Dir, ReadOnly: true}}
	}
	return cfg, host, nil
}

// tmpfsOptions are the mount options of the executor's tmpfs: owned by a
// numeric user ("uid" or "uid:gid"), which some daemons need beyond the
// mode; a user by name gets the mode alone.
func tmpfsOptions(user string) string {
	opts := "rw,nosuid,nodev,noexec,mode=1777"
	uid, gid, _ := strings.Cut(user, ":")
	if _, err := strconv.ParseUint(uid, 10, 32); err == nil {
		opts += ",uid=" + uid
		if _, err := strconv.ParseUint(gid, 10, 32); err == nil {
			opts += ",gid=" + gid
		}
	}
	return opts
}

func (b *Backend) pull(ctx context.Context) error {
	rc, err := b.cli.ImagePull(ctx, b.cfg.Image, image.PullOptions{})
	if err != nil {
		return b.wrap("pull "+b.cfg.Image, err)
	}
	defer rc.Close()
	// The pull goes on while its progress is read.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return b.wrap("pull "+b.cfg.Image, err)
	}
	return nil
}

// Status implements backend.Backend.
func (b *Backend) Status(ctx context.Context, id wire.ShardID) (backend.Status, error) {
	info, err := b.cli.ContainerInspect(ctx, ContainerName(id))
	if cerrdefs.IsNotFound(err) {
		return backend.Status{ID: id, Phase: backend.Missing}, nil
	}
	if err != nil {
		return backend.Status{}, b.wrap("inspect", err)
	}
	return statusOf(id, info.State), nil
}

// statusOf maps a container's state to an executor's.
func statusOf(id wire.ShardID, state *container.State) backend.Status {
	st := backend.Status{ID: id, Phase: backend.Pending}
	if state == nil {
		return st
	}
	st.Detail = string(state.Status)
	switch state.Status {
	case container.StateCreated:
		st.Phase = backend.Pending
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		st.Phase = backend.Running
	case container.StateExited, container.StateDead, container.StateRemoving:
		st.Phase, st.ExitCode = backend.Exited, state.ExitCode
		st.Detail = fmt.Sprintf("%s (%d) at %s", state.Status, state.ExitCode, state.FinishedAt)
		if state.OOMKilled {
			st.Detail += ", killed: out of memory"
		}
		if state.Error != "" {
			st.Detail += ": " + state.Error
		}
	}
	return st
}

// List implements backend.Backend: the containers labelled with the run.
func (b *Backend) List(ctx context.Context, runID string) ([]backend.Status, error) {
	found, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelRun+"="+runID),
	)})
	if err != nil {
		return nil, b.wrap("list", err)
	}
	out := make([]backend.Status, 0, len(found))
	for _, c := range found {
		id, err := shardIDOf(c.Labels)
		if err != nil {
			b.logger.Warn("a loadfleet container with bad labels", "container", c.ID, "err", err)
			continue
		}
		// The list has no exit codes: inspect each.
		st, err := b.Status(ctx, id)
		if err != nil {
			return nil, err
		}
		if st.Phase != backend.Missing { // removed meanwhile
			out = append(out, st)
		}
	}
	return out, nil
}

func shardIDOf(labels map[string]string) (wire.ShardID, error) {
	shard, err1 := strconv.Atoi(labels[LabelShard])
	attempt, err2 := strconv.Atoi(labels[LabelAttempt])
	if err := errors.Join(err1, err2); err != nil {
		return wire.ShardID{}, err
	}
	return wire.ShardID{RunID: labels[LabelRun], Shard: shard, Attempt: attempt}, nil
}

// Stop implements backend.Backend: SIGTERM, and the daemon's SIGKILL after
// Grace. It returns once the container has stopped.
func (b *Backend) Stop(ctx context.Context, id wire.ShardID) error {
	timeout := int(b.cfg.Grace / time.Second)
	err := b.cli.ContainerStop(ctx, ContainerName(id), container.StopOptions{Timeout: &timeout})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return b.wrap("stop", err)
	}
	return nil
}

// Logs implements backend.Backend: stdout and stderr, demultiplexed into
// one stream.
func (b *Backend) Logs(ctx context.Context, id wire.ShardID) (io.ReadCloser, error) {
	name := ContainerName(id)
	rc, err := b.cli.ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("docker: logs of %s: %w", name, backend.ErrNotFound)
	}
	if err != nil {
		return nil, b.wrap("logs", err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		rc.Close()
		pw.CloseWithError(err)
	}()
	return &logReader{PipeReader: pr, src: rc}, nil
}

// logReader closes the daemon's stream along with the pipe.
type logReader struct {
	*io.PipeReader
	src io.Closer
}

func (l *logReader) Close() error {
	_ = l.src.Close()
	return l.PipeReader.Close()
}

// Remove implements backend.Backend: the container, once exited.
func (b *Backend) Remove(ctx context.Context, id wire.ShardID) error {
	name := ContainerName(id)
	st, err := b.Status(ctx, id)
	if err != nil {
		return err
	}
	switch st.Phase {
	case backend.Missing:
		return nil
	case backend.Running:
		return fmt.Errorf("docker: remove %s: %w", name, ErrRunning)
	}
	// Force: a container created but never started is removed too.
	err = b.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return b.wrap("remove "+name, err)
	}
	return nil
}

// wrap names the operation and adds backend.ErrUnavailable to errors of an
// unreachable daemon.
func (b *Backend) wrap(op string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("docker: %s on %s: %w: %w", op, b.cli.DaemonHost(), backend.ErrUnavailable, err)
	}
	return fmt.Errorf("docker: %s on %s: %w", op, b.cli.DaemonHost(), err)
}

var _ backend.Backend = (*Backend)(nil)
