//go:build linux

package http

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawIO moves a plain-TCP connection's bytes with system calls of our own,
// inside Go's poller (syscall.RawConn), for two reasons measured on one
// CPU at tens of thousands of requests a second:
//
//   - A request is written inside the read wait, so the response is awaited
//     before any read: Go's Read would first try a read that fails with
//     EAGAIN, a system call per request for nothing.
//   - The calls are raw (no entersyscall): a loopback write runs the
//     target's TCP receive path and takes tens of microseconds, long enough
//     for Go's monitor to hand the scheduler to another thread, which
//     on one CPU cost two context switches per request and kept the
//     monitor waking every 20 us. Both calls are non-blocking, so holding
//     the scheduler through them is what we want.
//
// A response is also awaited before a read buffer is taken, so thousands of
// requests held by a slow server hold no buffers.
//
// A rawIO belongs to one connection and is used by one request at a time.
type rawIO struct {
	rc      syscall.RawConn
	tracked *trackedConn

	out  []byte // the request being sent
	sent int
	werr error

	in   []byte // the read buffer of the current Read
	n    int
	rerr error

	// Bound once: a method value made per call would allocate.
	sendThenWaitFn, readFn func(fd uintptr) bool
}

func newRawIO(tc *trackedConn) *rawIO {
	sc, ok := tc.Conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{rc: rc, tracked: tc}
	r.sendThenWaitFn = r.sendThenWait
	r.readFn = r.read
	return r
}

// send writes req and waits until the connection is readable (the
// response, an end or an error); the connection's deadline bounds the
// wait. A request the socket could not take at once is finished by Go's
// own (waiting) write.
func (r *rawIO) send(req []byte) error {
	r.out, r.sent, r.werr = req, 0, nil
	err := r.rc.Read(r.sendThenWaitFn)
	r.out = nil
	if r.werr != nil {
		return r.werr
	}
	if err != nil {
		return err
	}
	if r.sent < len(req) {
		_, err := r.tracked.Write(req[r.sent:]) // counts its bytes
		return err
	}
	return nil
}

// sendThenWait is called by the poller with its read wait armed, so no
// response that arrives after the write can be missed: the first call
// writes and asks to wait, the next one (readable) ends the wait.
func (r *rawIO) sendThenWait(fd uintptr) bool {
	if r.out == nil {
		return true
	}
	for r.sent < len(r.out) {
		n, err := rawSyscall(unix.SYS_WRITE, fd, r.out[r.sent:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true // the socket is full: the rest goes through Go's write
		}
		if err != nil {
			r.werr = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", err)}
			return true
		}
		r.sent += n
		r.tracked.written += int64(n)
	}
	r.out = nil
	return false
}

// Read reads what the connection has, waiting for it when it has nothing.
func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.in, r.n, r.rerr = p, 0, nil
	err := r.rc.Read(r.readFn)
	r.in = nil
	if r.rerr != nil {
		return 0, r.rerr
	}
	if err != nil {
		return 0, err
	}
	if r.n == 0 {
		return 0, io.EOF
	}
	r.tracked.read += int64(r.n)
	return r.n, nil
}

func (r *rawIO) read(fd uintptr) bool {
	for {
		n, err := rawSyscall(unix.SYS_READ, fd, r.in)
		switch err {
		case nil:
			r.n = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.rerr = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", err)}
			return true
		}
	}
}

// rawSyscall is read(2) or write(2) of b on fd without entersyscall; the
// fd is non-blocking, so the call never waits.
func rawSyscall(trap, fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(trap, fd, uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
