// Package local runs executors as child processes of the job service, each
// in its own process group and its own directory (Dir/<run>/<shard>/<attempt>,
// 0700) holding its spec, output, pid and exit files, its spool and its
// working directory, so that a restarted job service finds them again and
// no executor reads or writes another's files. Executors get a minimal
// environment: PATH, HOME (their own directory) and TZ, nothing of the
// server's.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// ErrRunning is a Remove of an executor that has not exited yet.
var ErrRunning = errors.New("executor still running")

// DefaultGrace is how long Stop waits after SIGTERM before SIGKILL: the
// executor's gracefulStop plus the flush of what it measured.
const DefaultGrace = 30 * time.Second

// pollInterval is how often a process this instance did not start (found
// again after a restart) is checked for having exited.
const pollInterval = 50 * time.Millisecond

// Config says how executors are run.
type Config struct {
	// Command runs an executor; "agent --spec FILE --spool DIR" is
	// appended. Default: this binary's executor subcommand.
	Command []string
	// Dir holds one directory per executor attempt (see files). Default:
	// loadfleet-executors in the temp directory.
	Dir string
	// Grace is how long Stop waits for a clean stop before killing.
	Grace time.Duration
}

// Backend runs executors as local processes. Safe for concurrent use.
type Backend struct {
	cfg    Config
	logger *slog.Logger

	mu       sync.Mutex
	children map[wire.ShardID]*child // started by this instance
}

// child is an executor this instance started and waits for.
type child struct {
	pid  int
	done chan struct{} // closed once exited; then code and detail are set
	code int
	desc string
}

