// Package otp makes and checks the one-time secrets of multi-factor sign-in:
// TOTP authenticator-app codes (RFC 6238), recovery codes, numeric codes
// sent by email, and the keyed hashes under which the last two are stored.
//
// The package keeps no state: remembering the last TOTP step used, counting
// failures and marking codes spent is the caller's job, in the store.
package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// TOTP parameters. They are the ones every authenticator app supports and
// many support nothing else, so they are fixed rather than configurable.
const (
	TOTPDigits     = 6
	TOTPPeriod     = 30 * time.Second
	TOTPSecretSize = 20 // bytes: the 160 bits RFC 4226 §4 recommends for HMAC-SHA-1
	// TOTPSkew is how many steps either side of the current one are
	// accepted, for clocks that drift and users who type slowly.
	TOTPSkew = 1
)

// base32NoPad is RFC 4648 base32 without "=" padding, as authenticator
// apps expect it in the otpauth URI and users type it.
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPKey is a TOTP secret and the ways to hand it to an authenticator app.
type TOTPKey struct {
	// Secret is the shared key; store it encrypted.
	Secret []byte
	// Base32 is Secret in unpadded base32, as it appears in URI.
	Base32 string
	// Display is Base32 in groups of four characters, for a user who types
	// the key into an app instead of scanning the QR code.
	Display string
	// URI is the otpauth:// provisioning URI that the QR code holds.
	URI string
	// QRCode is a PNG of URI's QR code as a data: URL, ready for an
	// <img src>.
	QRCode string
}

// NewTOTPKey makes a key with a fresh random secret for account (the
// user's name as the app should show it) at issuer (who the app should say
// the code is for).
func NewTOTPKey(issuer, account string) (*TOTPKey, error) {
	secret := make([]byte, TOTPSecretSize)
	rand.Read(secret) // never fails: crypto/rand crashes the program instead
	return TOTPKeyFromSecret(issuer, account, secret)
}

// TOTPKeyFromSecret rebuilds the key of a stored secret, so that an
// enrolment page can show the same QR code again after a mistyped code.
func TOTPKeyFromSecret(issuer, account string, secret []byte) (*TOTPKey, error) {
	if len(secret) < 16 {
		// RFC 4226 §4 requires at least 128 bits.
		return nil, fmt.Errorf("otp: a TOTP secret needs at least 16 bytes, got %d", len(secret))
	}
	if err := checkLabelPart("issuer", issuer); err != nil {
		return nil, err
	}
	if err := checkLabelPart("account", account); err != nil {
		return nil, err
	}
	k := &TOTPKey{Secret: append([]byte(nil), secret...), Base32: base32NoPad.EncodeToString(secret)}
	k.Display = groupsOf(k.Base32, 4)
	k.URI = provisioningURI(issuer, account, k.Base32)
	qr, err := qrDataURL(k.URI)
	if err != nil {
		return nil, err
	}
	k.QRCode = qr
	return k, nil
}

// checkLabelPart refuses what an authenticator app could not show.
func checkLabelPart(name, s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("otp: the TOTP %s must not be empty", name)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("otp: the TOTP %s must not contain control characters", name)
	}
	return nil
}

// groupsOf splits s into space-separated groups of n characters.
func groupsOf(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// provisioningURI builds the otpauth URI of the Key Uri Format that
// authenticator apps read: otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=….
//
// Apps split the label at its first colon (after percent-decoding it), so a
// colon in the issuer would move part of it into the account: the label's
// issuer drops colons, while the issuer parameter, which apps prefer, keeps
// the name exactly. Spaces are %20 everywhere because some apps show a "+"
// literally.
func provisioningURI(issuer, account, secret string) string {
	label := escape(strings.ReplaceAll(issuer, ":", "")) + ":" + escape(account)
	return "otpauth://totp/" + label +
		"?secret=" + secret +
		"&issuer=" + escape(issuer) +
		"&algorithm=SHA1" +
		"&digits=" + fmt.Sprint(TOTPDigits) +
		"&period=" + fmt.Sprint(int(TOTPPeriod/time.Second))
}

// escape percent-encodes everything but RFC 3986's unreserved characters
// and "@", which apps show as it is in e-mail-like account names.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// TOTPStep is the RFC 6238 time step that t falls in.
func TOTPStep(t time.Time) int64 {
	return floorDiv(t.Unix(), int64(TOTPPeriod/time.Second))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// TOTPCode is the code for the time step that t falls in.
func TOTPCode(secret []byte, t time.Time) string {
	return hotp(secret, uint64(TOTPStep(t)), TOTPDigits)
}

// ValidateTOTP checks code against the steps around now and returns the step
// it matched. The caller must refuse a step not greater than the last one
// that user used (RFC 6238 §5.2), which also stops a code being used twice.
//
// The code may have spaces around and inside it ("123 456", as apps show
// it); anything else but exactly TOTPDigits ASCII digits is refused. Every
// candidate is computed and compared in constant time, so the time taken
// tells nothing about which step, if any, matched.
func ValidateTOTP(secret []byte, code string, now time.Time) (step int64, ok bool) {
	code, valid := normalizeDigits(code, TOTPDigits)
	if !valid || len(secret) == 0 {
		return 0, false
	}
	current := TOTPStep(now)
	matched := 0
	for s := current - TOTPSkew; s <= current+TOTPSkew; s++ {
		want := hotp(secret, uint64(s), TOTPDigits)
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		// Without branching on eq, the latest matching step wins: a code
		// that happens to match two steps then never looks like a replay
		// of the earlier one.
		step = int64(eq)*s + int64(1-eq)*step
		matched |= eq
	}
	return step, matched == 1
}

// normalizeDigits removes spaces and reports whether what is left is
// exactly n ASCII digits.
func normalizeDigits(code string, n int) (string, bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != n {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// hotp is RFC 4226's HOTP with HMAC-SHA-1: the HMAC of the big-endian
// counter, dynamically truncated to 31 bits, modulo 10^digits.
func hotp(secret []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	offset := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[offset:offset+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}
