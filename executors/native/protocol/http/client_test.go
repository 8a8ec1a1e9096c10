package http

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/loadfleet/loadfleet/executors/stats"
)

func get(url string) *Exchange {
	return &Exchange{Method: "GET", URL: []byte(url), Timeout: 5 * time.Second, MaxRedirects: 10, Jar: &Jar{}}
}

func do(t *testing.T, c *Client, x *Exchange) error {
	t.Helper()
	return c.Do(context.Background(), x)
}

func TestKeepAliveReusesOneConnectionAndCountsWireBytes(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s nethttp.ConnState) {
		if s == nethttp.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewClient(Options{})
	x := get(srv.URL + "/echo")
	x.Method, x.Body = "POST", []byte("hello")
	for i := range 5 {
		if err := do(t, c, x); err != nil {
			t.Fatal(err)
		}
		if got := string(x.ResponseBody()); got != "POST /echo hello" || x.Status != 200 {
			t.Fatalf("request %d: %d %q", i, x.Status, got)
		}
	}
	if conns.Load() != 1 || c.OpenConnections() != 1 {
		t.Errorf("5 keep-alive requests used %d connections (client sees %d open)", conns.Load(), c.OpenConnections())
	}
	// POST /echo HTTP/1.1 + Host + User-Agent + Content-Length + body: about
	// 100 bytes; the response has Date, Content-Length, Content-Type.
	if x.BytesSent < 80 || x.BytesSent > 200 || x.BytesReceived < 100 || x.BytesReceived > 300 {
		t.Errorf("bytes sent %d received %d", x.BytesSent, x.BytesReceived)
	}
	if x.Sent.IsZero() {
		t.Error("send instant not recorded")
	}
}

func TestCookiesPerExchangeJar(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/login":
			nethttp.SetCookie(w, &nethttp.Cookie{Name: "sid", Value: "abc", Path: "/"})
			nethttp.SetCookie(w, &nethttp.Cookie{Name: "scoped", Value: "1", Path: "/admin"})
		case "/logout":
			nethttp.SetCookie(w, &nethttp.Cookie{Name: "sid", Value: "", Path: "/", MaxAge: -1})
		}
		fmt.Fprint(w, r.Header.Get("Cookie"))
	}))
	defer srv.Close()
	c := NewClient(Options{})
	alice, bob := get(srv.URL+"/login"), get(srv.URL+"/whoami")
	steps := []struct {
		why  string
		x    *Exchange
		path string
		want string
	}{
		{"no cookie before login", alice, "/whoami", ""},
		{"login sets the cookie", alice, "/login", ""},
		{"the session sends it back", alice, "/whoami", "sid=abc"},
		{"a path-scoped cookie goes to its path only", alice, "/admin/x", "sid=abc; scoped=1"},
		{"another session's jar is its own", bob, "/whoami", ""},
		{"an expired Set-Cookie deletes", alice, "/logout", "sid=abc"},
		{"after logout", alice, "/whoami", ""},
	}
	for _, s := range steps {
		s.x.URL = []byte(srv.URL + s.path)
		if err := do(t, c, s.x); err != nil {
			t.Fatal(err)
		}
		if got := string(s.x.ResponseBody()); got != s.want {
			t.Errorf("%s: server saw Cookie %q, want %q", s.why, got, s.want)
		}
	}
}

func redirectServer() *httptest.Server {
	return httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/loop":
			nethttp.Redirect(w, r, "/loop", nethttp.StatusFound)
		case "/a":
			nethttp.SetCookie(w, &nethttp.Cookie{Name: "hop", Value: "a"})
			nethttp.Redirect(w, r, "/b", nethttp.StatusFound)
		case "/b":
			nethttp.Redirect(w, r, "/final", nethttp.StatusSeeOther)
		case "/keep":
			nethttp.Redirect(w, r, "/final", nethttp.StatusTemporaryRedirect)
		default:
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s cookie=%s body=%s", r.Method, r.URL.Path, r.Header.Get("Cookie"), body)
		}
	}))
}

