// Package private makes the files and directories loadfleet keeps on disk
// (stores with shard tokens and plans, reports, git checkouts) readable by
// their owner only: 0700 directories and 0600 files, whatever the umask,
// and tightened when an earlier version or another tool left them broader.
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Modes of what this package creates.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// ErrNotTightened is a path this process could not chmod (it does not own
// it, as with a volume's mount point): it works, but its mode stays broader
// than the owner's. Callers may log it rather than fail.
var ErrNotTightened = errors.New("cannot restrict its permissions to its owner")

// Dir creates dir (and its missing parents) with mode 0700, or tightens it
// to its owner when it exists with group or other bits. Parents that
// existed are left alone: they are not loadfleet's.
func Dir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, DirMode); err != nil {
			return err
		}
		// The umask may have taken more than group and other (0177
		// would leave a directory nobody can enter): set it exactly.
		return os.Chmod(dir, DirMode)
	case err != nil:
		return err
	case !info.IsDir():
		return fmt.Errorf("%s: not a directory", dir)
	}
	return tighten(dir, info.Mode())
}

// File creates the empty file path with mode 0600 when it is missing, or
// tightens it when it exists, so that a program about to open it (SQLite)
// finds it private from its first byte. Its directory must exist.
func File(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	if err == nil {
		if err := f.Close(); err != nil {
			return err
		}
		return os.Chmod(path, FileMode)
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	return Existing(path)
}

// Existing tightens each path that exists (a SQLite file's -wal and -shm,
// say) and ignores the missing ones.
func Existing(paths ...string) error {
	var errs []error
	for _, p := range paths {
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, tighten(p, info.Mode()))
	}
	return errors.Join(errs...)
}

// SQLite prepares a SQLite database at path: the file created 0600 (or
// tightened) before SQLite opens it, and its -wal and -shm tightened when
// an earlier run left them. SQLite creates those two with the database
// file's mode, whatever the umask.
func SQLite(path string) error {
	if err := File(path); err != nil {
		return err
	}
	return Existing(path+"-wal", path+"-shm", path+"-journal")
}

// tighten clears the group and other bits of mode; the owner's stay.
func tighten(path string, mode fs.FileMode) error {
	perm := mode.Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		return fmt.Errorf("%s (mode %s): %w: %w", path, perm, ErrNotTightened, err)
	}
	return nil
}
