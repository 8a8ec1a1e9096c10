//go:build !linux

package http

// rawIO is Linux only; elsewhere requests go through Go's own reads and
// writes.
type rawIO struct{}

func newRawIO(*trackedConn) *rawIO { return nil }

func (*rawIO) send([]byte) error        { panic("rawIO: not on this platform") }
func (*rawIO) Read([]byte) (int, error) { panic("rawIO: not on this platform") }
