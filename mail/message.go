package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode"
)

// maxSubject bounds the subject, in bytes, so that its header line stays
// far below SMTP's 998-character limit even unencoded.
const maxSubject = 500

// parseAddress reads one RFC 5322 address and refuses what Gatehouse does
// not send to: lists, line breaks (header injection) and international
// addresses, which need SMTPUTF8 end to end.
func parseAddress(what, s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("mail: the %s address must not contain a line break", what)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("mail: the %s address %q is not a valid email address: %w", what, s, err)
	}
	for _, r := range a.Address {
		if r > unicode.MaxASCII {
			return nil, fmt.Errorf("mail: the %s address %q is not ASCII: international addresses are not supported", what, a.Address)
		}
	}
	return a, nil
}

// addressDomain is the part of an address after its last "@".
func addressDomain(a *mail.Address) string {
	return a.Address[strings.LastIndexByte(a.Address, '@')+1:]
}

// checkSubject refuses a subject that could end its header line early or
// break the message's format.
func checkSubject(s string) error {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) >= 0 {
		return errors.New("mail: the subject must not contain line breaks or control characters")
	}
	if len(s) > maxSubject {
		return fmt.Errorf("mail: the subject is %d bytes, more than %d", len(s), maxSubject)
	}
	return nil
}

// encodeSubject RFC 2047-encodes a subject that is not plain ASCII, folding
// the header between encoded words so that lines stay short.
func encodeSubject(s string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}

// compose builds the whole RFC 5322 message, CRLF line endings throughout,
// with a quoted-printable body: 7-bit clean, so any SMTP server relays it
// unchanged whatever the body's language.
func compose(from, to *mail.Address, subject, text string, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", from.String())
	header("To", to.String())
	header("Subject", encodeSubject(subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(from))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	// In text mode the quoted-printable writer turns each "\n" into a
	// CRLF line break; a lone "\r" would be encoded as "=0D" instead.
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("mail: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("mail: encode body: %w", err)
	}
	return b.Bytes(), nil
}

// messageID is a new, globally unique Message-ID in the sender's domain.
func messageID(from *mail.Address) string {
	var id [16]byte
	rand.Read(id[:]) // never fails: crypto/rand crashes the program instead
	return "<" + hex.EncodeToString(id[:]) + "@" + addressDomain(from) + ">"
}
