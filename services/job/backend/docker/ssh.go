package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"sync"
	"time"
)

// sshDialer connects to the daemon of an ssh://[user@]host[:port] URL the
// way the docker CLI does (its connhelper, a module loadfleet does not
// depend on): each connection is an ssh process running
// `docker system dial-stdio` on the host, its stdin and stdout the
// connection. Keys, known hosts and jump hosts come from the ssh client's
// own configuration.
func sshDialer(hostURL string, sshCommand []string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	u, err := url.Parse(hostURL)
	if err != nil {
		return nil, fmt.Errorf("docker: host %q: %w", hostURL, err)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("docker: host %q: want ssh://[user@]host[:port]", hostURL)
	}
	if len(sshCommand) == 0 {
		sshCommand = []string{"ssh"}
	}
	args := append([]string{}, sshCommand[1:]...)
	// BatchMode: never wait for a password prompt nobody can answer.
	args = append(args, "-o", "BatchMode=yes", "-o", "ConnectTimeout=30")
	if u.User != nil {
		args = append(args, "-l", u.User.Username())
	}
	if u.Port() != "" {
		args = append(args, "-p", u.Port())
	}
	args = append(args, "--", u.Hostname(), "docker", "system", "dial-stdio")
	return func(context.Context, string, string) (net.Conn, error) {
		// Not bound to the dial's context: the connection outlives it, in
		// the HTTP client's pool.
		return newCommandConn(exec.Command(sshCommand[0], args...))
	}, nil
}

// commandConn is a net.Conn over a process's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *tailBuffer

	closeOnce sync.Once
}

func newCommandConn(cmd *exec.Cmd) (*commandConn, error) {
	c := &commandConn{cmd: cmd, stderr: &tailBuffer{max: 4096}}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("docker: ssh: %w", err)
	}
	if c.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, fmt.Errorf("docker: ssh: %w", err)
	}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("docker: ssh: %w", err)
	}
	return c, nil
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if err == io.EOF && n == 0 && c.stderr.Len() > 0 {
		// ssh said why it ended.
		return 0, fmt.Errorf("docker: ssh: %s: %w", bytes.TrimSpace(c.stderr.Bytes()), io.EOF)
	}
	return n, err
}

func (c *commandConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// Close ends the ssh process.
func (c *commandConn) Close() error {
	c.closeOnce.Do(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return nil
}

// Deadlines are not supported by pipes to a process; the HTTP client's
// own timeouts and contexts bound requests.
func (c *commandConn) SetDeadline(time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(time.Time) error { return nil }

func (c *commandConn) LocalAddr() net.Addr  { return commandAddr("ssh") }
func (c *commandConn) RemoteAddr() net.Addr { return commandAddr(c.cmd.String()) }

type commandAddr string

func (a commandAddr) Network() string { return "command" }
func (a commandAddr) String() string  { return string(a) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buf)
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}
