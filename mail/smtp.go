package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds a Send whose context has no deadline, so that a
// server that stops answering never holds a request forever.
const DefaultTimeout = 30 * time.Second

// SMTP sends messages through an SMTP server, one connection per message.
// Its zero value is not usable: make it with NewSMTP.
type SMTP struct {
	// TLSConfig, when not nil, replaces the default TLS settings (system
	// roots, the URL's host as server name), for a private CA.
	TLSConfig *tls.Config

	host        string
	addr        string // host:port
	implicitTLS bool   // smtps: TLS from the first byte
	requireTLS  bool   // smtp with starttls=required
	user, pass  string
	from        *mail.Address
	redactedURL string
}

// NewSMTP configures a sender for rawURL, which is
//
//	smtp://[user:pass@]host[:port][?starttls=required]   (port 25 by default)
//	smtps://[user:pass@]host[:port]                      (port 465 by default)
//
// smtp uses STARTTLS when the server offers it and, with starttls=required,
// refuses to send to a server that does not; smtps speaks TLS from the
// start. The user name and password, if any, are sent with AUTH PLAIN, only
// over TLS or to a loopback address. from is the RFC 5322 sender address,
// e.g. "Acme sign-in <no-reply@acme.example>".
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's errors quote the URL, password included.
		return nil, errors.New("mail: the SMTP server URL is not a valid URL")
	}
	s := &SMTP{}
	if err := s.setServer(u); err != nil {
		return nil, err
	}
	if s.from, err = parseAddress("sender", from); err != nil {
		return nil, err
	}
	return s, nil
}

// setServer takes the server's address, security and credentials from u.
func (s *SMTP) setServer(u *url.URL) error {
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "25"
	case "smtps":
		port, s.implicitTLS = "465", true
	default:
		return fmt.Errorf("mail: the SMTP server URL must start with smtp:// or smtps://, not %q", u.Scheme+":")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return errors.New("mail: the SMTP server URL has no host")
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return errors.New("mail: the SMTP server URL must have no path or fragment")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	s.host, s.addr = u.Hostname(), net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if err := s.setOptions(u.Query()); err != nil {
		return err
	}
	redacted := *u
	if u.User != nil {
		redacted.User = url.User(s.user) // never show the password
	}
	s.redactedURL = redacted.String()
	return nil
}

// setOptions reads the URL's query, refusing unknown options so that a
// misspelt starttls=required does not silently send in clear.
func (s *SMTP) setOptions(q url.Values) error {
	for name, values := range q {
		if name != "starttls" {
			return fmt.Errorf("mail: unknown SMTP URL option %q (the only one is starttls)", name)
		}
		switch {
		case len(values) != 1:
			return errors.New("mail: starttls is given more than once in the SMTP server URL")
		case s.implicitTLS:
			return errors.New("mail: starttls applies to smtp:// URLs; smtps:// always uses TLS")
		case values[0] == "required":
			s.requireTLS = true
		case values[0] == "auto":
		default:
			return fmt.Errorf("mail: starttls must be \"required\" or \"auto\", not %q", values[0])
		}
	}
	return nil
}

// String is the server URL without its password, for logs and errors.
func (s *SMTP) String() string { return s.redactedURL }

// Send delivers m through the server, within ctx's deadline (or
// DefaultTimeout when it has none), connection included.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := parseAddress("recipient", m.To)
	if err != nil {
		return err
	}
	if err := checkSubject(m.Subject); err != nil {
		return err
	}
	data, err := compose(s.from, to, m.Subject, m.Text, time.Now())
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if err := s.deliver(ctx, to.Address, data); err != nil {
		if ctxErr := contextError(ctx, err); ctxErr != nil {
			// The exchange failed because time ran out: say so, and let
			// callers test for it with errors.Is.
			return fmt.Errorf("mail: SMTP server %s: %w (%v)", s.addr, ctxErr, err)
		}
		return fmt.Errorf("mail: SMTP server %s: %w", s.addr, err)
	}
	return nil
}

// contextError is the context's error when err comes from it: when ctx is
// done, or when err is the connection's timeout at ctx's deadline, which
// may fire a moment before ctx notices.
func contextError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var netErr net.Error
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) && errors.As(err, &netErr) && netErr.Timeout() {
		return context.DeadlineExceeded
	}
	return nil
}

// deliver runs one SMTP exchange on a new connection. The connection's
// deadline is ctx's, and cancelling ctx cuts any read or write short.
func (s *SMTP) deliver(ctx context.Context, rcpt string, data []byte) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	return s.exchange(conn, rcpt, data)
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	if s.implicitTLS {
		d := tls.Dialer{Config: s.tlsConfig()}
		return d.DialContext(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *SMTP) tlsConfig() *tls.Config {
	c := &tls.Config{}
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// exchange speaks SMTP on conn: greeting, EHLO, STARTTLS, AUTH, then the
// message.
func (s *SMTP) exchange(conn net.Conn, rcpt string, data []byte) error {
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if err := c.Hello(heloName(conn)); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if err := s.secure(c); err != nil {
		return err
	}
	if err := s.authenticate(c); err != nil {
		return err
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The server has accepted the message: a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// secure upgrades a plain connection with STARTTLS when the server offers
// it, and refuses to go on in clear when the URL requires TLS.
func (s *SMTP) secure(c *smtp.Client) error {
	if s.implicitTLS {
		return nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if s.requireTLS {
			return errors.New("the server does not offer STARTTLS, which the URL requires (starttls=required)")
		}
		return nil
	}
	if err := c.StartTLS(s.tlsConfig()); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	return nil
}

// authenticate logs in with AUTH PLAIN when the URL has a user name.
func (s *SMTP) authenticate(c *smtp.Client) error {
	if s.user == "" {
		return nil
	}
	_, isTLS := c.TLSConnectionState()
	if !authAllowed(s.host, isTLS) {
		return errors.New("refusing to send the SMTP password over a connection without TLS (the server offers no STARTTLS)")
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return errors.New("the URL has a user name but the server offers no AUTH")
	}
	if err := c.Auth(plainAuth{user: s.user, pass: s.pass}); err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	return nil
}

// authAllowed says whether a password may be sent to host: over TLS, or in
// clear only to this machine, where no one can listen on the way.
func authAllowed(host string, isTLS bool) bool {
	if isTLS || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plainAuth is RFC 4616 SASL PLAIN. net/smtp's PlainAuth has its own,
// narrower, idea of a local server; authAllowed decides instead.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected challenge after AUTH PLAIN")
	}
	return nil, nil
}

// heloName is the name to introduce this host with in EHLO: its domain
// name when it has a fully qualified one, else the address literal of the
// connection's local end, which RFC 5321 §4.1.4 allows and servers that
// insist on a qualified name accept.
func heloName(conn net.Conn) string {
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
		return h
	}
	if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		if a.IP.To4() != nil {
			return "[" + a.IP.String() + "]"
		}
		return "[IPv6:" + a.IP.String() + "]"
	}
	return "localhost"
}
