package mail

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func TestDefaultPorts(t *testing.T) {
	tests := []struct{ url, addr string }{
		{"smtp://mail.example.com", "mail.example.com:25"},
		{"smtp://mail.example.com/", "mail.example.com:25"},
		{"smtp://mail.example.com:587?starttls=required", "mail.example.com:587"},
		{"smtps://mail.example.com", "mail.example.com:465"},
		{"smtps://u:p@[2001:db8::1]", "[2001:db8::1]:465"},
	}
	for _, tt := range tests {
		s, err := NewSMTP(tt.url, "a@example.org")
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", tt.url, err)
			continue
		}
		if s.addr != tt.addr {
			t.Errorf("NewSMTP(%q) connects to %s, want %s", tt.url, s.addr, tt.addr)
		}
	}
}

func TestAuthAllowed(t *testing.T) {
	tests := []struct {
		host  string
		isTLS bool
		want  bool
	}{
		{"mail.example.com", true, true},
		{"mail.example.com", false, false},
		{"192.0.2.1", false, false},
		{"localhost", false, true},
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, true},
		{"::1", false, true},
		{"localhost.example.com", false, false},
	}
	for _, tt := range tests {
		if got := authAllowed(tt.host, tt.isTLS); got != tt.want {
			t.Errorf("authAllowed(%q, tls %v) = %v, want %v", tt.host, tt.isTLS, got, tt.want)
		}
	}
}

func TestComposeFoldsLongLines(t *testing.T) {
	from, _ := parseAddress("sender", "Gatehouse <no-reply@acme.example>")
	to, _ := parseAddress("recipient", "a@example.org")
	subject := strings.Repeat("Ünïcödé sübjéct ", 12)
	text := strings.Repeat("ä", 300) + "\n" + strings.Repeat("x", 300)
	raw, err := compose(from, to, subject, text, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok {
		t.Fatal("no blank line between header and body")
	}
	for line := range strings.SplitSeq(head, "\r\n") {
		if len(line) > 100 {
			t.Errorf("header line of %d characters: %q", len(line), line)
		}
	}
	for line := range strings.SplitSeq(body, "\r\n") {
		if len(line) > 76 {
			t.Errorf("body line of %d characters, more than quoted-printable's 76", len(line))
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || got != subject {
		t.Errorf("Subject decodes to %q, %v; want %q", got, err, subject)
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil || string(decoded) != strings.ReplaceAll(text, "\n", "\r\n")+"\r\n" {
		t.Errorf("body decodes to %q, %v", decoded, err)
	}
}