func TestRedirectPolicy(t *testing.T) {
	srv := redirectServer()
	defer srv.Close()
	for _, h2 := range []bool{false, true} {
		c := NewClient(Options{HTTP2: h2})
		if h2 {
			// An h2c server for the same handler.
			h2srv := httptest.NewServer(h2c.NewHandler(srv.Config.Handler, &http2.Server{}))
			defer h2srv.Close()
			srv = h2srv
		}
		tests := []struct {
			why, method, path string
			max               int
			wantStatus        int
			wantBody          string
			wantErr           error
			wantHops          int
		}{
			{"follows a chain, carrying cookies set on the way", "POST", "/a", 10, 200, "GET /final cookie=hop=a body=", nil, 2},
			{"307 keeps method and body", "POST", "/keep", 10, 200, "POST /final cookie= body=payload", nil, 1},
			{"0 returns the redirect itself", "GET", "/a", 0, 302, "", nil, 0},
			{"a loop stops at the limit", "GET", "/loop", 3, 302, "", ErrTooManyRedirects, 3},
		}
		for _, tt := range tests {
			x := get(srv.URL + tt.path)
			x.Method, x.MaxRedirects, x.Body = tt.method, tt.max, []byte("payload")
			err := do(t, c, x)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("h2=%v %s: err %v", h2, tt.why, err)
				continue
			}
			if x.Status != tt.wantStatus || x.Redirects != tt.wantHops || tt.wantBody != "" && string(x.ResponseBody()) != tt.wantBody {
				t.Errorf("h2=%v %s: %d after %d hops, %q", h2, tt.why, x.Status, x.Redirects, x.ResponseBody())
			}
		}
	}
}

func TestTLSVerificationOnlySkippedWhenAsked(t *testing.T) {
	srv := httptest.NewTLSServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprintf(w, "proto=%d", r.ProtoMajor)
	}))
	defer srv.Close()
	err := do(t, NewClient(Options{}), get(srv.URL))
	if err == nil || Classify(err) != stats.Error {
		t.Errorf("self-signed certificate accepted without insecureSkipVerify: %v", err)
	}
	x := get(srv.URL)
	if err := do(t, NewClient(Options{InsecureSkipVerify: true}), x); err != nil || string(x.ResponseBody()) != "proto=1" {
		t.Errorf("insecureSkipVerify: %v %q", err, x.ResponseBody())
	}
	// The server's own roots verify without skipping.
	x = get(srv.URL)
	roots := &tls.Config{RootCAs: srv.Client().Transport.(*nethttp.Transport).TLSClientConfig.RootCAs}
	if err := do(t, NewClient(Options{TLSConfig: roots}), x); err != nil {
		t.Errorf("trusted roots: %v", err)
	}
}

func TestHTTP2OverTLSAndH2C(t *testing.T) {
	handler := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.SetCookie(w, &nethttp.Cookie{Name: "n", Value: "1"})
		fmt.Fprintf(w, "%s cookie=%s", r.Proto, r.Header.Get("Cookie"))
	})
	tlsSrv := httptest.NewUnstartedServer(handler)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	h2cSrv := httptest.NewServer(h2c.NewHandler(handler, &http2.Server{}))
	defer h2cSrv.Close()
	for _, srv := range []*httptest.Server{tlsSrv, h2cSrv} {
		c := NewClient(Options{HTTP2: true, InsecureSkipVerify: true})
		x := get(srv.URL + "/p")
		for i, want := range []string{"HTTP/2.0 cookie=", "HTTP/2.0 cookie=n=1"} {
			if err := do(t, c, x); err != nil {
				t.Fatalf("%s: %v", srv.URL, err)
			}
			if got := string(x.ResponseBody()); got != want {
				t.Errorf("%s request %d: %q, want %q", srv.URL, i, got, want)
			}
		}
		if v, ok := x.ResponseHeader("set-cookie"); !ok || !strings.HasPrefix(string(v), "n=1") {
			t.Errorf("header lookup must be case-insensitive: %q %v", v, ok)
		}
		if x.BytesReceived == 0 || x.BytesSent == 0 || x.Sent.IsZero() {
			t.Errorf("h2 accounting: sent %d received %d at %v", x.BytesSent, x.BytesReceived, x.Sent)
		}
		if c.OpenConnections() != 1 {
			t.Errorf("h2 multiplexes on one connection, have %d", c.OpenConnections())
		}
	}
}

// resetServer reads a request and closes the connection without answering.
func resetServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = bufio.NewReader(conn).ReadString('\n')
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST instead of FIN
				}
				conn.Close()
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestFailuresAreClassified(t *testing.T) {
	slow := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	tests := []struct {
		why  string
		url  string
		want stats.Reason
	}{
		{"nothing listens", closedPort(t), stats.ConnectionRefused},
		{"the server resets the connection", resetServer(t), stats.ConnectionReset},
		{"the server answers too late", slow.URL, stats.Timeout},
	}
	for _, h2 := range []bool{false, true} {
		for _, tt := range tests {
			if h2 && tt.want == stats.ConnectionReset {
				continue // an h2c client sees a reset as a protocol error, not a read failure
			}
			x := get(tt.url)
			x.Timeout = 200 * time.Millisecond
			start := time.Now()
			err := do(t, NewClient(Options{HTTP2: h2}), x)
			if got := Classify(err); got != tt.want {
				t.Errorf("h2=%v %s: %v classified %v, want %v", h2, tt.why, err, got, tt.want)
			}
			if time.Since(start) > time.Second {
				t.Errorf("h2=%v %s: took %v, the timeout is 200ms", h2, tt.why, time.Since(start))
			}
		}
	}
}

func TestCloseAllCutsRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := NewClient(Options{})
	done := make(chan error, 1)
	go func() { done <- c.Do(context.Background(), get(srv.URL)) }()
	for c.OpenConnections() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	c.CloseAll()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cut request succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("CloseAll did not cut the request in flight")
	}
	if c.OpenConnections() != 0 {
		t.Errorf("%d connections still open", c.OpenConnections())
	}
	if err := c.Do(context.Background(), get(srv.URL)); err == nil {
		t.Error("a request after CloseAll got a new connection")
	}
}

func TestMaxConnsPerHostQueuesWithoutCountingTheWaitAsService(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		time.Sleep(100 * time.Millisecond)
	}))
	defer srv.Close()
	c := NewClient(Options{MaxConnsPerHost: 1})
	start := time.Now()
	results := make(chan *Exchange, 3)
	for range 3 {
		go func() {
			x := get(srv.URL)
			if err := c.Do(context.Background(), x); err != nil {
				t.Error(err)
			}
			results <- x
		}()
	}
	var lastSent time.Duration
	for range 3 {
		x := <-results
		lastSent = max(lastSent, x.Sent.Sub(start))
	}
	// The third request waited for two others on the single connection.
	if lastSent < 180*time.Millisecond || c.OpenConnections() != 1 {
		t.Errorf("last send %v after start with %d connections", lastSent, c.OpenConnections())
	}
}

