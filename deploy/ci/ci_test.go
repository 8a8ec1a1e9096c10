package ci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// apiToken is the server's only accepted API token.
const apiToken = "ci-test-token-4f1c9a"

// releaseVersion is the release the loopback release server offers.
const releaseVersion = "v0.0.1-test"

// fixture is what every case shares: a built loadfleet, a server that
// demands apiToken, a target to load, and a stand-in for GitHub releases.
type fixture struct {
	repoRoot   string
	bin        string
	server     string
	target     string
	releaseURL string
}

func TestCIIntegrations(t *testing.T) {
	f := newFixture(t)
	t.Run("github", func(t *testing.T) { testGitHubAction(t, f) })
	t.Run("gitlab", func(t *testing.T) { testGitLabTemplate(t, f) })
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "sha256sum", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the CI script needs %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{repoRoot: root, bin: buildLoadfleet(t)}
	f.target = startTarget(t)
	f.releaseURL = startReleaseServer(t, f.bin)
	f.server = startServer(t, f.bin)
	return f
}

func buildLoadfleet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loadfleet")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/loadfleet/loadfleet/services/cmd/loadfleet")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build loadfleet: %v\n%s", err, out)
	}
	return bin
}

// startTarget serves "/" fast and "/slow" slower than the failing plan's
// latency criterion allows.
func startTarget(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// startReleaseServer serves bin as GitHub would serve releaseVersion's
// asset for this machine, with its .sha256 file.
func startReleaseServer(t *testing.T, bin string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	asset := fmt.Sprintf("/%s/loadfleet-%s-%s", releaseVersion, runtime.GOOS, runtime.GOARCH)
	mux := http.NewServeMux()
	mux.HandleFunc(asset, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(data) })
	mux.HandleFunc(asset+".sha256", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(asset))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// startServer runs `loadfleet server` with every target, its token from the
// environment through the config file's ${VAR} expansion, and stops it by
// PID at cleanup.
func startServer(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("auth:\n  tokens: [\"${CI_TEST_API_TOKEN}\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--config", config)
	cmd.Env = append(cleanEnv(), "CI_TEST_API_TOKEN="+apiToken)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("server log:\n%s", log)
		}
	})
	base := "http://" + addr
	waitHealthy(t, base, exited)
	return base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHealthy(t *testing.T, base string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("loadfleet server exited: %v", err)
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("loadfleet server at %s not healthy after 30 s", base)
}

// cleanEnv is this process's environment without what a CI runner would
// not have: LOADFLEET_* variables (flag defaults for loadfleet) and the
// runners' own variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "LOADFLEET_"), strings.HasPrefix(name, "GITHUB_"),
			strings.HasPrefix(name, "RUNNER_"), strings.HasPrefix(name, "CI_"), name == "GITLAB_CI":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// writePlans writes the cases' plans into dir. Their baseUrl is a closed
// port: the cases point them at the target with a set value, as a team
// points a plan at an environment.
func writePlans(t *testing.T, dir string) {
	t.Helper()
	plan := func(path, criteria string) string {
		return fmt.Sprintf(`{"name": "ci %s", "team": "ci", "target": {"baseUrl": "http://127.0.0.1:9"},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "page", "url": %q, "checks": [{"status": [200]}]}}]}],
  "load": {"pattern": {"constant": {"rate": 20, "during": "3s"}}},
  "criteria": [%s]}`, path, path, criteria)
	}
	plans := map[string]string{
		"pass.json": plan("/", `{"metric": "errors.rate", "max": 0}`),
		// Every response takes 20 ms: the p95 criterion cannot hold.
		"fail.json":    plan("/slow", `{"metric": "errors.rate", "max": 0}, {"metric": "latency.p95", "max": "1ms"}`),
		"invalid.json": `{"name": "no scenarios", "target": {"baseUrl": "http://127.0.0.1:9"}, "scenarios": []}`,
	}
	if err := os.MkdirAll(filepath.Join(dir, "loadtests"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range plans {
		if err := os.WriteFile(filepath.Join(dir, "loadtests", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(data)
}

// exitCode is a finished command's exit status.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("run bash: %v", err)
	return -1
}

// expressionPattern matches a ${{ ... }} expression.
var expressionPattern = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// parseRunnerFile reads a GITHUB_OUTPUT / GITHUB_ENV file: name=value
// lines, and name<<DELIMITER heredocs.
func parseRunnerFile(t *testing.T, path string) map[string]string {
	t.Helper()
	values := map[string]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var body []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				body = append(body, lines[i])
			}
			values[name] = strings.Join(body, "\n")
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is neither name=value nor name<<DELIMITER", path, line)
		}
		values[name] = value
	}
	return values
}

func assertNoToken(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, apiToken) {
		t.Errorf("the API token appears in %s", where)
	}
}
