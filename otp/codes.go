package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"unicode"
)

// RecoveryAlphabet is the characters of recovery codes: lowercase letters
// and digits without 0, o, 1, l and i, which are easily mistaken for one
// another when copied from paper. Its 31 characters give a 10-character
// code 10·log2(31) ≈ 49.5 bits.
const RecoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// recoveryLength is the characters in a recovery code, hyphen excepted.
const recoveryLength = 10

// NewRecoveryCodes returns n distinct recovery codes, each shown as
// "xxxxx-xxxxx". Store them only as HashCode of NormalizeRecoveryCode.
func NewRecoveryCodes(n int) []string {
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(codes) < n {
		c := randomString(RecoveryAlphabet, recoveryLength)
		if seen[c] {
			continue // a set of codes must not hold one code twice
		}
		seen[c] = true
		codes = append(codes, c[:5]+"-"+c[5:])
	}
	return codes
}

// NormalizeRecoveryCode turns a recovery code as typed ("ABCDE-FGHJK",
// "abcde fghjk") into the form it is hashed in: lowercase, without spaces
// or hyphens.
func NormalizeRecoveryCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// NewNumericCode returns a code of digits decimal digits, each uniformly
// random, leading zeros kept: the code an email carries. digits must be
// positive.
func NewNumericCode(digits int) string {
	if digits < 1 {
		panic("otp: NewNumericCode needs at least one digit")
	}
	return randomString("0123456789", digits)
}

// randomString draws n characters uniformly from alphabet (at most 256
// characters), rejecting the random bytes past the largest multiple of the
// alphabet's size so that no character is likelier than another.
func randomString(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails: crypto/rand crashes the program instead
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// HashCode is the keyed hash under which a recovery or email code is
// stored: HMAC-SHA256 under key (an environment's secret) of the purpose
// (such as "recovery" or "email-mfa"), the user's id and the normalized
// code. Without the key a leaked table cannot be searched, even though the
// codes are short; and a hash made for one user or purpose does not match
// for another. Each field is length-prefixed so that no two different
// triples hash the same message. Compare hashes with hmac.Equal.
func HashCode(key []byte, purpose, userID, normalized string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("gatehouse-code-v1"))
	for _, field := range []string{purpose, userID, normalized} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(field)))
		mac.Write(n[:])
		mac.Write([]byte(field))
	}
	return mac.Sum(nil)
}
