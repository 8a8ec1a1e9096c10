//go:build unix

package app

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The data directory and the stores in it (shard tokens, plans, series) are
// their owner's only, under the most permissive umask, whether the app
// creates them or finds them broader (an earlier version made them 0755 and
// 0644).
func TestDataFilesArePrivate(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := map[bool]string{false: "created", true: "tightened"}[existing]
		t.Run(name, func(t *testing.T) {
			old := syscall.Umask(0)
			defer syscall.Umask(old)
			dir := filepath.Join(t.TempDir(), "loadfleet-data")
			if existing {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"loadfleet.db", "loadfleet.db-wal", "series.db"} {
					if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg := DefaultConfig()
			cfg.Listen = "127.0.0.1:0"
			cfg.DataDir = dir
			cfg.DisableGit = true
			a, err := New(TargetAll, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, stop, err := a.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = stop() }()

			wantMode(t, dir, 0o700)
			for _, db := range []string{"loadfleet.db", "series.db"} {
				path := filepath.Join(dir, db)
				wantMode(t, path, 0o600)
				// SQLite opened them in WAL mode: the journal files exist
				// while the app serves, with the database's mode.
				wantMode(t, path+"-wal", 0o600)
				wantMode(t, path+"-shm", 0o600)
			}
			// Nothing else in the data directory is readable by others
			// (the local executors' directory is the job backend's own).
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || path == dir || d.Name() == "executors" {
					if d != nil && d.IsDir() && d.Name() == "executors" {
						return filepath.SkipDir
					}
					return err
				}
				info, err := d.Info()
				if err == nil && info.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s: mode %s, readable beyond its owner", path, info.Mode().Perm())
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %s, want %s", filepath.Base(path), got, want)
	}
}
