package merge

import (
	"reflect"
	"testing"
)

func TestSeqGaps(t *testing.T) {
	for _, tc := range []struct {
		why    string
		insert []uint64
		want   []SeqGap
	}{
		{"nothing arrived: no gap below the highest", nil, nil},
		{"in order, no gap", []uint64{1, 2, 3}, nil},
		{"a hole in the middle, between the seconds around it", []uint64{1, 2, 5, 6},
			[]SeqGap{{From: 3, To: 4, AfterSecond: 2, BeforeSecond: 5}}},
		{"the first ones never came", []uint64{3},
			[]SeqGap{{From: 1, To: 2, AfterSecond: -1, BeforeSecond: 3}}},
		{"two holes, out of order arrival", []uint64{7, 1, 4},
			[]SeqGap{{From: 2, To: 3, AfterSecond: 1, BeforeSecond: 4}, {From: 5, To: 6, AfterSecond: 4, BeforeSecond: 7}}},
		{"a late snapshot fills the hole", []uint64{1, 3, 2}, nil},
	} {
		var s seqSet
		for _, seq := range tc.insert {
			s.insert(seq, int64(seq)) // snapshot n covers second n
		}
		if got := s.gaps(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: gaps %+v, want %+v", tc.why, got, tc.want)
		}
	}
}

func TestBehindNamesShardsWithoutDataForASecond(t *testing.T) {
	a := New(Config{RunID: "r", Shards: 3}, nil)
	a.seqs[shardKey{0, 0}] = &seqSet{upTo: 5, upToK: 4}
	a.shards[0] = &shardState{}
	a.seqs[shardKey{1, 1}] = &seqSet{upTo: 2, upToK: 1, final: 2}
	a.shards[1] = &shardState{attempt: 1, finalSeq: 2}
	// shard 2 sent nothing at all
	for _, tc := range []struct {
		k    int64
		want []int
	}{
		{3, []int{2}},    // shard 0 reached second 4; shard 1 ended
		{4, []int{2}},    // shard 0's latest is second 4 itself
		{5, []int{0, 2}}, // shard 0 has not reported second 5 yet
	} {
		if got := a.Behind(tc.k); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Behind(%d) = %v, want %v", tc.k, got, tc.want)
		}
	}
}