// New returns a local backend. Executors started by an earlier instance on
// the same Dir are found again through their pid files.
func New(cfg Config, logger *slog.Logger) *Backend {
	if len(cfg.Command) == 0 {
		self, err := os.Executable()
		if err != nil {
			self = os.Args[0]
		}
		cfg.Command = []string{self, "executor"}
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(os.TempDir(), "loadfleet-executors")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	return &Backend{cfg: cfg, logger: logger, children: map[wire.ShardID]*child{}}
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return "local" }

// files are the paths of one executor attempt's own directory and what it
// holds. It is the one place that knows the layout: Start, Status, List,
// Remove and whatever reads an executor's leftovers go through it.
type files struct {
	// dir is Dir/<run>/<shard>/<attempt>, 0700.
	dir string
	// spec (0600: it holds the shard's token), log, pid and exit files.
	spec, log, pid, exit string
	// spool is what the executor gets as --spool: its snapshots not yet
	// acknowledged by the ingest (the executor nests them under
	// <run>/<shard>/<attempt> inside it).
	spool string
	// work is the executor's working directory and HOME.
	work string
}

// runDir is the directory of a run's executors. PathEscape keeps a run ID
// with slashes inside one path element; a leading dot is escaped too, so
// that "." and ".." stay names (an escaped name never holds a bare "%",
// so neither replacement can meet another run's name).
func (b *Backend) runDir(runID string) string {
	name := url.PathEscape(runID)
	switch {
	case name == "":
		name = "%"
	case strings.HasPrefix(name, "."):
		name = "%2E" + name[1:]
	}
	return filepath.Join(b.cfg.Dir, name)
}

func (b *Backend) files(id wire.ShardID) files {
	dir := filepath.Join(b.runDir(id.RunID), strconv.Itoa(id.Shard), strconv.Itoa(id.Attempt))
	return files{dir: dir, spec: filepath.Join(dir, "spec.json"), log: filepath.Join(dir, "executor.log"),
		pid: filepath.Join(dir, "executor.pid"), exit: filepath.Join(dir, "executor.exit"),
		spool: filepath.Join(dir, "spool"), work: filepath.Join(dir, "work")}
}

// mkdirs creates the attempt's directories and those of its shard and run,
// each 0700 whatever the umask or an earlier mode.
func (f files) mkdirs() error {
	shard := filepath.Dir(f.dir)
	for _, d := range []string{filepath.Dir(shard), shard, f.dir, f.spool, f.work} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// Spooled implements backend.Spooler: the snapshots an exited executor
// left in its spool, read from this machine's disk.
func (b *Backend) Spooled(_ context.Context, id wire.ShardID) ([]json.RawMessage, error) {
	if st := b.status(id); st.Phase == backend.Running {
		return nil, fmt.Errorf("local: %w", ErrRunning)
	}
	docs, err := runtime.ReadSpool(runtime.SpoolDir(b.files(id).spool, id))
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out, nil
}

// pidRecord is a pid file: enough to recognise the process again (pids
// are reused) and to know whose it is.
type pidRecord struct {
	ID  wire.ShardID `json:"id"`
	PID int          `json:"pid"`
	// StartTicks is the process start time in /proc/PID/stat.
	StartTicks uint64 `json:"startTicks"`
	// Spec is the spec file path, which is on the process's command line.
	Spec string `json:"spec"`
}

// Start implements backend.Backend: an ID that has a pid file already ran
// (or runs) and is not started again.
func (b *Backend) Start(_ context.Context, id wire.ShardID, spec wire.ShardSpec) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.files(id)
	if _, ok := b.children[id]; ok {
		return nil
	}
	if _, err := os.Stat(f.pid); err == nil {
		return nil
	}
	if err := os.MkdirAll(b.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := f.mkdirs(); err != nil {
		return fmt.Errorf("local: executor directory: %w", err)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("local: encode spec: %w", err)
	}
	// 0600: the spec holds the shard's token.
	if err := os.WriteFile(f.spec, data, 0o600); err != nil {
		return fmt.Errorf("local: write spec: %w", err)
	}
	c, err := b.spawn(id, f)
	if err != nil {
		_ = os.Remove(f.spec)
		return err
	}
	b.children[id] = c
	return nil
}

// spawn starts the executor process and records its pid.
func (b *Backend) spawn(id wire.ShardID, f files) (*child, error) {
	logFile, err := os.OpenFile(f.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local: open log: %w", err)
	}
	// The child writes its output to the file itself: it outlives a restart
	// of the job service, which then has no pipe to read from.
	defer logFile.Close()
	args := append(append([]string{}, b.cfg.Command[1:]...),
		"agent", "--spec", f.spec, "--spool", f.spool)
	cmd := exec.Command(b.cfg.Command[0], args...)
	cmd.Dir = f.work
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = executorEnv(os.Getenv, f.work)
	// Its own process group: a signal to the job service's group (Ctrl-C
	// in a terminal) does not reach it, and Stop signals the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("local: start executor: %w", err)
	}
	rec := pidRecord{ID: id, PID: cmd.Process.Pid, Spec: f.spec}
	rec.StartTicks, _ = startTicks(rec.PID)
	if err := writeJSONFile(f.pid, rec); err != nil {
		_ = syscall.Kill(-rec.PID, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, fmt.Errorf("local: %w", err)
	}
	c := &child{pid: rec.PID, done: make(chan struct{})}
	go b.wait(cmd, c, f)
	b.logger.Info("executor started", "run", id.RunID, "shard", id.Shard, "attempt", id.Attempt, "pid", rec.PID)
	return c, nil
}

// wait reaps the child and records how it ended, in memory and in its exit
// file (for an instance started after this one).
func (b *Backend) wait(cmd *exec.Cmd, c *child, f files) {
	err := cmd.Wait()
	c.code = cmd.ProcessState.ExitCode()
	c.desc = cmd.ProcessState.String()
	if err != nil && c.code < 0 {
		c.desc = err.Error()
	}
	if werr := writeJSONFile(f.exit, exitRecord{Code: c.code, Detail: c.desc}); werr != nil {
		b.logger.Warn("recording an executor's exit", "pid", c.pid, "err", werr)
	}
	close(c.done)
}

// exitRecord is an exit file.
type exitRecord struct {
	Code   int    `json:"code"`
	Detail string `json:"detail"`
}

// Status implements backend.Backend.
func (b *Backend) Status(_ context.Context, id wire.ShardID) (backend.Status, error) {
	return b.status(id), nil
}

func (b *Backend) status(id wire.ShardID) backend.Status {
	st := backend.Status{ID: id, Phase: backend.Missing}
	b.mu.Lock()
	c, ok := b.children[id]
	b.mu.Unlock()
	if ok {
		select {
		case <-c.done:
			st.Phase, st.ExitCode, st.Detail = backend.Exited, c.code, c.desc
		default:
			st.Phase, st.Detail = backend.Running, fmt.Sprintf("pid %d", c.pid)
		}
		return st
	}
	f := b.files(id)
	var rec pidRecord
	if err := readJSONFile(f.pid, &rec); err != nil {
		return st
	}
	var ex exitRecord
	switch {
	case readJSONFile(f.exit, &ex) == nil:
		st.Phase, st.ExitCode, st.Detail = backend.Exited, ex.Code, ex.Detail
	case rec.alive():
		st.Phase, st.Detail = backend.Running, fmt.Sprintf("pid %d", rec.PID)
	default:
		// It ended while no instance was its parent: nobody saw its code.
		st.Phase, st.ExitCode, st.Detail = backend.Exited, -1, "exited while the job service was not watching; exit code unknown"
	}
	return st
}

// List implements backend.Backend: every attempt directory of the run that
// has a pid file.
func (b *Backend) List(_ context.Context, runID string) ([]backend.Status, error) {
	shards, err := os.ReadDir(b.runDir(runID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	var out []backend.Status
	for _, sh := range shards {
		shard, err := strconv.Atoi(sh.Name())
		if err != nil || !sh.IsDir() {
			continue
		}
		attempts, err := os.ReadDir(filepath.Join(b.runDir(runID), sh.Name()))
		if err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		for _, at := range attempts {
			attempt, err := strconv.Atoi(at.Name())
			if err != nil || !at.IsDir() {
				continue
			}
			id := wire.ShardID{RunID: runID, Shard: shard, Attempt: attempt}
			var rec pidRecord
			if err := readJSONFile(b.files(id).pid, &rec); err != nil || rec.ID != id {
				continue
			}
			out = append(out, b.status(id))
		}
	}
	return out, nil
}

// Stop implements backend.Backend: SIGTERM to the executor's process
// group, SIGKILL after Grace. It returns once the executor has exited, or
// when ctx ends (the kill after Grace still happens).
func (b *Backend) Stop(ctx context.Context, id wire.ShardID) error {
	pid, exited := b.running(id)
	if pid == 0 {
		return nil
	}
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("local: stop pid %d: %w", pid, err)
	}
	go func() {
		select {
		case <-exited:
		case <-time.After(b.cfg.Grace):
			b.logger.Warn("executor still running after the grace period: killing it", "run", id.RunID, "shard", id.Shard, "pid", pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("local: stop pid %d: %w", pid, ctx.Err())
	}
}

// running returns the pid of a running executor and a channel closed when
// it exits; pid 0 when it does not run.
func (b *Backend) running(id wire.ShardID) (int, <-chan struct{}) {
	b.mu.Lock()
	c, ok := b.children[id]
	b.mu.Unlock()
	if ok {
		select {
		case <-c.done:
			return 0, nil
		default:
			return c.pid, c.done
		}
	}
	var rec pidRecord
	if readJSONFile(b.files(id).pid, &rec) != nil || !rec.alive() {
		return 0, nil
	}
	// Not our child: poll until the process is gone.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for rec.alive() {
			time.Sleep(pollInterval)
		}
	}()
	return rec.PID, exited
}

// Logs implements backend.Backend: the executor's combined output file.
func (b *Backend) Logs(_ context.Context, id wire.ShardID) (io.ReadCloser, error) {
	f, err := os.Open(b.files(id).log)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local: logs of %s shard %d attempt %d: %w", id.RunID, id.Shard, id.Attempt, backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	return f, nil
}

// Remove implements backend.Backend: it deletes the executor's files once
// it has exited.
func (b *Backend) Remove(_ context.Context, id wire.ShardID) error {
	if st := b.status(id); st.Phase == backend.Running {
		return fmt.Errorf("local: remove %s shard %d attempt %d: %w", id.RunID, id.Shard, id.Attempt, ErrRunning)
	}
	b.mu.Lock()
	delete(b.children, id)
	b.mu.Unlock()
	f := b.files(id)
	if err := os.RemoveAll(f.dir); err != nil {
		return fmt.Errorf("local: remove: %w", err)
	}
	// The shard's and the run's directories go once empty; another
	// attempt's files keep them (Remove fails on a non-empty directory).
	shardDir := filepath.Dir(f.dir)
	if os.Remove(shardDir) == nil {
		_ = os.Remove(filepath.Dir(shardDir))
	}
	return nil
}

// alive says whether the recorded process still runs and is the executor
// that was started: same start time, spec file on its command line, not a
// zombie. A reused pid is never claimed.
func (r pidRecord) alive() bool {
	ticks, err := startTicks(r.PID)
	if err != nil || ticks != r.StartTicks {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.PID))
	if err != nil {
		return false
	}
	// A zombie has an empty command line.
	return strings.Contains(string(cmdline), "\x00"+r.Spec+"\x00")
}

// startTicks reads a process's start time (field 22 of /proc/PID/stat, in
// clock ticks since boot).
func startTicks(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted from its closing parenthesis.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	const startTimeField = 22 - 3 // fields after ")" start at field 3
	if len(fields) <= startTimeField {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	var ticks uint64
	if _, err := fmt.Sscan(fields[startTimeField], &ticks); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return ticks, nil
}

// defaultPath is an executor's PATH when the server has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// executorEnv is the whole environment of an executor: PATH, HOME (its own
// working directory) and TZ. Nothing else of the server's environment
// reaches it: API tokens and cloud credentials in the server's variables
// must not be readable by a plan's ${...} nor by /proc/PID/environ.
func executorEnv(getenv func(string) string, home string) []string {
	path := getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{"PATH=" + path, "HOME=" + home}
	if tz := getenv("TZ"); tz != "" {
		env = append(env, "TZ="+tz)
	}
	return env
}

// writeJSONFile writes v to path atomically (a reader never sees half).
func writeJSONFile(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Spooler = (*Backend)(nil)
)
