// Package dockertest gives tests a real Docker daemon and the native
// executor image, built here without any registry. Without a daemon tests
// skip, except under CI=true, where they fail.
package dockertest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/loadfleet/loadfleet/services/internal/componenttest"
)

// DefaultHost is where dockerd listens when nothing says otherwise.
const DefaultHost = "unix:///var/run/docker.sock"

// Host returns the address of the test daemon: $DOCKER_HOST, else the one
// scripts/ci-deps.sh recorded in $LOADFLEET_STATE/env, else DefaultHost.
func Host() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	state := os.Getenv("LOADFLEET_STATE")
	if state == "" {
		if home, err := os.UserHomeDir(); err == nil {
			state = filepath.Join(home, ".cache", "loadfleet", "state")
		}
	}
	if h := hostFromEnvFile(filepath.Join(state, "env")); h != "" {
		return h
	}
	return DefaultHost
}

// hostFromEnvFile reads "export DOCKER_HOST=..." from ci-deps's env file.
func hostFromEnvFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "export DOCKER_HOST="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// Client connects to the test daemon, or skips the test (fails it under
// CI=true) when none answers.
func Client(t testing.TB) (*client.Client, string) {
	t.Helper()
	host := Host()
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		componenttest.Missing(t, fmt.Sprintf("no Docker daemon at %s (run scripts/ci-deps.sh start docker): %v", host, err))
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli, host
}

// BuildExecutorImage builds the loadfleet-executor binary (static, with
// go build) and the native executor image from
// executors/images/native/Dockerfile, tagged tag, and removes the image
// when the test ends. Nothing is pulled.
func BuildExecutorImage(t testing.TB, cli *client.Client, tag string) {
	t.Helper()
	began := time.Now()
	executors, err := goModuleDir("github.com/loadfleet/loadfleet/executors")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "loadfleet-executor")
	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/loadfleet-executor")
	gobuild.Dir = executors
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build loadfleet-executor: %v\n%s", err, out)
	}
	built := time.Now()
	files := map[string]string{
		"Dockerfile":         filepath.Join(executors, "images", "native", "Dockerfile"),
		"loadfleet-executor": bin,
		// An empty bundle where the host has none: tests hit plain HTTP.
		"ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
	buildCtx, err := tarFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true,
		// The classic builder: the daemon may lack BuildKit.
		Version: build.BuilderV1,
	})
	if err != nil {
		t.Fatalf("docker build: %v", err)
	}
	defer resp.Body.Close()
	if err := buildOutcome(resp.Body); err != nil {
		t.Fatalf("docker build: %v", err)
	}
	t.Logf("executor image %s: go build %v, docker build %v", tag, built.Sub(began).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))
	t.Cleanup(func() {
		_, err := cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil {
			t.Logf("removing image %s: %v", tag, err)
		}
	})
}

// goModuleDir is the directory of a module of the workspace.
func goModuleDir(module string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// tarFiles is a build context holding files (name in the context -> path
// on disk; a missing path is an empty file).
func tarFiles(files map[string]string) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// The image's spool directory (its Dockerfile copies it).
	if err := tw.WriteHeader(&tar.Header{Name: "spool/", Typeflag: tar.TypeDir, Mode: 0o700}); err != nil {
		return nil, err
	}
	for name, path := range files {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		mode := int64(0o644)
		if name == "loadfleet-executor" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// buildOutcome reads a build's JSON message stream to its end and returns
// the error it reports, if any.
func buildOutcome(r io.Reader) error {
	dec := json.NewDecoder(r)
	var log strings.Builder
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("%s\n%s", msg.Error, log.String())
		}
	}
}

// RemoveContainers force-removes every container carrying label (k=v):
// what a test created, whether it passed or not.
func RemoveContainers(t testing.TB, cli *client.Client, label string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		t.Errorf("listing containers %s: %v", label, err)
		return
	}
	for _, c := range found {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("removing container %s: %v", c.ID, err)
		}
	}
}
