package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// spool keeps the snapshots that the ingest has not acknowledged, one file
// per snapshot named by its sequence number, so that they survive an ingest
// outage and a restart of the executor. Its size is bounded.
type spool struct {
	dir      string
	maxBytes int64

	mu      sync.Mutex
	entries []spoolEntry // sorted by seq
	bytes   int64
	lastSeq uint64
}

type spoolEntry struct {
	seq  uint64
	size int64
}

const (
	spoolExt     = ".json"
	lastSeqFile  = "lastseq"
	spoolTempExt = ".tmp"
)

// spoolName is the file a snapshot is spooled in: its sequence number, with
// leading zeros so that a listing sorts in sequence order.
func spoolName(seq uint64) string {
	return fmt.Sprintf("%020d%s", seq, spoolExt)
}

// SpoolSeq is the sequence number of the snapshot a spool file holds, and
// false for the spool's other files (its high-water mark, interrupted
// writes). Whoever reads a spool by other means than ReadSpool (a backend
// copying it out of a container) picks snapshots with it, so the spool's
// naming stays known in this file only.
func SpoolSeq(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, spoolExt)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// openSpool opens (creating it if needed) the spool in dir and reloads what
// a previous executor of the same shard and attempt left there.
func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range names {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, spoolTempExt):
			// A write interrupted before its rename: never acknowledged
			// as sent, so it is safe to drop.
			_ = os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, spoolExt):
			seq, ok := SpoolSeq(name)
			if !ok {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
			s.entries = append(s.entries, spoolEntry{seq: seq, size: info.Size()})
			s.bytes += info.Size()
			s.lastSeq = max(s.lastSeq, seq)
		}
	}
	slices.SortFunc(s.entries, func(a, b spoolEntry) int { return cmpUint(a.seq, b.seq) })
	if b, err := os.ReadFile(filepath.Join(dir, lastSeqFile)); err == nil {
		if seq, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			s.lastSeq = max(s.lastSeq, seq)
		}
	}
	return s, nil
}

// ReadSpool returns the snapshots (JSON, oldest first) that an executor
// left in the spool dir and nobody acknowledged: what the platform collects
// from an executor that exited before it could deliver them. A missing dir
// holds nothing.
func ReadSpool(dir string) ([][]byte, error) {
	names, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var seqs []uint64
	for _, e := range names {
		if seq, ok := SpoolSeq(e.Name()); ok {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	out := make([][]byte, 0, len(seqs))
	for _, seq := range seqs {
		data, err := os.ReadFile(filepath.Join(dir, spoolName(seq)))
		if errors.Is(err, os.ErrNotExist) {
			continue // acknowledged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		out = append(out, data)
	}
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// add stores a snapshot atomically (temporary file, fsync, rename). It
// returns ErrSpoolFull when the snapshot would take the spool past its
// bound, unless force is set: the final snapshot is always kept, because
// without it nobody can tell that the shard ended.
func (s *spool) add(seq uint64, data []byte, force bool) error {
	s.mu.Lock()
	full := s.bytes+int64(len(data)) > s.maxBytes
	s.mu.Unlock()
	if full && !force {
		return ErrSpoolFull
	}
	name := filepath.Join(s.dir, spoolName(seq))
	if err := writeFileAtomic(name, data); err != nil {
		return fmt.Errorf("spool seq %d: %w", seq, err)
	}
	// The high-water mark lets a restarted executor continue the sequence
	// instead of reusing numbers the ingest already stored.
	if err := writeFileAtomic(filepath.Join(s.dir, lastSeqFile), []byte(strconv.FormatUint(seq, 10))); err != nil {
		return fmt.Errorf("spool seq %d: %w", seq, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, spoolEntry{seq: seq, size: int64(len(data))})
	s.bytes += int64(len(data))
	s.lastSeq = max(s.lastSeq, seq)
	return nil
}

func writeFileAtomic(name string, data []byte) error {
	tmp := name + spoolTempExt
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, name)
}

// oldest returns up to n of the oldest entries.
func (s *spool) oldest(n int) []spoolEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries[:min(n, len(s.entries))])
}

func (s *spool) read(seq uint64) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, spoolExt)))
}

// remove forgets acknowledged snapshots.
func (s *spool) remove(seqs []uint64) error {
	var errs []error
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seq := range seqs {
		i, found := slices.BinarySearchFunc(s.entries, seq, func(e spoolEntry, t uint64) int { return cmpUint(e.seq, t) })
		if !found {
			continue
		}
		err := os.Remove(filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, spoolExt)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		s.bytes -= s.entries[i].size
		s.entries = slices.Delete(s.entries, i, i+1)
	}
	return errors.Join(errs...)
}

// pending is the number and total size of unacknowledged snapshots.
func (s *spool) pending() (n int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries), s.bytes
}

func (s *spool) highWater() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}
