//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package http

import "net"

// awaitReadable does nothing where peeking a socket is not available: the
// read buffer is then held while the response is awaited.
func awaitReadable(net.Conn) error { return nil }
