package app

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		why, in, want, wantErr string
	}{
		{"a reference is replaced", "token: ${TOKEN}\n", "token: s3cret\n", ""},
		{"several on one line", "a: ${TOKEN}-${TOKEN}", "a: s3cret-s3cret", ""},
		{"set but empty is a value", "a: '${EMPTY}'", "a: ''", ""},
		{"$${ is a literal ${", "a: $${TOKEN}", "a: ${TOKEN}", ""},
		{"a bare $ is left alone (passwords have them)", "a: pa$$word $TOKEN", "a: pa$$word $TOKEN", ""},
		{"unset: named, with its line", "a: 1\nb: ${MISSING}\n", "", "line 2: environment variable MISSING is not set"},
		{"not a name", "a: ${TO KEN}", "", `line 1: "${TO KEN}" is not an environment variable reference`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := expandEnv([]byte(tt.in), lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestConfigFileTakesTokensFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loadfleet.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("LF_TEST_TOKEN", "from-a-secret")
	write("auth: {tokens: [\"${LF_TEST_TOKEN}\", literal]}\n")
	cfg, err := LoadConfigFile(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"from-a-secret", "literal"}; !reflect.DeepEqual(cfg.Auth.Tokens, want) {
		t.Fatalf("tokens %q, want %q", cfg.Auth.Tokens, want)
	}

	write("listen: 127.0.0.1:9\nauth: {tokens: [\"${LF_TEST_UNSET}\"]}\n")
	before := DefaultConfig()
	cfg, err = LoadConfigFile(path, before)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "line 2: environment variable LF_TEST_UNSET is not set") {
		t.Fatalf("err %v; want the unset variable named with its line", err)
	}
	if cfg.Listen != before.Listen {
		t.Fatal("a refused file changed the configuration")
	}
}
