package merge

// seqSet remembers the sequence numbers one shard attempt sent, each with
// the second its snapshot fell in. Sequence numbers start at 1 without gaps,
// so it keeps the contiguous prefix as one number and only the out-of-order
// ones above it: its size is bounded by how far out of order snapshots
// arrive, not by the run's length.
type seqSet struct {
	upTo  uint64 // 1..upTo were all seen
	upToK int64  // the second of snapshot upTo
	above map[uint64]int64
	max   uint64
}

func (s *seqSet) has(seq uint64) bool {
	if seq <= s.upTo {
		return true
	}
	_, ok := s.above[seq]
	return ok
}

// insert adds a sequence number not seen yet, with its snapshot's second.
func (s *seqSet) insert(seq uint64, k int64) {
	s.max = max(s.max, seq)
	if seq != s.upTo+1 {
		if s.above == nil {
			s.above = map[uint64]int64{}
		}
		s.above[seq] = k
		return
	}
	s.upTo, s.upToK = seq, k
	for {
		next, ok := s.above[s.upTo+1]
		if !ok {
			return
		}
		delete(s.above, s.upTo+1)
		s.upTo, s.upToK = s.upTo+1, next
	}
}
