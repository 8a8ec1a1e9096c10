package shardtoken

import (
	"errors"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

func TestTokens(t *testing.T) {
	run := store.Run{ID: "r-1", Shards: []store.Shard{{Index: 0}, {Index: 1}}}
	for i := range run.Shards {
		run.Shards[i].Token = New(run.ID, i, 0)
	}
	old := run.Shards[1].Token
	run.Shards[1].PastTokens = []string{old}
	run.Shards[1].Attempt = 1
	run.Shards[1].Token = New(run.ID, 1, 1)

	if sh, id, err := Shard(run, run.Shards[1].Token); err != nil || sh.Index != 1 || id.Attempt != 1 {
		t.Fatalf("current token: shard %v id %+v err %v", sh, id, err)
	}
	if sh, id, err := Shard(run, old); err != nil || sh.Index != 1 || id.Attempt != 0 {
		t.Fatalf("an earlier attempt's token still flushes: shard %v id %+v err %v", sh, id, err)
	}
	tok := run.Shards[0].Token
	last := "0"
	if strings.HasSuffix(tok, "0") {
		last = "1"
	}
	forged := tok[:len(tok)-1] + last
	for name, token := range map[string]string{
		"empty": "", "garbage": "abc", "another run's": strings.Replace(run.Shards[0].Token, "r-1", "r-2", 1),
		"a shard out of range": "r-1.7.0.abcdef", "a forged secret": forged,
		"a negative shard": "r-1.-1.0.abc",
	} {
		if _, _, err := Shard(run, token); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s token: err %v, want ErrBadToken", name, err)
		}
	}
}
