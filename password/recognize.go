package password

import "strings"

// bcryptAlphabet is the base64 alphabet of bcrypt's salt and hash.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Recognized reports whether encoded is a hash that Verify can check: one of
// the supported formats, well formed and within the parameter limits. It
// parses the hash without computing anything, so it is cheap enough to check
// every hash of an import before storing it.
func Recognized(encoded string) bool {
	if _, err := parse(encoded); err != nil {
		return false
	}
	if strings.HasPrefix(encoded, "$2") {
		// bcrypt.Cost reads only the version and the cost: check the rest,
		// $2b$NN$ then 22 characters of salt and 31 of hash, here, so that a
		// truncated hash is refused now and not at the user's first sign-in.
		return len(encoded) == 60 && encoded[6] == '$' && strings.Trim(encoded[7:], bcryptAlphabet) == ""
	}
	return true
}
