package http

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/loadfleet/loadfleet/executors/stats"
)

// Classify maps a transport error to its ko reason: timeouts (of the
// request, the dial or a connection wait), refused connections, connections
// reset or closed before the response was complete, and anything else.
func Classify(err error) stats.Reason {
	if err == nil {
		return stats.OK
	}
	return classifyFailure(err)
}

// classifyFailure is Classify's non-nil case, apart so that the error
// target errors.As needs is allocated only for a failure, not per request.
func classifyFailure(err error) stats.Reason {
	var netErr net.Error
	switch {
	case errors.Is(err, errPoolTimeout), errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return stats.Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return stats.ConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, syscall.ECONNABORTED):
		return stats.ConnectionReset
	}
	return stats.Error
}
