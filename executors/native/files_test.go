package native

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Feeder files are read inside the spec's directory and nowhere else: a
// path that climbs out, an absolute path and a symbolic link leaving the
// directory are refused when Prepare opens them, whatever the plan says.
func TestFeederFilesAreConfinedToTheSpecDirectory(t *testing.T) {
	var hits atomic.Int64
	srv := okServer(t, &hits)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	if err := os.WriteFile(secret, []byte("user\nroot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.csv"), []byte("user\nalice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, to := range map[string]string{"link.csv": secret, "linkdir": outside, "inside.csv": "ok.csv"} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		why, dir, file string
		wantErr        string // empty: Prepare succeeds
	}{
		{"a file of the directory is read", dir, "ok.csv", ""},
		{"a link that stays inside is followed", dir, "inside.csv", ""},
		{"a link to a file outside is refused", dir, "link.csv", "escapes"},
		{"a link to a directory outside is refused", dir, "linkdir/secret.csv", "escapes"},
		{"a path that climbs out is refused", dir, "../" + filepath.Base(outside) + "/secret.csv", "must not contain"},
		{"an absolute path is refused", dir, secret, "relative path"},
		{"without a directory there are no files, and the error says why", "", "ok.csv", "names no directory"},
	}
	for _, tc := range cases {
		t.Run(tc.why, func(t *testing.T) {
			spec := parsePlan(t, `{"name": "feed", "target": {"baseUrl": %q},
				"scenarios": [{"name": "s", "feeder": {"file": %q}, "steps": [{"request": {"name": "r", "url": "/${user}"}}]}],
				"load": {"open": [{"atOnceUsers": {"users": 1}}]}}`, srv.URL, tc.file)
			spec.Dir = tc.dir
			tool := New(logger())
			err := tool.Prepare(context.Background(), spec)
			_ = tool.Close()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Prepare: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Prepare: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, _, err := openPlanFiles(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing directory: %v, want not exist", err)
	}
}
