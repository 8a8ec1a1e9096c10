package app

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/worker"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		why, in, want, wantErr string
	}{
		{"a reference is replaced", "${TOKEN}", "s3cret", ""},
		{"several in one value", "${TOKEN}-${TOKEN}", "s3cret-s3cret", ""},
		{"set but empty is a value", "x${EMPTY}", "x", ""},
		{"$${ is a literal ${", "$${TOKEN}", "${TOKEN}", ""},
		{"a bare $ is left alone (passwords have them)", "pa$$word $TOKEN", "pa$$word $TOKEN", ""},
		{"unset: named", "${MISSING}", "", "environment variable MISSING is not set"},
		{"not a name", "${TO KEN}", "", `"${TO KEN}" is not an environment variable reference`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := expandEnv(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loadfleet.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileTakesValuesFromTheEnvironment(t *testing.T) {
	t.Setenv("LF_TEST_TOKEN", "from-a-secret")
	t.Setenv("LF_TEST_PORT", "2525")
	t.Setenv("LF_TEST_TRICK", "x\nlisten: 0.0.0.0:80")
	cfg, err := LoadConfigFile(writeConfig(t, `# ${LF_TEST_UNSET} in a comment is only a comment
auth: {tokens: ["${LF_TEST_TOKEN}", literal]}
notify:
  email:
    host: "${LF_TEST_TRICK}"
    port: ${LF_TEST_PORT}
`), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"from-a-secret", "literal"}; !reflect.DeepEqual(cfg.Auth.Tokens, want) {
		t.Fatalf("tokens %q, want %q", cfg.Auth.Tokens, want)
	}
	if cfg.Notify.Email.Port != 2525 {
		t.Fatalf("port %d: an unquoted reference must decode as a number", cfg.Notify.Email.Port)
	}
	if cfg.Listen != DefaultListen || !strings.Contains(cfg.Notify.Email.Host, "listen:") {
		t.Fatalf("listen %q, host %q: a value must stay a value, never become YAML", cfg.Listen, cfg.Notify.Email.Host)
	}
}

func TestConfigFileErrorsNameTheLineAndChangeNothing(t *testing.T) {
	t.Setenv("LF_TEST_EMPTY", "")
	tests := []struct{ why, content, wantErr string }{
		{"an unset variable", "listen: 127.0.0.1:9\nauth: {tokens: [\"${LF_TEST_UNSET}\"]}\n",
			"line 2: environment variable LF_TEST_UNSET is not set"},
		{"an empty token would open the API", "auth:\n  tokens: [\"${LF_TEST_EMPTY}\"]\n", "auth.tokens[0] is empty"},
		{"a misspelt key, however deep", "listen: 127.0.0.1:9\nnotify:\n  email:\n    hots: smtp\n", `line 4: unknown field "hots"`},
		{"a misspelt key in a list", "locations:\n  - name: a\n    backnd: local\n", `line 3: unknown field "backnd"`},
		{"a wrong type", "worker: {maxRestarts: many}\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			before := DefaultConfig()
			cfg, err := LoadConfigFile(writeConfig(t, tt.content), before)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v; want %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(cfg, before) {
				t.Fatal("a refused file changed the configuration")
			}
		})
	}
}

func TestAnEmptyConfigFileSetsNothing(t *testing.T) {
	cfg, err := LoadConfigFile(writeConfig(t, "# nothing yet\n"), DefaultConfig())
	if err != nil || !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Fatalf("%v, %+v", err, cfg)
	}
}

func TestConfigFileSetsGitAllowAndValidatorConcurrency(t *testing.T) {
	cfg, err := LoadConfigFile(writeConfig(t, `validator: {maxConcurrent: 2}
git:
  allow: [git.corp.example, "10.20.0.0/16:2222", "[fd00::/8]:8443"]
`), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Validator.MaxConcurrent != 2 {
		t.Errorf("validator.maxConcurrent = %d, want 2", cfg.Validator.MaxConcurrent)
	}
	if want := []string{"git.corp.example", "10.20.0.0/16:2222", "[fd00::/8]:8443"}; !reflect.DeepEqual(cfg.Git.Allow, want) {
		t.Errorf("git.allow = %q, want %q", cfg.Git.Allow, want)
	}
	cfg.Git.CacheDir = t.TempDir()
	if _, err := NewFetcher(cfg, nil); err != nil {
		t.Errorf("a valid allow list: %v", err)
	}
	cfg.Git.Allow = append(cfg.Git.Allow, "https://git.corp.example")
	if _, err := NewFetcher(cfg, nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"https://git.corp.example"`) {
		t.Errorf("a malformed allow entry: err = %v, want ErrConfig naming it", err)
	}
}

// TestConfigFileWorkerSection: the worker section's keys set worker.Config
// (the one declaration), what it leaves out takes worker's defaults, and
// the fields only the process sets are no keys.
func TestConfigFileWorkerSection(t *testing.T) {
	cfg, err := LoadConfigFile(writeConfig(t, `worker:
  id: w-7
  leaseTTL: 3s
  readyTimeout: 20s
  startDelay: 1s
  controlGrace: -1s
`), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := worker.Config{ID: "w-7", LeaseTTL: 3 * time.Second, ReadyTimeout: 20 * time.Second,
		StartDelay: time.Second, ControlGrace: -time.Second}
	if cfg.Worker != want {
		t.Fatalf("worker %+v, want %+v", cfg.Worker, want)
	}
	got := cfg.Worker.WithDefaults()
	if got.LeaseTTL != 3*time.Second || got.MaxRestarts != 3 || got.PollInterval != 250*time.Millisecond ||
		got.ControlGrace != -time.Second || got.ID != "w-7" {
		t.Fatalf("with defaults %+v: set values kept, maxRestarts 3 and pollInterval 250ms by default", got)
	}
	for _, key := range []string{"pollInterval: 1s", "controlURL: http://x", "planDir: /tmp"} {
		if _, err := LoadConfigFile(writeConfig(t, "worker: {"+key+"}\n"), DefaultConfig()); !errors.Is(err, ErrConfig) {
			t.Errorf("worker.%s: err %v, want an unknown field", key, err)
		}
	}
}
