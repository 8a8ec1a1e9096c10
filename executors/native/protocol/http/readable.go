//go:build linux || darwin || freebsd || netbsd || openbsd

package http

import (
	"errors"
	"net"
	"syscall"
)

// awaitReadable parks until conn has bytes (or an end) to read, without
// reading them: the response is then read into a pooled buffer that was not
// held while the server took its time. It honours conn's deadline.
func awaitReadable(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var peek [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN) // data, an end or an error: the read sees it
	})
}
