package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// SMTP timeouts.
const (
	// DefaultSMTPTimeout bounds one whole Send: connecting, TLS, AUTH and
	// the transfer. A shorter context deadline wins.
	DefaultSMTPTimeout = 30 * time.Second
	// smtpConnectTimeout bounds the TCP connection and, for smtps://, the
	// TLS handshake, so an unreachable server fails fast.
	smtpConnectTimeout = 10 * time.Second
)

// smtpTLS is how an SMTPSender protects the connection.
type smtpTLS int

const (
	smtpSTARTTLS      smtpTLS = iota // smtp://: STARTTLS required
	smtpOpportunistic                // smtp://…?tls=opportunistic
	smtpPlain                        // smtp://…?tls=none
	smtpImplicitTLS                  // smtps://
)

// SMTPSender is the Mailer for smtp:// and smtps:// URLs. It sends the
// message Build makes, byte for byte, through github.com/wneessen/go-mail's
// SMTP client, so what is delivered is what FileSender writes and what the
// tests check.
//
// The URL decides the transport security:
//
//   - smtp://host:port uses STARTTLS and refuses a server that does not offer
//     it: nothing, not even the envelope, is sent in clear, so an attacker
//     who strips STARTTLS from the server's reply gets nothing (RFC 3207
//     section 6).
//   - smtps://host:port uses implicit TLS (RFC 8314).
//   - smtp://host:port?tls=opportunistic uses STARTTLS when offered and sends
//     in clear otherwise; smtp://host:port?tls=none never uses TLS. Both are
//     meant for local test servers only.
//
// Certificates are verified against the system roots (RootCAs in tests),
// with TLS 1.2 at least. Credentials in the URL's user info are sent with
// AUTH PLAIN, or LOGIN when the server offers only that, and only over TLS:
// a URL with a password and tls=none fails every Send instead of exposing
// the password.
//
// Each Send opens its own connection and closes it: mail is rare (signups
// and resets), so a pool would save little and would bring stale
// connections, servers that drop idle clients, and state shared between
// concurrent sends. Send errors are *SMTPError values that never hold the
// server's reply text, which may echo the recipient address, nor the
// password.
type SMTPSender struct {
	// From is the sender, as for Build; its address is also the envelope
	// sender.
	From string
	// RootCAs verifies the server's certificate; nil means the system pool.
	RootCAs *x509.CertPool
	// Timeout bounds one Send; 0 means DefaultSMTPTimeout.
	Timeout time.Duration
	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time

	host     string // name or IP address, without brackets
	port     int
	security smtpTLS
	user     string
	password string
}

// NewSMTPSender returns an SMTPSender for mailURL (smtp://[user[:password]@]
// host[:port][?tls=none|opportunistic|required] or smtps://[user[:password]@]
// host[:port]), sending as from. The port defaults to 587 for smtp and 465
// for smtps. Errors never quote the URL, which may hold a password.
func NewSMTPSender(mailURL, from string) (*SMTPSender, error) {
	u, err := parseMailURL(mailURL)
	if err != nil {
		return nil, err
	}
	if _, err := parseFrom(from); err != nil {
		return nil, err
	}
	return newSMTPSender(u, from)
}

// newSMTPSender returns the SMTPSender for a parsed smtp:// or smtps:// URL.
func newSMTPSender(u *url.URL, from string) (*SMTPSender, error) {
	s := &SMTPSender{From: from, Now: time.Now}
	switch u.Scheme {
	case "smtp":
		s.port, s.security = 587, smtpSTARTTLS
	case "smtps":
		s.port, s.security = 465, smtpImplicitTLS
	default:
		return nil, errors.New("parse mail URL: want smtp:// or smtps://")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("parse mail URL: an smtp URL has no path or fragment")
	}
	if s.host = u.Hostname(); s.host == "" {
		return nil, errors.New("parse mail URL: missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, errors.New("parse mail URL: invalid port")
		}
		s.port = int(n)
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" {
			return nil, errors.New("parse mail URL: user info without a user name")
		}
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("parse mail URL: invalid query")
	}
	for name, values := range query {
		if name != "tls" {
			return nil, fmt.Errorf("parse mail URL: unknown query parameter %q (want tls)", name)
		}
		if len(values) != 1 {
			return nil, errors.New("parse mail URL: tls given more than once")
		}
		if s.security == smtpImplicitTLS {
			return nil, errors.New("parse mail URL: smtps:// always uses TLS; the tls parameter is for smtp://")
		}
		switch values[0] {
		case "required":
			s.security = smtpSTARTTLS
		case "opportunistic":
			s.security = smtpOpportunistic
		case "none":
			s.security = smtpPlain
		default:
			return nil, errors.New("parse mail URL: tls must be required, opportunistic or none")
		}
	}
	return s, nil
}

