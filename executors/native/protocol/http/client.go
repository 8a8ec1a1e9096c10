// Package http is the native injector's HTTP client layer. HTTP/1.1 goes
// through keep-alive pools of our own (one per target host, see hostPool),
// with fasthttp writing requests and parsing responses, so that the service
// time starts when a connection is in hand and the request is written, not
// while it waits for a free connection; HTTP/2 (over TLS, or h2c with prior
// knowledge) goes through golang.org/x/net/http2. Both share the redirect
// policy, the per-session cookie jar and the error classification.
package http

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// Sentinels of the client.
var (
	// ErrTooManyRedirects means a request was still redirected after
	// MaxRedirects hops.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrBadURL means a request URL is not an absolute http(s) URL.
	ErrBadURL = errors.New("bad request URL")
)

// Options configure a Client.
type Options struct {
	// HTTP2 selects HTTP/2: over TLS for https URLs, h2c (prior knowledge)
	// for http ones.
	HTTP2 bool
	// InsecureSkipVerify skips TLS certificate verification; only when the
	// plan says so.
	InsecureSkipVerify bool
	// ServerName overrides the TLS server name (SNI and verification).
	ServerName string
	// MaxConnsPerHost caps HTTP/1.1 connections per host; requests beyond
	// it wait for a free connection (their latency grows, their service
	// time does not). Zero means unlimited.
	MaxConnsPerHost int
	// UserAgent is sent when a request sets none.
	UserAgent string
	// TLSConfig, when set, is the base TLS configuration (tests pass their
	// server's roots here); the options above are applied on a clone.
	TLSConfig *tls.Config
}

// Client sends exchanges. It is safe for concurrent use.
type Client struct {
	opts  Options
	tls   *tls.Config
	conns *connSet

	mu    sync.Mutex
	hosts map[string]*hostPool // by "scheme://host"
	h2    *http2.Transport
}

// NewClient returns a Client; connections are dialed on first use.
func NewClient(opts Options) *Client {
	cfg := &tls.Config{}
	if opts.TLSConfig != nil {
		cfg = opts.TLSConfig.Clone()
	}
	cfg.InsecureSkipVerify = opts.InsecureSkipVerify //nolint:gosec // only when the plan asks for it
	if opts.ServerName != "" {
		cfg.ServerName = opts.ServerName
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "loadfleet"
	}
	c := &Client{opts: opts, tls: cfg, conns: newConnSet(), hosts: map[string]*hostPool{}}
	if opts.HTTP2 {
		c.h2 = c.newH2Transport()
	}
	return c
}

// OpenConnections is the number of connections open now.
func (c *Client) OpenConnections() int64 { return c.conns.open.Load() }

// CloseAll cuts every connection, those carrying a request included, and
// refuses new ones: requests in flight fail at once. It is the hard stop at
// the end of gracefulStop.
func (c *Client) CloseAll() {
	c.mu.Lock()
	for _, hp := range c.hosts {
		hp.closeAll()
	}
	c.mu.Unlock()
	c.conns.closeAll()
	if c.h2 != nil {
		c.h2.CloseIdleConnections()
	}
}

// Header is one request header.
type Header struct {
	Name  string
	Value []byte
}

// Exchange is one request and its response. A session owns one and reuses
// it for every request, so that steady-state requests allocate nothing.
type Exchange struct {
	Method  string
	URL     []byte // absolute http(s) URL
	Headers []Header
	Body    []byte
	Timeout time.Duration
	// MaxRedirects is how many redirects to follow; 0 returns the 3xx.
	MaxRedirects int
	// Jar, when set, sends and stores cookies.
	Jar *Jar

	// Status is the final response's status code.
	Status int
	// Sent is when the first hop was actually sent (a connection was in
	// hand); zero when it never was.
	Sent time.Time
	// BytesSent and BytesReceived count every hop: exact wire bytes for
	// HTTP/1.1, header and body sizes for HTTP/2 (HPACK hides the rest).
	BytesSent, BytesReceived int64
	// Redirects is how many redirects were followed.
	Redirects int

	req      fasthttp.Request
	resp     fasthttp.Response
	h2       bool
	h2Header nethttp.Header
	h2Body   []byte
	scratch  []byte
	out      byteSink
	wait     waiter

	lastKey  []byte
	lastPool *hostPool
}

