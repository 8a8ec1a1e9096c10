// Package email sends run notifications over SMTP submission with
// STARTTLS and AUTH PLAIN (github.com/emersion/go-smtp): a MIME message
// with text and HTML parts and the HTML report attached.
package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

// Config is an SMTP submission server.
type Config struct {
	Host string
	// Port defaults to 587 (submission).
	Port     int
	Username string // empty: no AUTH (an open relay on a private network)
	Password string
	// From is the sender address, optionally with a name
	// ("loadfleet <loadfleet@example.com>").
	From string
	// Insecure skips STARTTLS. It is refused unless Host is a loopback
	// address: credentials and reports never cross a network in clear.
	Insecure bool
	// TLS is the base TLS configuration (RootCAs for a private CA); its
	// ServerName is set to Host when empty.
	TLS *tls.Config
	// DialTimeout bounds connecting (default 10s); the whole exchange is
	// bounded by the context of Send.
	DialTimeout time.Duration
}

// Sender mails notifications.
type Sender struct {
	cfg    Config
	from   *mail.Address
	tls    *tls.Config
	logger *slog.Logger
	now    func() time.Time
}

// New validates cfg and returns an email sender.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("%w: smtp host is empty", notify.ErrConfig)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%w: smtp port %d", notify.ErrConfig, cfg.Port)
	}
	if cfg.Insecure && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("%w: insecure smtp (no STARTTLS) is only allowed to a loopback host, not %q", notify.ErrConfig, cfg.Host)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("%w: smtp from %q: %w", notify.ErrConfig, cfg.From, err)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tlsConfig = cfg.TLS.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.Host
	}
	return &Sender{cfg: cfg, from: from, tls: tlsConfig, logger: logger, now: time.Now}, nil
}

// Channel is notify.ChannelEmail.
func (s *Sender) Channel() string { return notify.ChannelEmail }

// Send mails m to the address `to`. The message is delivered once the
// server accepted its DATA; a failure after that (QUIT) is ignored.
func (s *Sender) Send(ctx context.Context, to string, m notify.Message) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return notify.Permanent(fmt.Errorf("email address %q: %w", to, err))
	}
	msg, err := Compose(s.from, rcpt, m, s.now())
	if err != nil {
		return notify.Permanent(err)
	}
	c, stop, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer stop()
	defer c.Close()
	if err := s.auth(c); err != nil {
		return err
	}
	if err := c.SendMail(s.from.Address, []string{rcpt.Address}, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("smtp send to %s: %w", rcpt.Address, classify(err))
	}
	if err := c.Quit(); err != nil {
		s.logger.DebugContext(ctx, "smtp quit failed after the message was accepted", "err", err)
	}
	return nil
}

// connect dials the server and switches to TLS unless Insecure. The
// connection is closed if ctx ends first, which aborts a hung exchange;
// stop ends that watch.
func (s *Sender) connect(ctx context.Context) (c *smtp.Client, stop func() bool, err error) {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	dialer := net.Dialer{Timeout: s.cfg.DialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("smtp dial %s: %w", addr, err)
	}
	stop = context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(step string, err error) (*smtp.Client, func() bool, error) {
		stop()
		conn.Close()
		return nil, nil, fmt.Errorf("smtp %s with %s: %w", step, addr, classify(err))
	}
	if s.cfg.Insecure {
		c = smtp.NewClient(conn)
	} else if c, err = smtp.NewClientStartTLS(conn, s.tls); err != nil {
		return fail("STARTTLS", err)
	}
	// EHLO now (again, after STARTTLS): it runs the TLS handshake, whose
	// failure the client's later capability checks would hide.
	if err := c.Hello(ehloName); err != nil {
		return fail("EHLO", err)
	}
	return c, stop, nil
}

// ehloName is how the client introduces itself.
const ehloName = "localhost"

func (s *Sender) auth(c *smtp.Client) error {
	if s.cfg.Username == "" {
		return nil
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return notify.Permanent(errors.New("smtp server offers no AUTH"))
	}
	if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
		return fmt.Errorf("smtp auth as %s: %w", s.cfg.Username, classify(err))
	}
	return nil
}

// classify makes 5xx replies permanent (bad address, auth refused,
// policy); 4xx replies and network errors are retried.
func classify(err error) error {
	if se, ok := errors.AsType[*smtp.SMTPError](err); ok && se.Code >= 500 {
		return notify.Permanent(err)
	}
	return err
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

var _ notify.Sender = (*Sender)(nil)
