// Package mail sends the plain-text emails of Gatehouse: one-time sign-in
// codes and password-reset codes.
//
// There is deliberately no sender that logs or drops messages in production:
// these messages carry codes, and a code that silently goes nowhere locks a
// user out with no hint why. When no SMTP server is configured the service
// has no Sender and refuses to send with ErrNotConfigured, which its pages
// and API turn into a clear error. Discard exists for tests only.
package mail

import (
	"context"
	"errors"
)

// Message is a plain-text email to one recipient.
type Message struct {
	// To is an RFC 5322 address: "user@example.com" or
	// "Name <user@example.com>".
	To      string
	Subject string
	// Text is the body; line endings may be LF or CRLF.
	Text string
}

// Sender delivers messages. Send returns once the message is handed on
// (for SMTP: accepted by the server) or has failed.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrNotConfigured is the error for sending an email when no SMTP server is
// configured.
var ErrNotConfigured = errors.New("mail: no SMTP server is configured, so no email can be sent")

// Discard is a Sender that drops every message, for tests that do not look
// at mail. Production code must never use it (see the package comment).
var Discard Sender = discard{}

type discard struct{}

func (discard) Send(context.Context, Message) error { return nil }
