// Package shardtoken issues and checks the tokens that executors present to
// the executor API and the reporting ingest: one per attempt of a shard,
// naming the run, shard and attempt, with a random secret.
package shardtoken

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// ErrBadToken is a shard token that is malformed or does not match.
var ErrBadToken = errors.New("invalid shard token")

// New returns a token for one attempt of one shard. It names what it
// stands for, so the executor API can find the run, and carries a random
// secret compared in constant time against the stored token.
func New(runID string, shard, attempt int) string {
	var secret [18]byte
	_, _ = rand.Read(secret[:])
	return fmt.Sprintf("%s.%d.%d.%s", runID, shard, attempt, hex.EncodeToString(secret[:]))
}

// parse reads the shard attempt a token names.
func parse(token string) (wire.ShardID, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] == "" || parts[3] == "" {
		return wire.ShardID{}, ErrBadToken
	}
	shard, err1 := strconv.Atoi(parts[1])
	attempt, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || shard < 0 || attempt < 0 {
		return wire.ShardID{}, ErrBadToken
	}
	return wire.ShardID{RunID: parts[0], Shard: shard, Attempt: attempt}, nil
}

// Shard returns the shard of run that token authenticates: the
// shard's current attempt, with an equal token. Reporting's ingest uses it
// too. A token of an earlier attempt is still accepted (its executor may
// be flushing what it measured), as long as it matches what was issued.
func Shard(run store.Run, token string) (*store.Shard, wire.ShardID, error) {
	id, err := parse(token)
	if err != nil || id.RunID != run.ID || id.Shard >= len(run.Shards) {
		return nil, id, ErrBadToken
	}
	sh := &run.Shards[id.Shard]
	if id.Attempt == sh.Attempt {
		if subtle.ConstantTimeCompare([]byte(sh.Token), []byte(token)) != 1 {
			return nil, id, ErrBadToken
		}
		return sh, id, nil
	}
	for _, old := range sh.PastTokens {
		if subtle.ConstantTimeCompare([]byte(old), []byte(token)) == 1 {
			return sh, id, nil
		}
	}
	return nil, id, ErrBadToken
}

// RunID returns the run a token names, without checking it.
func RunID(token string) (string, error) {
	id, err := parse(token)
	return id.RunID, err
}

// RunReader reads a run: all Authenticate needs of the metadata store.
type RunReader interface {
	Run(ctx context.Context, id string) (store.Run, error)
}

// Authenticate returns the run and shard a request's bearer token stands
// for, or writes the error answer.
func Authenticate(ctx context.Context, st RunReader, w http.ResponseWriter, r *http.Request) (store.Run, *store.Shard, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	runID, err := RunID(token)
	if !ok || err != nil {
		httpserver.WriteError(w, http.StatusUnauthorized, "a shard token is required (Authorization: Bearer ...)")
		return store.Run{}, nil, false
	}
	run, err := st.Run(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		httpserver.WriteError(w, http.StatusUnauthorized, "invalid shard token")
		return run, nil, false
	}
	if err != nil {
		httpserver.WriteError(w, http.StatusServiceUnavailable, "cannot read the run: "+err.Error())
		return run, nil, false
	}
	sh, _, err := Shard(run, token)
	if err != nil {
		httpserver.WriteError(w, http.StatusUnauthorized, "invalid shard token")
		return run, nil, false
	}
	return run, sh, true
}
