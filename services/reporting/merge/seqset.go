package merge

import "slices"

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
	// final is the final snapshot's sequence number (0 until it came), and
	// stopReason what it said about the shard's end.
	final      uint64
	stopReason string
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

// SeqGap is a run of sequence numbers of one shard attempt that never
// arrived, between the seconds of the snapshots around it.
type SeqGap struct {
	From, To uint64
	// AfterSecond is the run second of the snapshot before the gap (-1:
	// the gap starts at the first snapshot); BeforeSecond that of the one
	// after it (-1: nothing arrived after it).
	AfterSecond, BeforeSecond int64
}

// gaps lists the missing sequence numbers below the highest one seen (a
// missing tail is told by the final snapshot's absence, not here).
func (s *seqSet) gaps() []SeqGap {
	var out []SeqGap
	prev, prevK := s.upTo, s.upToK
	if s.upTo == 0 {
		prevK = -1
	}
	seen := make([]uint64, 0, len(s.above))
	for seq := range s.above {
		seen = append(seen, seq)
	}
	slices.Sort(seen)
	for _, seq := range seen {
		if seq > prev+1 {
			out = append(out, SeqGap{From: prev + 1, To: seq - 1, AfterSecond: prevK, BeforeSecond: s.above[seq]})
		}
		prev, prevK = seq, s.above[seq]
	}
	return out
}
