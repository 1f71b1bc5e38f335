package otp

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/png" // image.Decode reads the QR code
	"net/url"
	"strings"
	"testing"
	"time"

	pqotp "github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// rfcSeed is the SHA-1 key of RFC 4226 Appendix D and RFC 6238 Appendix B.
var rfcSeed = []byte("12345678901234567890")

func TestHOTPMatchesRFC4226(t *testing.T) {
	// RFC 4226 Appendix D, counters 0 to 9.
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, code := range want {
		if got := hotp(rfcSeed, uint64(counter), 6); got != code {
			t.Errorf("hotp(counter %d) = %s, want %s", counter, got, code)
		}
	}
}

func TestTOTPMatchesRFC6238(t *testing.T) {
	// RFC 6238 Appendix B, SHA-1 rows: the RFC prints 8 digits; the 6-digit
	// code is the same truncated value modulo 10^6, its last six digits.
	tests := []struct {
		unix  int64
		step  int64
		eight string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, tt := range tests {
		now := time.Unix(tt.unix, 0)
		if got := TOTPStep(now); got != tt.step {
			t.Errorf("TOTPStep(%d) = %#x, want %#x", tt.unix, got, tt.step)
		}
		if got := hotp(rfcSeed, uint64(TOTPStep(now)), 8); got != tt.eight {
			t.Errorf("8-digit TOTP at %d = %s, want %s", tt.unix, got, tt.eight)
		}
		six := tt.eight[2:]
		if got := TOTPCode(rfcSeed, now); got != six {
			t.Errorf("TOTPCode at %d = %s, want %s", tt.unix, got, six)
		}
		if step, ok := ValidateTOTP(rfcSeed, six, now); !ok || step != tt.step {
			t.Errorf("ValidateTOTP(%s) at %d = %#x, %v; want %#x, true", six, tt.unix, step, ok, tt.step)
		}
	}
}

// TestTOTPAgreesWithPquerna checks the codes against an independent
// implementation, the one authenticator-app vendors test against.
func TestTOTPAgreesWithPquerna(t *testing.T) {
	for i := range 50 {
		key, err := NewTOTPKey("Acme", "alice")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1700000000+int64(i)*7919, 0)
		want, err := totp.GenerateCodeCustom(key.Base32, now, totp.ValidateOpts{Period: 30, Digits: pqotp.DigitsSix, Algorithm: pqotp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if got := TOTPCode(key.Secret, now); got != want {
			t.Fatalf("TOTPCode = %s, pquerna/otp says %s", got, want)
		}
	}
}

func TestValidateTOTPWindow(t *testing.T) {
	now := time.Unix(1111111111, 0) // 1 s into its step
	current := TOTPStep(now)
	tests := []struct {
		name   string
		offset int64 // steps from now at which the code was made
		ok     bool
	}{
		{"two steps early", -2, false},
		{"previous step", -1, true},
		{"current step", 0, true},
		{"next step", 1, true},
		{"two steps late", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := TOTPCode(rfcSeed, now.Add(time.Duration(tt.offset)*TOTPPeriod))
			step, ok := ValidateTOTP(rfcSeed, code, now)
			if ok != tt.ok {
				t.Fatalf("ValidateTOTP(code of step %+d) ok = %v, want %v", tt.offset, ok, tt.ok)
			}
			if ok && step != current+tt.offset {
				t.Errorf("step = %d, want %d", step, current+tt.offset)
			}
			if !ok && step != 0 {
				t.Errorf("refused code returned step %d, want 0", step)
			}
		})
	}
}

func TestValidateTOTPInput(t *testing.T) {
	now := time.Unix(1234567890, 0)
	code := TOTPCode(rfcSeed, now) // "005924"
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"exact", code, true},
		{"spaces around", "  " + code + " ", true},
		{"space inside, as apps show it", code[:3] + " " + code[3:], true},
		{"empty", "", false},
		{"only spaces", "      ", false},
		{"five digits", code[1:], false},
		{"seven digits", code + "0", false},
		{"letters", "abcdef", false},
		{"hyphen inside", code[:3] + "-" + code[3:], false},
		{"tab inside", code[:3] + "\t" + code[3:], false},
		{"plus sign", "+" + code[1:], false},
		{"Arabic-Indic digits", "٠٠٥٩٢٤", false},
		{"fullwidth digits", "００５９２４", false},
		{"wrong code", "123456", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := ValidateTOTP(rfcSeed, tt.input, now); ok != tt.ok {
				t.Errorf("ValidateTOTP(%q) ok = %v, want %v", tt.input, ok, tt.ok)
			}
		})
	}
	if _, ok := ValidateTOTP(nil, code, now); ok {
		t.Error("ValidateTOTP accepted a code for an empty secret")
	}
	if _, ok := ValidateTOTP([]byte("another secret of 20b"), code, now); ok {
		t.Error("ValidateTOTP accepted another secret's code")
	}
}

