package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/mail/mailpittest"
)

const sender = "Gatehouse Sign-in <no-reply@acme.example>"

func newSMTP(t *testing.T, rawURL string) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(rawURL, sender)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func send(s *mail.SMTP, m mail.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

func TestSendThroughMailpit(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSMTP(t, srv.SMTPURL)
	subject := "Ihr Anmeldecode für Acme – 048213"
	text := "Hallo Zoë,\n\nIhr Code lautet 048213. Er gilt 10 Minuten.\n" +
		".a line that starts with a dot\n" +
		"From the start of a line; = signs; trailing space \n" +
		strings.Repeat("a long line that must be wrapped by quoted-printable ", 4) + "✓\n"
	if err := send(s, mail.Message{To: "Zoë Müller <Zoe@Example.org>", Subject: subject, Text: text}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "zoe@example.org", 5*time.Second)
	if got.From != "no-reply@acme.example" || !slices.Equal(got.To, []string{"Zoe@Example.org"}) || got.Subject != subject {
		t.Errorf("mailpit got from %q to %q subject %q", got.From, got.To, got.Subject)
	}
	if want := strings.ReplaceAll(text, "\n", "\r\n"); got.Text != want {
		t.Errorf("body:\n%q\nwant\n%q", got.Text, want)
	}
	checkRaw(t, srv.Raw(t, got.ID), subject)
}

// checkRaw checks the message as it went over the wire.
func checkRaw(t *testing.T, raw []byte, subject string) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("the message has a line ending that is not CRLF")
	}
	for i, c := range raw {
		if c >= 0x80 {
			t.Fatalf("the message has a non-ASCII byte at %d: it must be 7-bit clean", i)
		}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	for name, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Subject header %q is not RFC 2047 encoded", raw)
	}
	if got, err := h.AddressList("From"); err != nil || len(got) != 1 || got[0].Name != "Gatehouse Sign-in" || got[0].Address != "no-reply@acme.example" {
		t.Errorf("From: %v, %v", got, err)
	}
	if got, err := h.AddressList("To"); err != nil || len(got) != 1 || got[0].Name != "Zoë Müller" || got[0].Address != "Zoe@Example.org" {
		t.Errorf("To: %v, %v", got, err)
	}
	if date, err := h.Date(); err != nil || time.Since(date).Abs() > time.Minute {
		t.Errorf("Date: %q (%v)", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@acme\.example>$`).MatchString(id) {
		t.Errorf("Message-ID: %q", id)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(body), "\r\n") {
		if len(line) > 76 {
			t.Errorf("body line of %d characters, more than quoted-printable's 76: %q", len(line), line)
		}
	}
}

func TestSendRefuses(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSMTP(t, srv.SMTPURL)
	tests := []struct {
		name    string
		m       mail.Message
		errPart string
	}{
		{"CRLF in To", mail.Message{To: "a@example.org\r\nBcc: victim@example.net", Subject: "x"}, "line break"},
		{"LF in To", mail.Message{To: "a@example.org\nBcc: victim@example.net", Subject: "x"}, "line break"},
		{"CRLF in Subject", mail.Message{To: "a@example.org", Subject: "Hi\r\nBcc: victim@example.net"}, "line break"},
		{"CR in Subject", mail.Message{To: "a@example.org", Subject: "Hi\rthere"}, "line break"},
		{"NUL in Subject", mail.Message{To: "a@example.org", Subject: "Hi\x00"}, "control"},
		{"empty To", mail.Message{To: "", Subject: "x"}, "not a valid email address"},
		{"not an address", mail.Message{To: "alice", Subject: "x"}, "not a valid email address"},
		{"two recipients", mail.Message{To: "a@example.org, b@example.org", Subject: "x"}, "not a valid email address"},
		{"international address", mail.Message{To: "zoë@example.org", Subject: "x"}, "international"},
		{"subject too long", mail.Message{To: "a@example.org", Subject: strings.Repeat("x", 501)}, "subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := send(s, tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("Send: %v, want an error about %q", err, tt.errPart)
			}
		})
	}
	if n := messageCount(t, srv); n != 0 {
		t.Errorf("mailpit received %d messages, want none", n)
	}
}

func messageCount(t *testing.T, srv *mailpittest.Server) int {
	t.Helper()
	resp, err := http.Get(srv.APIURL + "/api/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Total int }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return list.Total
}

func TestNewSMTPRefuses(t *testing.T) {
	tests := []struct{ name, url, from string }{
		{"empty URL", "", sender},
		{"http URL", "http://mail.example.com", sender},
		{"no host", "smtp://", sender},
		{"no host with port", "smtp://:25", sender},
		{"path", "smtp://mail.example.com/inbox", sender},
		{"bad port", "smtp://mail.example.com:smtp", sender},
		{"unknown option", "smtp://mail.example.com?tls=on", sender},
		{"misspelt starttls value", "smtp://mail.example.com?starttls=require", sender},
		{"starttls twice", "smtp://mail.example.com?starttls=required&starttls=auto", sender},
		{"starttls on smtps", "smtps://mail.example.com?starttls=required", sender},
		{"empty from", "smtp://mail.example.com", ""},
		{"from not an address", "smtp://mail.example.com", "Gatehouse"},
		{"two from addresses", "smtp://mail.example.com", "a@example.org, b@example.org"},
		{"line break in from", "smtp://mail.example.com", "Evil\r\nBcc: victim@example.net <a@example.org>"},
		{"international from", "smtp://mail.example.com", "zoë@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := mail.NewSMTP(tt.url, tt.from); err == nil {
				t.Errorf("NewSMTP(%q, %q) = %v, want an error", tt.url, tt.from, s)
			}
		})
	}
	_, err := mail.NewSMTP("smtp://user:s3cret@bad host", sender)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("NewSMTP with a bad URL: %v, want an error without the password", err)
	}
}

func TestUnreachableServerFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s := newSMTP(t, "smtp://"+addr)
	start := time.Now()
	err = send(s, mail.Message{To: "a@example.org", Subject: "x", Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "cannot connect") || !strings.Contains(err.Error(), addr) {
		t.Errorf("Send to a closed port: %v, want a connection error naming %s", err, addr)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send took %v to fail", took)
	}
}

// silentServer accepts connections and never says anything, like an SMTP
// server that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestSendHonoursContext(t *testing.T) {
	s := newSMTP(t, "smtp://"+silentServer(t))
	m := mail.Message{To: "a@example.org", Subject: "x", Text: "x"}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, m)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send with a 300 ms deadline took %v", took)
	}

	// Without a deadline, cancelling still cuts the exchange short.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start = time.Now()
	err = s.Send(ctx, m)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send cancelled: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled Send took %v", took)
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and returns its
// files and a pool that trusts it.
func testCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailpit test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// authFile writes a mailpit password file with one user.
func authFile(t *testing.T, user, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smtp-auth")
	if err := os.WriteFile(p, []byte(user+":"+pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSAndAuth(t *testing.T) {
	certFile, keyFile, roots := testCert(t)
	tlsArgs := []string{"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile}
	// The password has characters that the URL must percent-encode.
	auth := authFile(t, "gatehouse", "s3cret@p/ss")
	hostPort := func(srv *mailpittest.Server) string { return strings.TrimPrefix(srv.SMTPURL, "smtp://") }

	plain := mailpittest.Start(t)
	startTLS := mailpittest.Start(t, append(tlsArgs, "--smtp-require-starttls", "--smtp-auth-file", auth)...)
	implicitTLS := mailpittest.Start(t, append(tlsArgs, "--smtp-require-tls")...)
	insecureAuth := mailpittest.Start(t, "--smtp-auth-file", auth, "--smtp-auth-allow-insecure")

	tests := []struct {
		name    string
		srv     *mailpittest.Server
		url     string
		trust   bool   // trust the test certificate
		errPart string // "" when the message must arrive
	}{
		{"STARTTLS when offered", startTLS, "smtp://gatehouse:s3cret%40p%2Fss@" + hostPort(startTLS), true, ""},
		{"STARTTLS required and offered", startTLS, "smtp://gatehouse:s3cret%40p%2Fss@" + hostPort(startTLS) + "?starttls=required", true, ""},
		{"STARTTLS required, not offered", plain, plain.SMTPURL + "?starttls=required", true, "does not offer STARTTLS"},
		{"STARTTLS with an untrusted certificate", startTLS, "smtp://gatehouse:s3cret%40p%2Fss@" + hostPort(startTLS), false, "certificate"},
		{"wrong password", startTLS, "smtp://gatehouse:wrong@" + hostPort(startTLS), true, "AUTH"},
		{"no credentials where AUTH is required", startTLS, "smtp://" + hostPort(startTLS), true, "MAIL FROM"},
		{"implicit TLS", implicitTLS, "smtps://" + hostPort(implicitTLS), true, ""},
		{"implicit TLS, untrusted certificate", implicitTLS, "smtps://" + hostPort(implicitTLS), false, "certificate"},
		{"AUTH in clear to loopback", insecureAuth, "smtp://gatehouse:s3cret%40p%2Fss@" + hostPort(insecureAuth), false, ""},
		{"user name but no AUTH offered", plain, "smtp://gatehouse:x@" + hostPort(plain), false, "offers no AUTH"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSMTP(t, tt.url)
			if tt.trust {
				s.TLSConfig = &tls.Config{RootCAs: roots}
			}
			to := "user" + string(rune('a'+i)) + "@example.org"
			err := send(s, mail.Message{To: to, Subject: tt.name, Text: "code 123456"})
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("Send: %v, want an error about %q", err, tt.errPart)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.srv.WaitFor(t, to, 5*time.Second); got.Subject != tt.name || got.Text != "code 123456\r\n" {
				t.Errorf("mailpit got subject %q text %q", got.Subject, got.Text)
			}
		})
	}
}

func TestStringHidesPassword(t *testing.T) {
	s := newSMTP(t, "smtp://gatehouse:s3cret@mail.example.com:587?starttls=required")
	if got, want := s.String(), "smtp://gatehouse@mail.example.com:587?starttls=required"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestDiscard(t *testing.T) {
	if err := mail.Discard.Send(context.Background(), mail.Message{To: "a@example.org"}); err != nil {
		t.Error(err)
	}
}
