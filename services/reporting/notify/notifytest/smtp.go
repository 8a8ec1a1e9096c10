// Package notifytest runs real loopback servers for notification tests: an
// SMTP submission server (github.com/emersion/go-smtp) with STARTTLS and
// AUTH PLAIN under a CA made for the test, and an HTTP server answering the
// Slack Web API methods the slack sender calls. Both record what they got.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP server accepted.
type Mail struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string // who authenticated the session; empty if no one
	TLS      bool   // whether the session had switched to TLS
}

// SMTPServer is an SMTP submission server on 127.0.0.1. AUTH is offered
// only after STARTTLS and is required before MAIL.
type SMTPServer struct {
	Host     string
	Port     int
	Username string
	Password string
	// CAPEM is the PEM certificate of the CA that signed the server's
	// certificate; ClientTLS trusts it.
	CAPEM     []byte
	ClientTLS *tls.Config

	mu       sync.Mutex
	mails    []Mail
	failData []*smtp.SMTPError
	changed  chan struct{}
}

// NewSMTPServer starts a server accepting username and password; it stops
// when the test ends.
func NewSMTPServer(t testing.TB, username, password string) *SMTPServer {
	t.Helper()
	ca, serverCert := newTestPKI(t)
	s := &SMTPServer{
		Host:     "127.0.0.1",
		Username: username,
		Password: password,
		CAPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		changed:  make(chan struct{}),
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	s.ClientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{server: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}
	srv.AllowInsecureAuth = false
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients hanging up mid-session is what some tests do

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp test server: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Addr is host:port.
func (s *SMTPServer) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// FailData makes the next DATA commands fail with these replies, one each
// (a 451 for a transient failure, a 550 for a permanent one).
func (s *SMTPServer) FailData(replies ...*smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failData = append(s.failData, replies...)
}

// Mails returns the accepted messages so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitMails waits until at least n messages were accepted and returns
// them; the test fails after timeout.
func (s *SMTPServer) WaitMails(t testing.TB, n int, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		mails, changed := append([]Mail(nil), s.mails...), s.changed
		s.mu.Unlock()
		if len(mails) >= n {
			return mails
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("smtp test server: %d messages after %s, want %d", len(mails), timeout, n)
		}
	}
}

func (s *SMTPServer) accept(m Mail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failData) > 0 {
		reply := s.failData[0]
		s.failData = s.failData[1:]
		return reply
	}
	s.mails = append(s.mails, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

type smtpSession struct {
	server   *SMTPServer
	conn     *smtp.Conn
	authUser string
	mail     Mail
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.server.Username || password != ss.server.Password {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.mail = Mail{From: from, AuthUser: ss.authUser}
	_, ss.mail.TLS = ss.conn.TLSConnectionState()
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.mail.To = append(ss.mail.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.mail.Data = data
	return ss.server.accept(ss.mail)
}

func (ss *smtpSession) Reset()        { ss.mail = Mail{} }
func (ss *smtpSession) Logout() error { return nil }

// newTestPKI makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it.
func newTestPKI(t testing.TB) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("test CA key: %v", err)
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "loadfleet test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("test server key: %v", err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("test server certificate: %v", err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}
