// Package keyring encrypts secrets at rest with AES-256-GCM under
// key-encryption keys (KEKs). The first key of a Keyring is the primary and
// encrypts; every key decrypts, so keys can be rotated by prepending a new one.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length in bytes of a key-encryption key.
const KeySize = 32

const (
	version   = 1
	idSize    = 4
	nonceSize = 12
	headerLen = 1 + idSize + nonceSize
)

var (
	errMalformed = errors.New("secret is malformed")
	errAuth      = errors.New("secret could not be decrypted: authentication failed")
)

// Keyring holds key-encryption keys (32 bytes each); the first is primary and
// encrypts, all decrypt. A Keyring is immutable and safe for concurrent use.
type Keyring struct {
	keys  [][]byte
	aeads map[uint32]cipher.AEAD
	ids   []uint32
}

// New returns a Keyring whose primary key is keys[0]. It returns an error if
// no key is given, a key is not 32 bytes, or a key (or key id) repeats.
func New(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no key-encryption keys configured")
	}
	k := &Keyring{aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("keyring: key %d is %d bytes, want %d", i+1, len(key), KeySize)
		}
		id := keyID(key)
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("keyring: key %d duplicates key id %08x", i+1, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", i+1, err)
		}
		k.aeads[id] = aead
		k.ids = append(k.ids, id)
		k.keys = append(k.keys, bytes.Clone(key))
	}
	return k, nil
}

// Generate returns a new random 32-byte key-encryption key.
func Generate() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never returns an error; crashes the program on failure
	return key
}

// KeyID returns the id of key: the first 4 bytes of its SHA-256, as 8 hex chars.
func KeyID(key []byte) string {
	return fmt.Sprintf("%08x", keyID(key))
}

func keyID(key []byte) uint32 {
	sum := sha256.Sum256(key)
	return binary.BigEndian.Uint32(sum[:idSize])
}

// PrimaryID returns the id of the primary key.
func (k *Keyring) PrimaryID() string {
	return fmt.Sprintf("%08x", k.ids[0])
}

// Has reports whether the key with id keyID is in the keyring.
func (k *Keyring) Has(keyID string) bool {
	b, err := hex.DecodeString(keyID)
	if err != nil || len(b) != idSize {
		return false
	}
	_, ok := k.aeads[binary.BigEndian.Uint32(b)]
	return ok
}

// Keys returns copies of the keys, primary first.
func (k *Keyring) Keys() [][]byte {
	out := make([][]byte, len(k.keys))
	for i, key := range k.keys {
		out[i] = bytes.Clone(key)
	}
	return out
}

// Encrypt seals plaintext under the primary key, authenticating aad too.
// The result is: version byte (1) | 4-byte key id | 12-byte nonce | GCM output.
func (k *Keyring) Encrypt(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerLen, headerLen+len(plaintext)+16)
	out[0] = version
	binary.BigEndian.PutUint32(out[1:], k.ids[0])
	if _, err := rand.Read(out[1+idSize : headerLen]); err != nil {
		return nil, fmt.Errorf("keyring: reading nonce: %w", err)
	}
	return k.aeads[k.ids[0]].Seal(out, out[1+idSize:headerLen], plaintext, aad), nil
}

// Decrypt opens ciphertext produced by Encrypt with the same aad, using
// whichever configured key encrypted it.
func (k *Keyring) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	id, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("secret was encrypted under key-encryption key %08x, which is not configured", id)
	}
	if len(ciphertext) < headerLen+aead.Overhead() {
		return nil, errMalformed
	}
	plain, err := aead.Open(nil, ciphertext[1+idSize:headerLen], ciphertext[headerLen:], aad)
	if err != nil {
		return nil, errAuth
	}
	return plain, nil
}

// KeyIDOf returns the id of the key that encrypted ciphertext, which need not
// be in the keyring (useful to find secrets still under a retired key).
func (k *Keyring) KeyIDOf(ciphertext []byte) (string, error) {
	id, err := parseHeader(ciphertext)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x", id), nil
}

func parseHeader(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < headerLen || ciphertext[0] != version {
		return 0, errMalformed
	}
	return binary.BigEndian.Uint32(ciphertext[1:]), nil
}
