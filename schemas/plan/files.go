package plan

import (
	"errors"
	"fmt"
	"io/fs"
)

// CheckFiles checks the files a parsed plan references, in fsys:
//
//   - with source.git, fsys is the root of the git checkout: source.git.path
//     and the feeder files are relative to it;
//   - without, fsys is the directory holding the plan file, and the feeder
//     files are relative to it.
//
// Missing files, files over MaxFileBytes and feeders that do not parse are
// problems of the plan, returned together as a *ValidationError (Kind
// ErrInvalid) at the pointer of the field naming the file. Any other error
// (an unreadable directory) is the caller's, returned as is.
func CheckFiles(p *Plan, fsys fs.FS) error {
	verr := &ValidationError{Kind: ErrInvalid}
	base := "the plan's directory"
	if p.Source != nil && p.Source.Git != nil {
		base = "the root of the git source"
		if name := p.Source.Git.Path; name != "" {
			if err := checkScript(fsys, name); err != nil {
				if !addFileProblem(verr, "/source/git/path", name, base, err) {
					return fmt.Errorf("check script %s: %w", name, err)
				}
			}
		}
	}
	for i := range p.Scenarios {
		f := p.Scenarios[i].Feeder
		if f == nil {
			continue
		}
		if _, err := ReadFeeder(fsys, f); err != nil {
			if !addFileProblem(verr, pointer("/scenarios", i, "feeder", "file"), f.File, base, err) {
				return fmt.Errorf("check feeder %s: %w", f.File, err)
			}
		}
	}
	verr.Problems = sortProblems(verr.Problems)
	return verr.Err()
}

func checkScript(fsys fs.FS, name string) error {
	clean, err := CleanRelPath(name)
	if err != nil {
		return err
	}
	_, err = readLimited(fsys, clean)
	return err
}

// addFileProblem records err as a problem of the plan when it is one, and
// reports whether it was.
func addFileProblem(verr *ValidationError, ptr, name, base string, err error) bool {
	var fe *FeederError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		verr.Add(ptr, "file %q not found (paths are relative to %s)", name, base)
	case errors.Is(err, ErrFileTooLarge):
		verr.Add(ptr, "file %q is over %d bytes (1 MiB)", name, MaxFileBytes)
	case errors.Is(err, ErrBadFilePath):
		verr.Add(ptr, "%s", pathMessage(err))
	case errors.As(err, &fe):
		verr.Add(ptr, "%s", fe.Error())
	case errors.Is(err, errIsDir):
		verr.Add(ptr, "%q is a directory, not a file", name)
	default:
		return false
	}
	return true
}