func TestNewTOTPKey(t *testing.T) {
	key, err := NewTOTPKey("Acme Retail", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Secret) != 20 {
		t.Errorf("secret is %d bytes, want 20", len(key.Secret))
	}
	if len(key.Base32) != 32 || strings.ContainsAny(key.Base32, "= ") {
		t.Errorf("Base32 = %q, want 32 characters without padding or spaces", key.Base32)
	}
	groups := strings.Split(key.Display, " ")
	if len(groups) != 8 || strings.Join(groups, "") != key.Base32 {
		t.Errorf("Display = %q, want Base32 in eight groups of four", key.Display)
	}
	for _, g := range groups {
		if len(g) != 4 {
			t.Errorf("Display group %q is not four characters", g)
		}
	}
	if decoded, err := base32NoPad.DecodeString(key.Base32); err != nil || !bytes.Equal(decoded, key.Secret) {
		t.Errorf("Base32 does not decode to Secret: %x, %v", decoded, err)
	}
	other, err := NewTOTPKey("Acme Retail", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Secret, key.Secret) {
		t.Error("two keys have the same secret")
	}
}

func TestNewTOTPKeyRefuses(t *testing.T) {
	tests := []struct{ name, issuer, account string }{
		{"empty issuer", "", "alice"},
		{"blank account", "Acme", "  "},
		{"newline in account", "Acme", "alice\nbob"},
		{"NUL in issuer", "Ac\x00me", "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTOTPKey(tt.issuer, tt.account); err == nil {
				t.Errorf("NewTOTPKey(%q, %q) succeeded", tt.issuer, tt.account)
			}
		})
	}
	if _, err := TOTPKeyFromSecret("Acme", "alice", make([]byte, 10)); err == nil {
		t.Error("TOTPKeyFromSecret accepted an 80-bit secret")
	}
}

func TestProvisioningURI(t *testing.T) {
	tests := []struct{ issuer, account, wantPath string }{
		{"Acme Retail", "alice@example.com", "/Acme Retail:alice@example.com"},
		{"Ünïcode & Co?", "bob+1/x", "/Ünïcode & Co?:bob+1/x"},
		// A colon in the issuer would split the label in the wrong place:
		// the label drops it, the issuer parameter keeps it.
		{"Acme: Retail", "carol:ops", "/Acme Retail:carol:ops"},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			key, err := NewTOTPKey(tt.issuer, tt.account)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(key.URI, "+") || strings.Contains(key.URI, " ") {
				t.Errorf("URI %q has a raw space or a plus sign", key.URI)
			}
			u, err := url.Parse(key.URI)
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != tt.wantPath {
				t.Errorf("URI %s: scheme %q host %q path %q, want otpauth, totp, %q", key.URI, u.Scheme, u.Host, u.Path, tt.wantPath)
			}
			q := u.Query()
			want := map[string]string{"secret": key.Base32, "issuer": tt.issuer, "algorithm": "SHA1", "digits": "6", "period": "30"}
			for name, value := range want {
				if got := q.Get(name); got != value {
					t.Errorf("parameter %s = %q, want %q", name, got, value)
				}
			}
			// An independent reader of the format finds the same.
			pk, err := pqotp.NewKeyFromURL(key.URI)
			if err != nil {
				t.Fatal(err)
			}
			if pk.Issuer() != tt.issuer || pk.AccountName() != tt.account || pk.Secret() != key.Base32 || pk.Period() != 30 || pk.Digits() != pqotp.DigitsSix || pk.Algorithm() != pqotp.AlgorithmSHA1 {
				t.Errorf("pquerna/otp reads issuer %q account %q secret %q period %d digits %v algorithm %v",
					pk.Issuer(), pk.AccountName(), pk.Secret(), pk.Period(), pk.Digits(), pk.Algorithm())
			}
		})
	}
}