// ResponseBody is the final response body, valid until the next Do.
func (x *Exchange) ResponseBody() []byte {
	if x.h2 {
		return x.h2Body
	}
	return x.resp.Body()
}

// ResponseHeader returns a header of the final response (case-insensitive
// name), valid until the next Do.
func (x *Exchange) ResponseHeader(name string) ([]byte, bool) {
	if x.h2 {
		v, ok := x.h2Header[nethttp.CanonicalHeaderKey(name)]
		if !ok || len(v) == 0 {
			return nil, false
		}
		return []byte(v[0]), true
	}
	v := x.resp.Header.Peek(name)
	return v, v != nil
}

func (x *Exchange) resetResult() {
	x.Status, x.Sent, x.BytesSent, x.BytesReceived, x.Redirects = 0, time.Time{}, 0, 0, 0
}

// Do sends the exchange's request, following redirects, and fills its
// result. For HTTP/1.1, ctx is not consulted: requests are bounded by their
// timeout and cut by CloseAll. A transport error is returned as is; see
// Classify.
func (c *Client) Do(ctx context.Context, x *Exchange) error {
	x.resetResult()
	if c.h2 != nil {
		return c.doH2(ctx, x)
	}
	return c.doH1(x)
}

func (c *Client) doH1(x *Exchange) error {
	x.h2 = false
	deadline := time.Now().Add(x.Timeout)
	req := &x.req
	req.Reset()
	req.Header.SetMethod(x.Method)
	req.SetRequestURIBytes(x.URL)
	req.URI().DisablePathNormalizing = true
	hasUA := false
	for _, h := range x.Headers {
		req.Header.SetBytesV(h.Name, h.Value)
		hasUA = hasUA || strings.EqualFold(h.Name, "User-Agent")
	}
	if !hasUA {
		req.Header.SetUserAgent(c.opts.UserAgent)
	}
	if len(x.Body) > 0 {
		req.SetBodyRaw(x.Body)
	}
	for {
		uri := req.URI()
		hp, err := c.hostPool(x, uri.Scheme(), uri.Host())
		if err != nil {
			return err
		}
		// An empty jar (the common case) costs nothing.
		req.Header.Del("Cookie")
		if x.Jar != nil && x.Jar.Len() > 0 {
			x.scratch = x.Jar.AppendHeader(x.scratch[:0], hostname(uri.Host()), string(uri.Path()), hp.tls != nil, time.Now())
			if len(x.scratch) > 0 {
				req.Header.SetBytesV("Cookie", x.scratch)
			}
		}
		if err := c.roundTrip(hp, x, deadline); err != nil {
			return err
		}
		x.Status = x.resp.StatusCode()
		if x.Jar != nil {
			var host string
			x.resp.Header.VisitAllCookie(func(_, value []byte) {
				if host == "" {
					host = hostname(uri.Host())
				}
				x.Jar.Store(host, value, time.Now())
			})
		}
		loc := x.resp.Header.Peek("Location")
		if !isRedirect(x.Status) || len(loc) == 0 || x.MaxRedirects == 0 {
			return nil
		}
		if x.Redirects >= x.MaxRedirects {
			return fmt.Errorf("%w: still redirected after %d", ErrTooManyRedirects, x.Redirects)
		}
		x.Redirects++
		// UpdateBytes resolves a relative Location against the current URI.
		uri.UpdateBytes(loc)
		if changesToGet(x.Status, string(req.Header.Method())) {
			req.Header.SetMethod(nethttp.MethodGet)
			req.ResetBody()
			req.Header.Del("Content-Type")
			req.Header.Del("Content-Length")
		}
	}
}

