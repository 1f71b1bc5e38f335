package policy

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// commonPasswordsGz is the common-password list: lowercase, sorted, one a
// line. COMMON-PASSWORDS.md says where it comes from and how it was made.
//
//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

// maxCommonLength bounds the entries of the list, in characters.
const maxCommonLength = 64

// commonPasswords is the list as a set, built on first use so that start-up
// does not pay for it (about 30 ms and 8 MB of heap; see COMMON-PASSWORDS.md).
var commonPasswords = sync.OnceValue(loadCommonPasswords)

// IsCommon reports whether password, lowercased with strings.ToLower, is in
// the bundled list of common passwords. The first call builds the list.
func IsCommon(password string) bool {
	// strings.ToLower maps each character to one character, so a password
	// with more characters than the longest entry cannot match.
	if utf8.RuneCountInString(password) > maxCommonLength {
		return false
	}
	_, ok := commonPasswords()[strings.ToLower(password)]
	return ok
}

// loadCommonPasswords decompresses the embedded list into a set whose keys
// share one backing string. It panics if the embedded file is damaged: that
// is a broken build, which the package's tests catch.
func loadCommonPasswords() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("policy: reading common-passwords.txt.gz: " + err.Error())
	}
	var text strings.Builder
	// gzip's trailer holds the uncompressed size (mod 2³²).
	text.Grow(int(binary.LittleEndian.Uint32(commonPasswordsGz[len(commonPasswordsGz)-4:])))
	if _, err := io.Copy(&text, zr); err != nil {
		panic("policy: reading common-passwords.txt.gz: " + err.Error())
	}
	all := text.String()
	set := make(map[string]struct{}, strings.Count(all, "\n"))
	for line := range strings.Lines(all) {
		if entry := strings.TrimSuffix(line, "\n"); entry != "" {
			set[entry] = struct{}{}
		}
	}
	return set
}