// A slow target must get new connections at once: requests that would wait
// for a busy connection longer than a dial takes are not queued behind it.
func TestSlowTargetGetsAConnectionPerConcurrentRequest(t *testing.T) {
	const concurrent = 40
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer srv.Close()
	c := NewClient(Options{})
	// One request first, so the pool knows the target holds a connection
	// for 300 ms.
	if err := c.Do(context.Background(), get(srv.URL)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := make(chan error, concurrent)
	for range concurrent {
		go func() { errs <- c.Do(context.Background(), get(srv.URL)) }()
	}
	for range concurrent {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if took := time.Since(start); took > 550*time.Millisecond || c.OpenConnections() < concurrent {
		t.Errorf("%d requests of 300 ms took %v over %d connections", concurrent, took, c.OpenConnections())
	}
}

// A fast target is served by the connections already open: a burst of
// requests must not dial a connection per request (dials cost the injector
// more than waiting). How many connections a burst justifies depends on
// the service time the pool measures, which a busy machine inflates, so
// the exact policy is checked in TestDialDecision and this test checks
// that the burst reused connections at all.
func TestFastTargetBurstReusesConnections(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {}))
	defer srv.Close()
	c := NewClient(Options{})
	for range 50 { // warm: the pool learns the service and dial times
		if err := c.Do(context.Background(), get(srv.URL)); err != nil {
			t.Fatal(err)
		}
	}
	const burst = 400
	errs := make(chan error, burst)
	for range burst {
		go func() { errs <- c.Do(context.Background(), get(srv.URL)) }()
	}
	for range burst {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if open := c.OpenConnections(); open >= burst {
		t.Errorf("a burst of %d requests opened %d connections", burst, open)
	}
}

func TestDialDecision(t *testing.T) {
	const us = time.Microsecond
	cases := []struct {
		name  string
		state poolState
		want  bool
	}{
		{"fast target, enough connections for the line",
			poolState{waiters: 400, inUse: 20, service: 50 * us, dialTime: 100 * us, sinceReturn: 5 * us}, false},
		{"fast target, too few connections for the line",
			poolState{waiters: 400, inUse: 2, service: 50 * us, dialTime: 100 * us, sinceReturn: 5 * us}, true},
		{"slow target dials for every waiter",
			poolState{waiters: 100, dialing: 50, inUse: 1, service: 300 * time.Millisecond, dialTime: 100 * us}, true},
		{"a held line is worth a dial however slow dials were measured in a crowd",
			poolState{waiters: 4800, inUse: 5000, service: time.Second, dialTime: 60 * time.Millisecond, sinceReturn: 200 * us}, true},
		{"every waiter already has a dial",
			poolState{waiters: 3, dialing: 3, inUse: 1, service: time.Second, dialTime: 100 * us}, false},
		{"nothing in use: nothing will come back",
			poolState{waiters: 1, service: 50 * us, dialTime: 100 * us}, true},
		{"silence earns one dial",
			poolState{waiters: 10, inUse: 10, service: 50 * us, dialTime: 100 * us, sinceReturn: 2 * time.Millisecond}, true},
		{"silence earns no second dial while one is under way",
			poolState{waiters: 10, dialing: 1, inUse: 10, service: 50 * us, dialTime: 100 * us, sinceReturn: 2 * time.Millisecond}, false},
		{"silence shorter than ten dials is not a stall",
			poolState{waiters: 10, inUse: 10, service: 50 * us, dialTime: 500 * us, sinceReturn: 2 * time.Millisecond}, false},
	}
	for _, tc := range cases {
		if got := tc.state.worthDialing(); got != tc.want {
			t.Errorf("%s: worthDialing = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A plain-TCP response is awaited before a read buffer is taken: it
// still parses, and a timeout is still one, struck while awaiting.
func TestResponsesAreAwaitedWithoutABuffer(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path == "/hold" {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
		_, _ = w.Write([]byte("slow but sure"))
	}))
	defer srv.Close()
	c := NewClient(Options{})
	for range 3 {
		x := get(srv.URL + "/")
		if err := c.Do(context.Background(), x); err != nil || string(x.ResponseBody()) != "slow but sure" {
			t.Fatalf("%v, body %q", err, x.ResponseBody())
		}
	}
	x := get(srv.URL + "/hold")
	x.Timeout = 200 * time.Millisecond
	start := time.Now()
	err := c.Do(context.Background(), x)
	if Classify(err) != stats.Timeout || time.Since(start) > time.Second {
		t.Fatalf("%v (%v) after %v; want a timeout after 200 ms", err, Classify(err), time.Since(start))
	}
	// The timeout struck while awaiting readability, not inside a read.
	if op := (*net.OpError)(nil); !errors.As(err, &op) || op.Op != "raw-read" {
		t.Fatalf("%v: want the timeout of the wait for readability (raw-read)", err)
	}
}

// A pool grows by at most a quarter of itself (minGrowth when smaller) per
// growthWindow, so a burst of waiters cannot turn into a dial per waiter.
func TestPoolGrowthIsBoundedPerWindow(t *testing.T) {
	cases := []struct {
		open, want int
	}{
		{open: 0, want: minGrowth},
		{open: 100, want: minGrowth},
		{open: 1000, want: 1000 / growthDivisor},
	}
	for _, tc := range cases {
		p := &hostPool{open: tc.open}
		granted := 0
		for range 10_000 {
			if p.mayGrowLocked() {
				granted++
			}
		}
		if granted != tc.want {
			t.Errorf("%d open: %d dials granted in one window, want %d", tc.open, granted, tc.want)
		}
		p.windowFrom = p.windowFrom.Add(-growthWindow)
		if !p.mayGrowLocked() {
			t.Errorf("%d open: the next window granted no dial", tc.open)
		}
	}
}

// A keep-alive request allocates nothing of its own: at tens of thousands
// a second, garbage per request sets off collections that stall the
// injector (the pool's key and the error classification each allocated).
func TestKeepAliveRequestsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	// A raw server answering each read with one canned response: the
	// allocations counted are the process's, so the server makes none.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		answer := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
			if _, err := conn.Write(answer); err != nil {
				return
			}
		}
	}()
	c := NewClient(Options{})
	defer c.CloseAll()
	x := get("http://" + ln.Addr().String() + "/")
	x.Jar = nil
	if err := c.Do(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := c.Do(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	})
	if x.Status != 200 {
		t.Fatalf("status %d, want 200: the requests measured did not succeed", x.Status)
	}
	if allocs > 0 {
		t.Fatalf("%v allocations per request, want none", allocs)
	}
}

// The growth budget paces only brief lines: a hiccup's, not those of a
// server holding its requests, whose sessions would queue for connections.
func TestGrowthBudgetPacesOnlyBriefWaits(t *testing.T) {
	cases := []struct {
		name  string
		state poolState
		want  bool
	}{
		{"a fast target's hiccup", poolState{waiters: 400, inUse: 30, service: time.Millisecond, sinceReturn: 5 * time.Millisecond}, true},
		{"a server holding requests 1 s", poolState{waiters: 400, inUse: 3000, service: time.Second, sinceReturn: time.Millisecond}, false},
		{"no return yet for a long while", poolState{waiters: 400, inUse: 3000, sinceReturn: 300 * time.Millisecond}, false},
		{"nothing in use yet", poolState{waiters: 10, sinceReturn: time.Millisecond}, true},
	}
	for _, tc := range cases {
		if got := tc.state.briefWait(); got != tc.want {
			t.Errorf("%s: briefWait = %v (expected wait %v), want %v", tc.name, got, tc.state.expectedWait(), tc.want)
		}
	}
}
