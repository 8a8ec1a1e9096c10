package docker

import (
	"archive/tar"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// SpoolRoot is where executors in containers keep their spools (their
// --spool): a directory of the executor image owned by DefaultUser, in the
// container's own layer (not the work dir's tmpfs), so an exited
// container keeps it until it is removed and Spooled can read it back.
const SpoolRoot = "/spool"

// maxSpoolRead bounds what is read back from one container's spool: the
// executor's own bound, with room for the tar headers.
const maxSpoolRead = runtime.DefaultMaxSpoolBytes + 16<<20

// Spooled implements backend.Spooler: the snapshots an exited executor left
// in its container's spool, copied out of the container through the
// daemon (so it works for remote hosts too).
func (b *Backend) Spooled(ctx context.Context, id wire.ShardID) ([]json.RawMessage, error) {
	st, err := b.Status(ctx, id)
	if err != nil {
		return nil, err
	}
	switch st.Phase {
	case backend.Missing:
		return nil, nil
	case backend.Running, backend.Pending:
		return nil, fmt.Errorf("docker: %w", ErrRunning)
	}
	dir := runtime.SpoolDir(SpoolRoot, id)
	rc, _, err := b.cli.CopyFromContainer(ctx, ContainerName(id), dir)
	if cerrdefs.IsNotFound(err) {
		return nil, nil // it never spooled anything
	}
	if err != nil {
		return nil, b.wrap("copy the spool of "+ContainerName(id), err)
	}
	defer rc.Close()
	return spooledFromTar(io.LimitReader(rc, maxSpoolRead))
}

// spooledFromTar picks the spooled snapshots (runtime.SpoolSeq) out of a
// tar of the spool directory, in sequence order.
func spooledFromTar(r io.Reader) ([]json.RawMessage, error) {
	type entry struct {
		seq uint64
		doc json.RawMessage
	}
	var entries []entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("docker: read the spool archive: %w", err)
		}
		name := path.Base(h.Name)
		seq, ok := runtime.SpoolSeq(name)
		if h.Typeflag != tar.TypeReg || !ok {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("docker: read %s from the spool archive: %w", name, err)
		}
		entries = append(entries, entry{seq: seq, doc: data})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		out[i] = e.doc
	}
	return out, nil
}

var _ backend.Spooler = (*Backend)(nil)