// roundTrip sends one request over a pooled connection, with the timing we
// need: the service time starts once a connection is in hand. fasthttp
// writes the request and parses the response; the pool is ours (see
// hostPool).
func (c *Client) roundTrip(hp *hostPool, x *Exchange, deadline time.Time) error {
	if time.Until(deadline) <= 0 {
		return errPoolTimeout
	}
	pc, err := hp.get(deadline, &x.wait)
	if err != nil {
		return err
	}
	sent := time.Now()
	if x.Sent.IsZero() {
		x.Sent = sent
	}
	// The counters are read before the connection goes back to the pool,
	// where another request may take it at once.
	w0, r0 := pc.tracked.written, pc.tracked.read
	reusable, err := pc.exchange(x, deadline)
	x.BytesSent += pc.tracked.written - w0
	x.BytesReceived += pc.tracked.read - r0
	if err != nil || !reusable {
		hp.discard(pc)
		return err
	}
	hp.put(pc, time.Since(sent))
	return nil
}

// exchange writes x's request on pc and reads its response. reusable is
// false when the connection cannot carry another request: an error, a
// response asking to close, or bytes left over that no response framed
// (the connection's state is then unknown).
func (pc *pconn) exchange(x *Exchange, deadline time.Time) (reusable bool, err error) {
	if err := pc.conn.SetDeadline(deadline); err != nil {
		return false, err
	}
	x.resp.Reset()
	x.resp.SkipBody = x.req.Header.IsHead()
	var src io.Reader = pc.conn
	if pc.raw != nil {
		x.out.b = x.out.b[:0]
		if err := writeRequest(&x.req, &x.out); err != nil {
			return false, err
		}
		if err := pc.raw.send(x.out.b); err != nil {
			return false, err
		}
		src = pc.raw
	} else if err := writeRequest(&x.req, pc.conn); err != nil {
		return false, err
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(src)
	err = x.resp.Read(br)
	clean := br.Buffered() == 0
	br.Reset(nil)
	readers.Put(br)
	return err == nil && clean && !x.resp.ConnectionClose(), err
}

func writeRequest(req *fasthttp.Request, w io.Writer) error {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	return err
}

// byteSink collects a request's bytes, so that it is sent with one write.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// hostPool returns the pool of scheme://host, remembering the last one in
// the exchange so that the steady state takes no lock.
func (c *Client) hostPool(x *Exchange, scheme, host []byte) (*hostPool, error) {
	key := append(append(append(x.scratch[:0], scheme...), "://"...), host...)
	x.scratch = key // kept, or every request allocated its key anew
	if x.lastPool != nil && bytes.Equal(key, x.lastKey) {
		return x.lastPool, nil
	}
	isTLS := string(scheme) == "https"
	if !isTLS && string(scheme) != "http" || len(host) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrBadURL, key)
	}
	c.mu.Lock()
	hp := c.hosts[string(key)]
	if hp == nil {
		hp = c.newHostPool(string(host), isTLS)
		c.hosts[string(key)] = hp
	}
	c.mu.Unlock()
	x.lastKey = append(x.lastKey[:0], key...)
	x.lastPool = hp
	return hp, nil
}

func (c *Client) newHostPool(host string, isTLS bool) *hostPool {
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		if isTLS {
			addr = net.JoinHostPort(host, "443")
		} else {
			addr = net.JoinHostPort(host, "80")
		}
	}
	var cfg *tls.Config
	if isTLS {
		cfg = c.tls.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = hostname([]byte(host))
		}
	}
	dial := func(addr string, timeout time.Duration) (*trackedConn, error) {
		return c.conns.dial(context.Background(), "tcp", addr, timeout)
	}
	return newHostPool(addr, cfg, c.opts.MaxConnsPerHost, dial)
}

func (c *Client) newH2Transport() *http2.Transport {
	cfg := c.tls.Clone()
	cfg.NextProtos = []string{http2.NextProtoTLS}
	return &http2.Transport{
		AllowHTTP:       true, // h2c for http:// URLs, with prior knowledge
		TLSClientConfig: cfg,
		DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			tc, err := c.conns.dial(ctx, network, addr, 0)
			if err != nil {
				return nil, err
			}
			if cfg == nil || ctx.Value(h2cKey{}) != nil {
				return tc, nil
			}
			conn := tls.Client(tc, cfg)
			if err := conn.HandshakeContext(ctx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			return conn, nil
		},
	}
}

// h2cKey marks the context of a plain-text (h2c) dial: http2.Transport
// passes a TLS config either way.
type h2cKey struct{}

