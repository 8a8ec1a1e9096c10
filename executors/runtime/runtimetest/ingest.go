package runtimetest

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Key identifies a snapshot, as the ingest stores it.
type Key struct {
	RunID   string
	Shard   int
	Attempt int
	Seq     uint64
}

// Ingest is a real HTTP server on loopback speaking the reporting ingest
// API (POST /v1/ingest/snapshots, gzip JSON arrays, bearer token), storing
// snapshots idempotently by Key and counting what it received twice. It can
// go down (refusing connections) and come back on the same address.
type Ingest struct {
	addr    string
	token   string
	t       testing.TB
	mu      sync.Mutex
	srv     *http.Server
	stored  map[Key]wire.Snapshot
	times   map[Key]int
	fail    int // the next requests to store, then answer 503 (a lost ack)
	refuse  int // the next requests to answer 503 without storing
	reqs    int
	badAuth int
}

// NewIngest starts an ingest on 127.0.0.1 that accepts token; it stops
// with the test.
func NewIngest(t testing.TB, token string) *Ingest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &Ingest{addr: ln.Addr().String(), token: token, t: t, stored: map[Key]wire.Snapshot{}, times: map[Key]int{}}
	in.serve(ln)
	t.Cleanup(in.Down)
	return in
}

// URL is the ingest's base URL.
func (in *Ingest) URL() string { return "http://" + in.addr }

func (in *Ingest) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(in.handle)}
	in.mu.Lock()
	in.srv = srv
	in.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Down closes the listener and every connection: clients get "connection
// refused" until Up.
func (in *Ingest) Down() {
	in.mu.Lock()
	srv := in.srv
	in.srv = nil
	in.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (in *Ingest) Up() {
	in.t.Helper()
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		in.t.Errorf("ingest: listen again on %s: %v", in.addr, err)
		return
	}
	in.serve(ln)
}

// LoseAcks makes the next n requests store their snapshots but answer 503,
// as when an acknowledgement is lost: the client must send them again.
func (in *Ingest) LoseAcks(n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fail = n
}

// Refuse makes the next n requests answer 503 without storing anything.
func (in *Ingest) Refuse(n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.refuse = n
}

func (in *Ingest) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != wire.IngestPath {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	in.mu.Lock()
	in.reqs++
	if r.Header.Get("Authorization") != "Bearer "+in.token {
		in.badAuth++
		in.mu.Unlock()
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if in.refuse > 0 {
		in.refuse--
		in.mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	in.mu.Unlock()
	snaps, err := decodeBatch(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	ack := wire.Ack{Acked: []uint64{}}
	for _, s := range snaps {
		k := Key{s.RunID, s.Shard, s.Attempt, s.Seq}
		in.times[k]++
		if _, dup := in.stored[k]; !dup {
			in.stored[k] = s
		}
		ack.Acked = append(ack.Acked, s.Seq)
	}
	lose := in.fail > 0
	if lose {
		in.fail--
	}
	in.mu.Unlock()
	if lose {
		http.Error(w, "ack lost", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ack)
}

func decodeBatch(r *http.Request) ([]wire.Snapshot, error) {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return nil, errors.New("want Content-Encoding: gzip")
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		return nil, err
	}
	var snaps []wire.Snapshot
	if err := json.NewDecoder(zr).Decode(&snaps); err != nil {
		return nil, err
	}
	return snaps, nil
}

// Stored returns the stored snapshots of one shard attempt, by seq.
func (in *Ingest) Stored(runID string, shard, attempt int) []wire.Snapshot {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []wire.Snapshot
	for k, s := range in.stored {
		if k.RunID == runID && k.Shard == shard && k.Attempt == attempt {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b wire.Snapshot) int { return int(a.Seq) - int(b.Seq) })
	return out
}

// Received is how many times each stored key arrived (1 when never
// duplicated).
func (in *Ingest) Received() map[Key]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[Key]int, len(in.times))
	for k, n := range in.times {
		out[k] = n
	}
	return out
}

// Requests is the number of requests served (refused connections excluded).
func (in *Ingest) Requests() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.reqs
}
