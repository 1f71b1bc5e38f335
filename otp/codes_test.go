package otp

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestNewRecoveryCodes(t *testing.T) {
	format := regexp.MustCompile(`^[` + RecoveryAlphabet + `]{5}-[` + RecoveryAlphabet + `]{5}$`)
	for _, n := range []int{0, 1, 10} {
		if got := NewRecoveryCodes(n); len(got) != n {
			t.Errorf("NewRecoveryCodes(%d) gave %d codes", n, len(got))
		}
	}
	seen := map[string]bool{}
	used := map[rune]bool{}
	for range 1000 {
		for _, c := range NewRecoveryCodes(10) {
			if !format.MatchString(c) {
				t.Fatalf("code %q is not xxxxx-xxxxx over the alphabet", c)
			}
			if seen[c] {
				t.Fatalf("code %q came twice in 10,000", c)
			}
			seen[c] = true
			for _, r := range strings.ReplaceAll(c, "-", "") {
				used[r] = true
			}
		}
	}
	// 100,000 characters drawn: every one of the 31 should have come up.
	if len(used) != len(RecoveryAlphabet) {
		t.Errorf("codes used %d characters, want all %d of the alphabet", len(used), len(RecoveryAlphabet))
	}
}

func TestRecoveryAlphabet(t *testing.T) {
	if strings.ContainsAny(RecoveryAlphabet, "0o1liABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t.Errorf("alphabet %q holds an ambiguous or uppercase character", RecoveryAlphabet)
	}
	seen := map[rune]bool{}
	for _, r := range RecoveryAlphabet {
		if seen[r] {
			t.Errorf("alphabet repeats %q", r)
		}
		seen[r] = true
	}
	if len(RecoveryAlphabet) != 31 {
		t.Errorf("alphabet has %d characters, want the 31 of a-z2-9 without o, l, i", len(RecoveryAlphabet))
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abcde-fghjk", "abcdefghjk"},
		{"ABCDE-FGHJK", "abcdefghjk"},
		{" abcde fghjk ", "abcdefghjk"},
		{"abc-de-fg hjk", "abcdefghjk"},
		{"abcde\u00a0fghjk\t", "abcdefghjk"}, // a no-break space from copying a page
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeRecoveryCode(tt.in); got != tt.want {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	code := NewRecoveryCodes(1)[0]
	if got := NormalizeRecoveryCode(strings.ToUpper(code)); got != strings.ReplaceAll(code, "-", "") {
		t.Errorf("a generated code typed in capitals normalizes to %q", got)
	}
}

func TestNewNumericCode(t *testing.T) {
	for _, n := range []int{1, 6, 8, 20} {
		c := NewNumericCode(n)
		if len(c) != n || strings.Trim(c, "0123456789") != "" {
			t.Errorf("NewNumericCode(%d) = %q", n, c)
		}
	}
	// Each position is uniform over 0-9: over 20,000 six-digit codes every
	// digit at every position comes about 2,000 times, leading zeros too.
	const codes = 20000
	var counts [6][10]int
	for range codes {
		for pos, d := range NewNumericCode(6) {
			counts[pos][d-'0']++
		}
	}
	for pos := range counts {
		for d, n := range counts[pos] {
			// 2,000 expected, standard deviation about 42: 6 of them
			// either side is a bound a fair generator never crosses.
			if n < 1750 || n > 2250 {
				t.Errorf("digit %d at position %d came %d times in %d codes, want about 2000", d, pos, n, codes)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewNumericCode(0) did not panic")
		}
	}()
	NewNumericCode(0)
}

func TestHashCode(t *testing.T) {
	key := []byte("environment key one")
	base := HashCode(key, "recovery", "user-1", "abcdefghjk")
	if len(base) != 32 {
		t.Fatalf("hash is %d bytes, want 32", len(base))
	}
	if !bytes.Equal(base, HashCode(key, "recovery", "user-1", "abcdefghjk")) {
		t.Fatal("HashCode is not deterministic")
	}
	tests := []struct {
		name                string
		key                 []byte
		purpose, user, code string
	}{
		{"other key", []byte("environment key two"), "recovery", "user-1", "abcdefghjk"},
		{"other purpose", key, "email-mfa", "user-1", "abcdefghjk"},
		{"other user", key, "recovery", "user-2", "abcdefghjk"},
		{"other code", key, "recovery", "user-1", "abcdefghjm"},
		// Fields moved across a boundary must not collide.
		{"shifted boundary", key, "recoveryu", "ser-1", "abcdefghjk"},
		{"shifted into code", key, "recovery", "user-", "1abcdefghjk"},
	}
	for _, tt := range tests {
		if bytes.Equal(base, HashCode(tt.key, tt.purpose, tt.user, tt.code)) {
			t.Errorf("%s: same hash", tt.name)
		}
	}
}