// String describes s without its credentials, for logs.
func (s SMTPSender) String() string {
	scheme, mode := "smtp", ""
	switch s.security {
	case smtpSTARTTLS:
		mode = " (STARTTLS required)"
	case smtpOpportunistic:
		mode = " (STARTTLS if offered)"
	case smtpPlain:
		mode = " (no TLS)"
	case smtpImplicitTLS:
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(s.host, strconv.Itoa(s.port)) + mode
}

// SMTPError is a failed SMTP delivery. Op is the step that failed: "connect"
// (TCP, TLS, greeting, EHLO, STARTTLS), "auth", "mail from", "rcpt to" or
// "data". Code is the server's reply code when it answered with an error
// (4xx transient, 5xx permanent), 0 otherwise. Err is the cause only when it
// cannot hold the server's reply text (a network, TLS or context error);
// the reply text is dropped because servers often echo the recipient
// address.
type SMTPError struct {
	Op   string
	Code int
	Err  error
}

func (e *SMTPError) Error() string {
	switch {
	case e.Code != 0:
		return fmt.Sprintf("smtp %s: server replied %d", e.Op, e.Code)
	case e.Err != nil:
		return "smtp " + e.Op + ": " + e.Err.Error()
	default:
		return "smtp " + e.Op + ": failed"
	}
}

func (e *SMTPError) Unwrap() error { return e.Err }

// smtpError returns err as an *SMTPError for op, keeping of it only what
// cannot echo the server's reply.
func smtpError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &SMTPError{Op: op, Err: ctxErr}
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &SMTPError{Op: op, Code: reply.Code}
	}
	var protocol textproto.ProtocolError
	if errors.As(err, &protocol) {
		return &SMTPError{Op: op, Err: errors.New("malformed server reply")}
	}
	return &SMTPError{Op: op, Err: err}
}

// Send implements auth.Mailer: it builds m and delivers it over a new
// connection.
func (s *SMTPSender) Send(ctx context.Context, m *auth.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	msg, err := Build(s.From, m, now().UTC(), "")
	if err != nil {
		return err
	}
	// Build has validated both.
	from, _ := parseFrom(s.From)
	to, _ := parseAddress(m.To)

	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// conn is set by dial, which go-mail calls before it returns; Send
	// closes it whatever happens, as go-mail leaves it open when EHLO or
	// STARTTLS fails.
	var conn *sendConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	tlsConfig := &tls.Config{ServerName: s.host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	dial := func(dialCtx context.Context, network, _ string) (net.Conn, error) {
		dialCtx, cancel := context.WithTimeout(dialCtx, smtpConnectTimeout)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(dialCtx, network, net.JoinHostPort(s.host, strconv.Itoa(s.port)))
		if err != nil {
			return nil, err
		}
		conn = newSendConn(ctx, c)
		if s.security != smtpImplicitTLS {
			return conn, nil
		}
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return nil, err
		}
		return tc, nil // a *tls.Conn, which go-mail's client recognises as encrypted
	}

	policy := gomail.TLSMandatory
	switch s.security {
	case smtpOpportunistic:
		policy = gomail.TLSOpportunistic
	case smtpPlain:
		policy = gomail.NoTLS
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithTLSPolicy(policy),
	}
	if s.security == smtpImplicitTLS {
		// With our dial function this only stops go-mail from trying
		// STARTTLS inside the TLS connection.
		opts = append(opts, gomail.WithSSL())
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return smtpError(ctx, "connect", err)
	}
	// Greeting, EHLO and STARTTLS as the policy says. AUTH is ours, below.
	c, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return smtpError(ctx, "connect", err)
	}
	if s.user != "" {
		if err := s.authenticate(c); err != nil {
			return smtpError(ctx, "auth", err)
		}
	}
	// go-mail's client sends the path as given: <addr>, quoted if need be.
	if err := c.Mail((&mail.Address{Address: from.Address}).String()); err != nil {
		return smtpError(ctx, "mail from", err)
	}
	if err := c.Rcpt((&mail.Address{Address: to}).String()); err != nil {
		return smtpError(ctx, "rcpt to", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError(ctx, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError(ctx, "data", err)
	}
	if err := w.Close(); err != nil {
		return smtpError(ctx, "data", err)
	}
	// The server has taken the message: a failed QUIT must not make the
	// Worker send it again.
	_ = c.Quit()
	return nil
}

// authenticate sends the URL's credentials with AUTH PLAIN or LOGIN, only
// over TLS. go-mail's own AUTH is not used because PLAIN and LOGIN also
// accept a clear connection to localhost, and its auto-discovery cannot tell
// that our smtps:// connections are encrypted.
func (s *SMTPSender) authenticate(c *smtp.Client) error {
	if _, err := c.GetTLSConnectionState(); err != nil {
		return errors.New("refusing to send credentials without TLS")
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("the server does not offer AUTH")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	var a smtp.Auth
	switch {
	case slices.Contains(offered, "PLAIN"):
		a = smtp.PlainAuth("", s.user, s.password, s.host, false)
	case slices.Contains(offered, "LOGIN"):
		a = smtp.LoginAuth(s.user, s.password, s.host, false)
	default:
		return errors.New("the server offers neither AUTH PLAIN nor LOGIN")
	}
	return c.Auth(a)
}

// longAgo is a deadline in the past, which stops pending I/O at once.
var longAgo = time.Unix(1, 0)

// sendConn is the connection of one Send. Every deadline go-mail sets on it
// is capped at ctx's deadline, and it stops as soon as ctx is cancelled, so
// neither a hung server nor a slow one can outlive the caller's context.
type sendConn struct {
	net.Conn
	limit time.Time
	stop  func() bool

	mu   sync.Mutex
	done bool
}

func newSendConn(ctx context.Context, c net.Conn) *sendConn {
	sc := &sendConn{Conn: c}
	sc.limit, _ = ctx.Deadline()
	_ = sc.SetDeadline(time.Time{})
	sc.stop = context.AfterFunc(ctx, func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.done = true
		_ = sc.Conn.SetDeadline(longAgo)
	})
	return sc
}

func (c *sendConn) deadline(t time.Time) time.Time {
	switch {
	case c.done:
		return longAgo
	case !c.limit.IsZero() && (t.IsZero() || t.After(c.limit)):
		return c.limit
	}
	return t
}

func (c *sendConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetDeadline(c.deadline(t))
}

func (c *sendConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.deadline(t))
}

func (c *sendConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(c.deadline(t))
}

func (c *sendConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
