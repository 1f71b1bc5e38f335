package oidc

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// callTimeout bounds each call to the IdP, so that a slow IdP holds a
	// sign-in for seconds, not for as long as the browser waits.
	callTimeout = 10 * time.Second
	// maxBody bounds every answer read from the IdP; discovery documents,
	// key sets and token answers are a few KiB.
	maxBody = 512 << 10
)

var errBodyTooLarge = fmt.Errorf("the answer is larger than %d KiB", maxBody>>10)

// boundedClient is the given client, or a plain one, with its answers
// capped at maxBody and a timeout for the requests go-oidc makes on a
// context of its own (key set refreshes).
func boundedClient(c *http.Client) *http.Client {
	var b http.Client
	if c != nil {
		b = *c
	}
	base := b.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	b.Transport = cappedTransport{base}
	if b.Timeout == 0 || b.Timeout > callTimeout {
		b.Timeout = callTimeout
	}
	return &b
}

// cappedTransport caps the bodies of the answers it returns, since go-oidc
// reads discovery, key set and userinfo answers whole.
type cappedTransport struct{ base http.RoundTripper }

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxBody}
	return resp, nil
}

// cappedBody fails once more than left bytes are read, rather than
// truncating silently into a confusing parse error.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// clipped shortens an error's message, which may quote a whole page the
// IdP answered, while keeping it for errors.Is and errors.As.
type clipped struct{ err error }

func (c clipped) Error() string { return clip(c.err.Error(), 300) }
func (c clipped) Unwrap() error { return c.err }

// clip makes text from the IdP fit for one log line: control characters
// become spaces and it is cut to at most max bytes.
func clip(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkText refuses a claim value that is too long or holds control
// characters, which no username, name or address has.
func checkText(claim, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("the %s claim is longer than %d bytes", claim, max)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("the %s claim holds control characters or invalid UTF-8", claim)
	}
	return nil
}
