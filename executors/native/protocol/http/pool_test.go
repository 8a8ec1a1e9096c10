package http

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The service estimate is the shortest hold of the current and previous
// windows: one stall of the injector's own cannot make every connection
// look slow, and a server slower across the board shows within a window.
func TestServiceEstimateIsTheRecentMinimum(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	cases := []struct {
		name    string
		samples []time.Duration // one per 10 ms from t0
		want    time.Duration
	}{
		{"nothing returned yet: no estimate", nil, 0},
		{"a stall's long holds do not lift the minimum", []time.Duration{ms / 10, 15 * ms, 14 * ms, 13 * ms}, ms / 10},
		{"a server slower across the board raises it after two windows",
			[]time.Duration{ms / 10, 900 * ms, 950 * ms, 1000 * ms, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 900 * ms}, 900 * ms},
	}
	for _, tc := range cases {
		var w minWindow
		for i, d := range tc.samples {
			if d > 0 {
				w.add(d, t0.Add(time.Duration(i)*10*ms))
			}
		}
		if got := w.value(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Warm opens the connections a run will need before it starts, and the
// requests then reuse them rather than dial.
func TestWarmOpensConnectionsThatRequestsReuse(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c := NewClient(Options{})
	defer c.CloseAll()
	opened, err := c.Warm(srv.URL+"/anything", 5)
	if err != nil || opened != 5 || c.OpenConnections() != 5 {
		t.Fatalf("warm: opened %d (%d open), %v; want 5", opened, c.OpenConnections(), err)
	}
	for range 20 {
		if err := do(t, c, get(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.OpenConnections(); n != 5 {
		t.Errorf("%d connections after 20 requests, want the 5 warmed", n)
	}
	if opened, err := c.Warm(srv.URL, 3); err != nil || opened != 0 {
		t.Errorf("warming a pool that holds enough opened %d (%v), want none", opened, err)
	}
}

// A target that is down when the run is prepared is no failure of the
// warm-up, and leaves nothing counted as open.
func TestWarmAgainstADownTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := NewClient(Options{})
	opened, err := c.Warm("http://"+addr+"/", 4)
	if opened != 0 || err == nil {
		t.Fatalf("opened %d, err %v; want 0 and the dial error", opened, err)
	}
	hp := c.hosts["http://"+addr]
	if hp.open != 0 || c.OpenConnections() != 0 {
		t.Errorf("pool counts %d open (%d really), want 0", hp.open, c.OpenConnections())
	}
	if _, err := c.Warm("::not a url", 1); err == nil {
		t.Error("a bad URL warmed without error")
	}
}

// A request larger than the socket takes at once is finished by Go's own
// write, and a response that arrives in pieces is read whole; both count
// their wire bytes exactly.
func TestLargeRequestsAndResponsesInPieces(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 8<<20)
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "30")
		_, _ = w.Write([]byte(strings.Repeat("a", 10)))
		w.(nethttp.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(strings.Repeat("b", 10)))
		w.(nethttp.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(strings.Repeat("c", 9)))
		_, _ = w.Write([]byte{byte('0' + n%10)})
	}))
	defer srv.Close()
	c := NewClient(Options{})
	defer c.CloseAll()
	x := &Exchange{Method: "POST", URL: []byte(srv.URL + "/up"), Body: body, Timeout: 10 * time.Second}
	if err := c.Do(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("a", 10) + strings.Repeat("b", 10) + strings.Repeat("c", 9) + "8" // 8 MiB ends in ...608
	if got := string(x.ResponseBody()); got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if x.BytesSent < int64(len(body)) || x.BytesSent > int64(len(body))+512 {
		t.Errorf("sent %d bytes for an %d-byte body", x.BytesSent, len(body))
	}
	// The same connection carries the next request: nothing was left over.
	if err := c.Do(context.Background(), get(srv.URL+"/")); err != nil || c.OpenConnections() != 1 {
		t.Errorf("next request: %v, %d connections open, want 1", err, c.OpenConnections())
	}
}

// A target that takes no connection (its accept queue is full) does not
// hold the executor in Prepare: the whole warm-up gives up after
// warmTimeout, not after a timeout per dial.
func TestWarmGivesUpOnASilentTarget(t *testing.T) {
	addr := silentListener(t)
	c := NewClient(Options{})
	defer c.CloseAll()
	start := time.Now()
	opened, err := c.Warm("http://"+addr+"/", 64)
	took := time.Since(start)
	if err == nil || took > warmTimeout+time.Second {
		t.Fatalf("warm: opened %d, %v, after %v; want an error within %v", opened, err, took, warmTimeout)
	}
	if n := c.hosts["http://"+addr].open; n != opened {
		t.Errorf("pool counts %d open, %d were opened", n, opened)
	}
}

// silentListener listens on loopback with a backlog of zero and never
// accepts: once its queue is full, further connections wait unanswered.
func silentListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