func TestQRCode(t *testing.T) {
	for _, account := range []string{"al", strings.Repeat("a", 250) + "@example.com"} {
		key, err := NewTOTPKey("Acme Retail", account)
		if err != nil {
			t.Fatal(err)
		}
		const prefix = "data:image/png;base64,"
		if !strings.HasPrefix(key.QRCode, prefix) {
			t.Fatalf("QRCode starts %.40q, want %q", key.QRCode, prefix)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key.QRCode, prefix))
		if err != nil {
			t.Fatal(err)
		}
		img, format, err := image.Decode(bytes.NewReader(raw))
		if err != nil || format != "png" {
			t.Fatalf("QR code does not decode as PNG: format %q, %v", format, err)
		}
		b := img.Bounds()
		if b.Dx() != b.Dy() || b.Dx() < 150 || b.Dx() > qrMaxSize {
			t.Errorf("QR image is %dx%d, want a square of 150 to %d px", b.Dx(), b.Dy(), qrMaxSize)
		}
		if len(account) < 100 && b.Dx() < qrMinSize {
			t.Errorf("QR image of a short URI is %d px, want at least %d", b.Dx(), qrMinSize)
		}
		if len(raw) > 8<<10 {
			t.Errorf("QR PNG is %d bytes, want a small image", len(raw))
		}
		checkQRStructure(t, img)
	}
}

// checkQRStructure checks what a scanner first looks for: a white quiet
// zone of four modules and the three finder patterns in the corners.
func checkQRStructure(t *testing.T, img image.Image) {
	t.Helper()
	side := img.Bounds().Dx()
	dark := func(x, y int) bool {
		r, _, _, _ := img.At(x, y).RGBA()
		return r < 0x8000
	}
	// The first dark pixel on the diagonal is the top-left finder
	// pattern's corner, at the quiet zone's inner edge: 4 modules in.
	edge := 0
	for edge < side && !dark(edge, edge) {
		edge++
	}
	scale := edge / qrQuietZone
	if scale < 1 || edge%qrQuietZone != 0 {
		t.Fatalf("quiet zone is %d px, not four whole modules", edge)
	}
	modules := side/scale - 2*qrQuietZone
	if (modules-17)%4 != 0 || modules < 21 {
		t.Fatalf("%d modules a side: not a QR code version", modules)
	}
	// A finder pattern is 7 modules: dark ring, light ring, dark 3x3.
	finder := func(mx, my int) {
		for dy := range 7 {
			for dx := range 7 {
				ring := max(abs(dx-3), abs(dy-3))
				want := ring != 2
				cx := (qrQuietZone+mx+dx)*scale + scale/2
				cy := (qrQuietZone+my+dy)*scale + scale/2
				if dark(cx, cy) != want {
					t.Fatalf("finder pattern at module (%d,%d) wrong at (%d,%d)", mx, my, dx, dy)
				}
			}
		}
	}
	finder(0, 0)
	finder(modules-7, 0)
	finder(0, modules-7)
	for i := range side {
		if dark(i, 0) || dark(0, i) || dark(i, side-1) || dark(side-1, i) {
			t.Fatalf("quiet zone has a dark pixel at the border near %d", i)
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
