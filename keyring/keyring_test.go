package keyring

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustNew(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNew(t *testing.T) {
	a, b := Generate(), Generate()
	tests := []struct {
		name    string
		keys    [][]byte
		wantErr bool
	}{
		{"one", [][]byte{a}, false},
		{"two", [][]byte{a, b}, false},
		{"none", nil, true},
		{"short", [][]byte{a[:31]}, true},
		{"long", [][]byte{append(bytes.Clone(a), 0)}, true},
		{"duplicate", [][]byte{a, b, bytes.Clone(a)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	key := Generate()
	k := mustNew(t, key)
	for _, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		ct, err := k.Encrypt(plain, []byte("row-1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != 1+4+12+len(plain)+16 || ct[0] != 1 {
			t.Fatalf("ciphertext length %d / version %d unexpected", len(ct), ct[0])
		}
		got, err := k.Decrypt(ct, []byte("row-1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Decrypt = %q, want %q", got, plain)
		}
		id, err := k.KeyIDOf(ct)
		if err != nil || id != KeyID(key) || id != k.PrimaryID() || len(id) != 8 {
			t.Fatalf("KeyIDOf = %q, %v; want %q", id, err, KeyID(key))
		}
	}
	a, _ := k.Encrypt([]byte("same"), nil)
	b, _ := k.Encrypt([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are identical")
	}
}

func TestDecryptFailures(t *testing.T) {
	key := Generate()
	k := mustNew(t, key)
	ct, err := k.Encrypt([]byte("hunter2"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	const authErr = "secret could not be decrypted: authentication failed"
	const malformed = "secret is malformed"

	if _, err := k.Decrypt(ct, []byte("other")); err == nil || err.Error() != authErr {
		t.Errorf("wrong aad: err = %v, want %q", err, authErr)
	}
	if _, err := k.Decrypt(ct, nil); err == nil || err.Error() != authErr {
		t.Errorf("missing aad: err = %v, want %q", err, authErr)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err := k.Decrypt(bad, []byte("aad"))
		if err == nil {
			t.Fatalf("tampering byte %d: decrypt succeeded", i)
		}
		if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(key)) {
			t.Fatalf("error leaks key material: %v", err)
		}
	}
	for _, in := range [][]byte{nil, {1}, ct[:16], ct[:17+15], append([]byte{2}, ct[1:]...)} {
		if _, err := k.Decrypt(in, []byte("aad")); err == nil || err.Error() != malformed {
			t.Errorf("Decrypt(%d bytes): err = %v, want %q", len(in), err, malformed)
		}
	}
	if _, err := k.KeyIDOf([]byte{1, 2}); err == nil || err.Error() != malformed {
		t.Errorf("KeyIDOf(short): err = %v, want %q", err, malformed)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := Generate(), Generate()
	oldRing := mustNew(t, oldKey)
	newRing := mustNew(t, newKey, oldKey)
	underOld, _ := oldRing.Encrypt([]byte("old secret"), nil)
	underNew, _ := newRing.Encrypt([]byte("new secret"), nil)

	if id, _ := newRing.KeyIDOf(underNew); id != KeyID(newKey) {
		t.Fatalf("new ciphertext under %s, want primary %s", id, KeyID(newKey))
	}
	for _, c := range []struct {
		ct   []byte
		want string
	}{{underOld, "old secret"}, {underNew, "new secret"}} {
		got, err := newRing.Decrypt(c.ct, nil)
		if err != nil || string(got) != c.want {
			t.Errorf("Decrypt = %q, %v; want %q", got, err, c.want)
		}
	}
	if !newRing.Has(KeyID(oldKey)) || !newRing.Has(KeyID(newKey)) || oldRing.Has(KeyID(newKey)) || newRing.Has("zz") {
		t.Error("Has reports wrong membership")
	}

	_, err := oldRing.Decrypt(underNew, nil)
	want := "secret was encrypted under key-encryption key " + KeyID(newKey) + ", which is not configured"
	if err == nil || err.Error() != want {
		t.Fatalf("missing key: err = %v, want %q", err, want)
	}
}

func TestKeysAreCopies(t *testing.T) {
	a, b := Generate(), Generate()
	want := [][]byte{bytes.Clone(a), bytes.Clone(b)}
	k := mustNew(t, a, b)
	a[0] ^= 0xff // caller mutates its input
	keys := k.Keys()
	keys[1][0] ^= 0xff // caller mutates the output
	got := k.Keys()
	if len(got) != 2 || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
		t.Fatal("Keys does not return copies of the keys, primary first")
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	k1, created, err := LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateFile: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateFile(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateFile: created=%v err=%v", created, err)
	}
	if k1.PrimaryID() != k2.PrimaryID() || !bytes.Equal(k1.Keys()[0], k2.Keys()[0]) {
		t.Fatal("reloaded keyring has a different key")
	}
	ct, _ := k1.Encrypt([]byte("s"), nil)
	if got, err := k2.Decrypt(ct, nil); err != nil || string(got) != "s" {
		t.Fatalf("reloaded keyring cannot decrypt: %v", err)
	}
}

func TestWriteFileLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	keys := [][]byte{Generate(), Generate(), Generate()}
	if err := WriteFile(path, keys...); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, keys[2], keys[0]); err != nil { // overwrite
		t.Fatal(err)
	}
	k, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := k.Keys()
	if len(got) != 2 || !bytes.Equal(got[0], keys[2]) || !bytes.Equal(got[1], keys[0]) {
		t.Fatal("LoadFile does not preserve WriteFile's order")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1 (temp file left behind?)", len(entries))
	}
	if err := WriteFile(path); err == nil {
		t.Error("WriteFile with no keys succeeded")
	}
}

func TestLoadFileBad(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(Generate())
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name    string
		content string
		wantErr string // substring
	}{
		{"empty", "", "no keys"},
		{"blank lines", "\n\n", "no keys"},
		{"not base64", good + "\nnot*base64!\n", "line 2"},
		{"unpadded", strings.TrimRight(good, "="), "line 1"},
		{"wrong length", good + "\n" + short + "\n", "line 2: key is 16 bytes"},
		{"duplicate", good + "\n" + good + "\n", "duplicates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadFile: err = %v, want containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "base64!") || strings.Contains(err.Error(), good) {
				t.Fatalf("error echoes file content: %v", err)
			}
		})
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadFile on a missing file succeeded")
	}
}
