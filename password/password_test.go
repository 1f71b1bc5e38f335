package password

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h1, err := Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h1, "=$") || strings.HasSuffix(h1, "=") {
		t.Fatalf("Hash = %q, not the expected PHC form", h1)
	}
	ok, rehash, err := Verify(ctx, "correct horse", h1)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, _, err = Verify(ctx, "correct horsE", h1)
	if err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
	}
	h2, _ := Hash(ctx, "correct horse")
	if h1 == h2 {
		t.Fatal("two hashes of the same password are equal")
	}
}

// Encoders for imported formats, built from the primitives in the test so
// that no vector is copied from elsewhere.

func argon2PHC(variant string, m, t uint32, p uint8, salt []byte, keyLen uint32, plain string) string {
	kdf := argon2.IDKey
	if variant == "argon2i" {
		kdf = argon2.Key
	}
	key := kdf([]byte(plain), salt, t, m, p, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$%s$v=19$m=%d,t=%d,p=%d$%s$%s", variant, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func passlibPBKDF2(t *testing.T, name string, h func() hash.Hash, iter int, salt []byte, plain string) string {
	key, err := pbkdf2.Key(h, plain, salt, iter, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	ab64 := func(b []byte) string {
		return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(b), "+", ".")
	}
	return fmt.Sprintf("$%s$%d$%s$%s", name, iter, ab64(salt), ab64(key))
}

func djangoPBKDF2(t *testing.T, iter int, salt, plain string) string {
	key, err := pbkdf2.Key(sha256.New, plain, []byte(salt), iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iter, salt, base64.StdEncoding.EncodeToString(key))
}

func TestVerifyImported(t *testing.T) {
	const plain = "Tr0ub4dor&3"
	bc, err := bcrypt.GenerateFromPassword([]byte(plain), 4)
	if err != nil {
		t.Fatal(err)
	}
	// Salt bytes chosen so the passlib encoding contains '.' (adapted '+').
	salt := []byte{0xfb, 0xef, 0xbe, 0xfb, 0xef, 0xbe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name        string
		encoded     string
		needsRehash bool
	}{
		{"argon2id current", argon2PHC("argon2id", 19456, 2, 1, salt, 32, plain), false},
		{"argon2id other m", argon2PHC("argon2id", 65536, 2, 1, salt, 32, plain), true},
		{"argon2id other t,p", argon2PHC("argon2id", 19456, 3, 2, salt, 32, plain), true},
		{"argon2id other key length", argon2PHC("argon2id", 19456, 2, 1, salt, 16, plain), true},
		{"argon2i", argon2PHC("argon2i", 4096, 3, 1, salt, 32, plain), true},
		{"bcrypt 2a", "$2a$" + string(bc[4:]), true},
		{"bcrypt 2b", "$2b$" + string(bc[4:]), true},
		{"bcrypt 2y", "$2y$" + string(bc[4:]), true},
		{"passlib pbkdf2-sha256", passlibPBKDF2(t, "pbkdf2-sha256", sha256.New, 1000, salt, plain), true},
		{"passlib pbkdf2-sha512", passlibPBKDF2(t, "pbkdf2-sha512", sha512.New, 1000, salt, plain), true},
		{"django pbkdf2_sha256", djangoPBKDF2(t, 1000, "aBcD3fGh1jKl", plain), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ok, rehash, err := Verify(ctx, plain, tt.encoded)
			if err != nil || !ok || rehash != tt.needsRehash {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.needsRehash)
			}
			ok, rehash, err = Verify(ctx, plain+"x", tt.encoded)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
	if !strings.Contains(tests[8].encoded, ".") {
		t.Error("passlib test vector does not exercise the adapted base64 '.'")
	}
}

func TestVerifyBadEncodings(t *testing.T) {
	good, err := Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 16)
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	pbk := passlibPBKDF2(t, "pbkdf2-sha256", sha256.New, 1000, salt, "pw")
	dj := djangoPBKDF2(t, 1000, "salt", "pw")
	tests := []struct {
		name, encoded, wantErr string
	}{
		{"empty", "", "unsupported password hash format"},
		{"garbage", "not a hash at all", "unsupported password hash format"},
		{"md5 crypt", "$1$saltsalt$qjXMvOEBWmn4FN/NHG6yH.", "unsupported password hash format"},
		{"django sha1", "pbkdf2_sha1$1000$salt$AAAA", "unsupported password hash format"},
		{"argon2 truncated", good[:len(good)-40], "malformed"},
		{"argon2 cut in params", good[:22], "malformed"},
		{"argon2 no hash", good[:strings.LastIndex(good, "$")], "malformed"},
		{"argon2 empty hash", good[:strings.LastIndex(good, "$")+1], "malformed"},
		{"argon2 version 16", strings.Replace(good, "v=19", "v=16", 1), "malformed"},
		{"argon2 bad base64", good + "!", "malformed"},
		{"argon2 missing p", strings.Replace(good, ",p=1", "", 1), "malformed"},
		{"argon2 repeated t", strings.Replace(good, "p=1", "t=1", 1), "malformed"},
		{"argon2 unknown param", strings.Replace(good, "p=1", "p=1,x=1", 1), "malformed"},
		{"argon2 zero t", strings.Replace(good, "t=2", "t=0", 1), "malformed"},
		{"argon2 signed m", strings.Replace(good, "m=19456", "m=+19456", 1), "malformed"},
		{"argon2 huge m", strings.Replace(good, "m=19456", "m=1048577", 1), "limits"},
		{"argon2 huge t", strings.Replace(good, "t=2", "t=21", 1), "limits"},
		{"argon2 huge p", strings.Replace(good, "p=1", "p=17", 1), "limits"},
		{"argon2 overflowing m", strings.Replace(good, "m=19456", "m=99999999999999999999", 1), "malformed"},
		{"bcrypt truncated", string(bc[:len(bc)-5]), "malformed"},
		{"bcrypt huge cost", "$2b$31" + string(bc[6:]), "limits"},
		{"pbkdf2 truncated", pbk[:len(pbk)-30], "malformed"},
		{"pbkdf2 no fields", "$pbkdf2-sha256$", "malformed"},
		{"pbkdf2 zero iter", strings.Replace(pbk, "$1000$", "$0$", 1), "malformed"},
		{"pbkdf2 huge iter", strings.Replace(pbk, "$1000$", "$10000001$", 1), "limits"},
		{"django huge iter", strings.Replace(dj, "$1000$", "$99999999$", 1), "limits"},
		{"django bad base64", dj + "*", "malformed"},
		{"django extra field", dj + "$x", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := Verify(context.Background(), "pw", tt.encoded)
			if err == nil || ok || rehash {
				t.Fatalf("Verify = %v, %v, %v; want an error", ok, rehash, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want containing %q", err, tt.wantErr)
			}
			if tt.encoded != "" && strings.Contains(err.Error(), tt.encoded) {
				t.Fatalf("error echoes the hash: %q", err)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	VerifyDummy(context.Background(), "anything") // must not panic or leak a slot
	if inUse, capacity := Slots(); inUse != 0 || capacity < 1 {
		t.Fatalf("Slots = %d, %d; want 0 in use", inUse, capacity)
	}
	if ok, _, err := Verify(context.Background(), "", dummyHash); ok || err != nil {
		t.Fatalf("dummy hash: Verify = %v, %v; want false, nil", ok, err)
	}
}

func TestGenerate(t *testing.T) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
	seen := map[rune]bool{}
	distinct := map[string]bool{}
	for range 2000 {
		p := Generate()
		if len(p) != 20 {
			t.Fatalf("Generate() = %q, length %d, want 20", p, len(p))
		}
		if strings.Trim(p, alphabet) != "" {
			t.Fatalf("Generate() = %q contains a character outside the alphabet", p)
		}
		if !strings.ContainsAny(p, "ABCDEFGHJKLMNPQRSTUVWXYZ") || !strings.ContainsAny(p, "abcdefghijkmnpqrstuvwxyz") || !strings.ContainsAny(p, "23456789") {
			t.Fatalf("Generate() = %q lacks an upper, lower or digit", p)
		}
		for _, r := range p {
			seen[r] = true
		}
		distinct[p] = true
	}
	if len(seen) != len(alphabet) {
		t.Errorf("2000 passwords used %d of %d alphabet characters", len(seen), len(alphabet))
	}
	if len(distinct) != 2000 {
		t.Errorf("2000 passwords had only %d distinct values", len(distinct))
	}
}

func TestBusy(t *testing.T) {
	good, err := Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	_, capacity := Slots()
	for range capacity {
		slots <- struct{}{}
	}
	defer func() {
		for range capacity {
			<-slots
		}
	}()
	if inUse, _ := Slots(); inUse != capacity {
		t.Fatalf("Slots in use = %d, want %d", inUse, capacity)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, "pw"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("Hash: err = %v, want ErrBusy wrapping context.Canceled", err)
	}
	if ok, _, err := Verify(ctx, "pw", good); ok || !errors.Is(err, ErrBusy) {
		t.Errorf("Verify: ok = %v, err = %v, want ErrBusy", ok, err)
	}
	VerifyDummy(ctx, "pw") // returns rather than blocking
}

func BenchmarkHash(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := Hash(ctx, "benchmark password"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	ctx := context.Background()
	encoded, err := Hash(ctx, "benchmark password")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := Verify(ctx, "benchmark password", encoded); !ok || err != nil {
				b.Errorf("Verify = %v, %v", ok, err)
				return
			}
		}
	})
}
