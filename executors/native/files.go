package native

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// errNoPlanDir is a plan file asked for by a spec that names no directory:
// a plan run on a server reads its files from its git source's checkout.
var errNoPlanDir = errors.New("the shard spec names no directory for the plan's files " +
	"(a plan run on a server reads them from its git source: set source.git)")

// openPlanFiles opens the directory a spec's relative files (feeders) are
// read from, confined with os.Root: a path with "..", an absolute path or
// a symbolic link that leaves dir is refused when it is opened, whatever
// the plan says. An empty dir holds nothing. close releases the directory.
func openPlanFiles(dir string) (fsys fs.FS, close func() error, err error) {
	if dir == "" {
		return noFiles{}, func() error { return nil }, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("native: the plan's directory: %w", err)
	}
	return root.FS(), root.Close, nil
}

// noFiles is the file system of a spec without a directory.
type noFiles struct{}

func (noFiles) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: %w", fs.ErrNotExist, errNoPlanDir)}
}