func (c *Client) doH2(ctx context.Context, x *Exchange) error {
	x.h2 = true
	ctx, cancel := context.WithTimeout(ctx, x.Timeout)
	defer cancel()
	target := string(x.URL)
	method := x.Method
	body := x.Body
	for {
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%w: %q", ErrBadURL, target)
		}
		reqCtx := ctx
		if u.Scheme == "http" {
			reqCtx = context.WithValue(ctx, h2cKey{}, true)
		}
		reqCtx = httptrace.WithClientTrace(reqCtx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {
			if x.Sent.IsZero() {
				x.Sent = time.Now()
			}
		}})
		req, err := nethttp.NewRequestWithContext(reqCtx, method, target, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadURL, err)
		}
		req.ContentLength = int64(len(body))
		sent := int64(len(method) + len(target) + len(body))
		for _, h := range x.Headers {
			if strings.EqualFold(h.Name, "Host") {
				req.Host = string(h.Value)
				continue
			}
			req.Header.Set(h.Name, string(h.Value))
			sent += int64(len(h.Name) + len(h.Value))
		}
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", c.opts.UserAgent)
		}
		if x.Jar != nil {
			x.scratch = x.Jar.AppendHeader(x.scratch[:0], u.Hostname(), u.EscapedPath(), u.Scheme == "https", time.Now())
			if len(x.scratch) > 0 {
				req.Header.Set("Cookie", string(x.scratch))
				sent += int64(len(x.scratch))
			}
		}
		x.BytesSent += sent
		resp, err := c.h2.RoundTrip(req)
		if err != nil {
			return err
		}
		x.h2Body, err = readAll(x.h2Body[:0], resp.Body)
		_ = resp.Body.Close()
		x.Status, x.h2Header = resp.StatusCode, resp.Header
		x.BytesReceived += int64(len(x.h2Body))
		for k, vs := range resp.Header {
			for _, v := range vs {
				x.BytesReceived += int64(len(k) + len(v))
			}
		}
		if err != nil {
			return err
		}
		if x.Jar != nil {
			now := time.Now()
			for _, sc := range resp.Header.Values("Set-Cookie") {
				x.Jar.Store(u.Hostname(), []byte(sc), now)
			}
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(x.Status) || loc == "" || x.MaxRedirects == 0 {
			return nil
		}
		if x.Redirects >= x.MaxRedirects {
			return fmt.Errorf("%w: still redirected after %d", ErrTooManyRedirects, x.Redirects)
		}
		x.Redirects++
		next, err := u.Parse(loc)
		if err != nil {
			return fmt.Errorf("%w: Location %q: %w", ErrBadURL, loc, err)
		}
		target = next.String()
		if changesToGet(x.Status, method) {
			method, body = nethttp.MethodGet, nil
		}
	}
}

func readAll(dst []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// changesToGet is the method rule browsers and curl follow: 303 always
// becomes GET, 301 and 302 turn a POST into a GET, 307 and 308 keep both
// method and body.
func changesToGet(status int, method string) bool {
	switch status {
	case 303:
		return method != nethttp.MethodGet && method != nethttp.MethodHead
	case 301, 302:
		return method == nethttp.MethodPost
	}
	return false
}

// hostname strips the port from a host[:port].
func hostname(host []byte) string {
	h := string(host)
	if name, _, err := net.SplitHostPort(h); err == nil {
		return name
	}
	return h
}

// Warm opens up to n keep-alive connections to rawURL's host and leaves
// them idle in its pool, so that the first second of a run is not spent
// dialing: at tens of thousands of arrivals a second, a cold pool dialed
// hundreds of connections at once, each costing more CPU than a request,
// and the arrivals behind them piled past the session cap. It returns how
// many connections it opened and the first dial error, if any; HTTP/2
// needs one connection, dialed on first use, so Warm does nothing there.
func (c *Client) Warm(rawURL string, n int) (int, error) {
	if c.h2 != nil || n <= 0 {
		return 0, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return 0, fmt.Errorf("%w: %q", ErrBadURL, rawURL)
	}
	var x Exchange
	hp, err := c.hostPool(&x, []byte(u.Scheme), []byte(u.Host))
	if err != nil {
		return 0, err
	}
	return hp.warm(n, time.Now().Add(warmTimeout))
}
