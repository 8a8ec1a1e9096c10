//go:build unix

package private

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// withUmask runs the test under umask mask: modes must not depend on it.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestDir(t *testing.T) {
	tests := []struct {
		why    string
		umask  int
		before fs.FileMode // 0: missing
		want   fs.FileMode
	}{
		{"created private under the most permissive umask", 0, 0, 0o700},
		{"created usable under a umask that takes the owner's x", 0o177, 0, 0o700},
		{"an existing world-readable one is tightened", 0o022, 0o755, 0o700},
		{"a group-writable one too", 0o022, 0o770, 0o700},
		{"a private one is left as it is", 0o022, 0o700, 0o700},
		{"the owner's bits are the owner's business", 0o022, 0o500, 0o500},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			withUmask(t, tt.umask)
			dir := filepath.Join(t.TempDir(), "data")
			if tt.before != 0 {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := Dir(dir); err != nil {
				t.Fatal(err)
			}
			if got := mode(t, dir); got != tt.want {
				t.Fatalf("mode %s, want %s", got, tt.want)
			}
		})
	}
}

// Missing parents are created private; an existing parent is not touched.
func TestDirParents(t *testing.T) {
	withUmask(t, 0)
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Dir(filepath.Join(root, "a", "b")); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, filepath.Join(root, "a")); got != 0o700 {
		t.Errorf("a new parent: mode %s, want 0700", got)
	}
	if got := mode(t, root); got != 0o755 {
		t.Errorf("an existing parent: mode %s, want it left at 0755", got)
	}
}

func TestDirRefusesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Dir(path); err == nil {
		t.Fatal("Dir of a regular file succeeded")
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		why     string
		before  fs.FileMode // 0: missing
		content string
		want    fs.FileMode
	}{
		{"created 0600 under umask 0", 0, "", 0o600},
		{"a world-readable one is tightened, its content kept", 0o644, "data", 0o600},
		{"a read-only private one stays read-only", 0o400, "data", 0o400},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			withUmask(t, 0)
			path := filepath.Join(t.TempDir(), "loadfleet.db")
			if tt.before != 0 {
				if err := os.WriteFile(path, []byte(tt.content), tt.before); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := File(path); err != nil {
				t.Fatal(err)
			}
			if got := mode(t, path); got != tt.want {
				t.Fatalf("mode %s, want %s", got, tt.want)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Fatalf("content %q, want %q", data, tt.content)
			}
		})
	}
}

// SQLite tightens the journal files an earlier run left, and creates none.
func TestSQLite(t *testing.T) {
	withUmask(t, 0)
	dir := t.TempDir()
	db := filepath.Join(dir, "loadfleet.db")
	if err := os.WriteFile(db+"-wal", []byte("w"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := SQLite(db); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-wal"} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s: mode %s, want 0600", filepath.Base(p), got)
		}
	}
	if _, err := os.Stat(db + "-shm"); err == nil {
		t.Error("SQLite created a -shm file: SQLite's to create")
	}
}
