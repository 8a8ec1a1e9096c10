package http

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackedConn counts the bytes a connection moves, so a request's bytes are
// exactly what crossed the wire (TLS records included), and registers
// itself so that a hard stop can cut every connection, in flight or idle.
//
// Its counters are plain fields: an HTTP/1.1 connection is used by one
// request at a time, and a request reads them only while it holds the
// connection. HTTP/2 connections are shared, so they are not read per
// request.
type trackedConn struct {
	net.Conn
	written, read int64
	owner         *connSet
	closed        atomic.Bool
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read += int64(n)
	return n, err
}

func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	return n, err
}

// Close closes once and leaves the set.
func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.owner.remove(c)
	}
	return c.Conn.Close()
}

// connSet is every open connection of a Client.
type connSet struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	open  atomic.Int64
	// cut is set by closeAll: connections dialed afterwards are closed at
	// once, so a session racing the hard stop cannot start a new one.
	cut bool
}

func newConnSet() *connSet { return &connSet{conns: map[*trackedConn]struct{}{}} }

func (s *connSet) dial(ctx context.Context, network, addr string, timeout time.Duration) (*trackedConn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true) // the default, made explicit: requests are small writes
	}
	tc := &trackedConn{Conn: c, owner: s}
	s.mu.Lock()
	if s.cut {
		s.mu.Unlock()
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	s.open.Add(1)
	return tc, nil
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
}

// closeAll closes every connection and refuses new ones.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.cut = true
	all := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		_ = c.Close()
	}
}

// underlying finds the trackedConn under a TLS connection.
func underlying(c net.Conn) *trackedConn {
	for {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
}
