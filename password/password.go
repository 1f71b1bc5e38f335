// Package password hashes local passwords with argon2id (m=19 MiB, t=2, p=1)
// and verifies hashes imported from other systems (argon2id, argon2i, bcrypt,
// passlib and Django PBKDF2), reporting when a hash should be replaced.
//
// Hash computations are capped process-wide at runtime.GOMAXPROCS(0) at a
// time, so a burst of logins queues instead of exhausting memory.
package password

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Current argon2id parameters for new hashes.
const (
	memoryKiB = 19456
	timeCost  = 2
	threads   = 1
	saltLen   = 16
	keyLen    = 32
)

// Limits on imported hashes, so that a hash cannot be used for denial of service.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 20
	maxArgonThreads   = 16
	maxPBKDF2Iter     = 10_000_000
	maxBcryptCost     = 16
	minKeyLen         = 16
	maxArgonKeyLen    = 128
)

// ErrBusy is returned (wrapped) by Hash and Verify when ctx ends while waiting
// for a hashing slot.
var ErrBusy = errors.New("password: too many concurrent password hash computations")

var errUnsupported = errors.New("unsupported password hash format")

var slots = make(chan struct{}, runtime.GOMAXPROCS(0))

// Slots reports how many hashing slots are in use and how many exist.
func Slots() (inUse, capacity int) {
	return len(slots), cap(slots)
}

func acquire(ctx context.Context) error {
	select {
	case slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
	}
}

func release() { <-slots }

// Hash returns the argon2id PHC string for plain under the current parameters:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func Hash(ctx context.Context, plain string) (string, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never returns an error; crashes the program on failure
	if err := acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(plain), salt, timeCost, memoryKiB, threads, keyLen)
	release()
	return encodeArgon2id(salt, key), nil
}

func encodeArgon2id(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, memoryKiB, timeCost, threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether plain matches encoded, and whether encoded should be
// replaced by Hash(plain) because it uses another algorithm or other
// parameters. needsRehash is meaningful only when ok is true. Errors never
// include the encoded hash.
func Verify(ctx context.Context, plain, encoded string) (ok, needsRehash bool, err error) {
	h, err := parse(encoded)
	if err != nil {
		return false, false, err
	}
	if err := acquire(ctx); err != nil {
		return false, false, err
	}
	ok, err = h.verify([]byte(plain))
	release()
	if err != nil {
		return false, false, err
	}
	return ok, ok && h.needsRehash, nil
}

// dummyHash is a current-parameter argon2id hash that no password matches
// (its key is random, not derived).
var dummyHash = encodeArgon2id(randomBytes(saltLen), randomBytes(keyLen))

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// VerifyDummy does the same work as a failed Verify against a current hash,
// for unknown users, so timing does not reveal whether a user exists.
func VerifyDummy(ctx context.Context, plain string) {
	_, _, _ = Verify(ctx, plain, dummyHash)
}

// parsed is a decoded hash; verify does the expensive work.
type parsed struct {
	needsRehash bool
	verify      func(plain []byte) (bool, error)
}

var errNotNumber = errors.New("not a number")

func parse(encoded string) (*parsed, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"), strings.HasPrefix(encoded, "$argon2i$"):
		return parseArgon2(encoded)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		return parseBcrypt(encoded)
	case strings.HasPrefix(encoded, "$pbkdf2-sha256$"), strings.HasPrefix(encoded, "$pbkdf2-sha512$"):
		return parsePasslibPBKDF2(encoded)
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		return parseDjangoPBKDF2(encoded)
	}
	return nil, errUnsupported
}

func parseArgon2(encoded string) (*parsed, error) {
	bad := errors.New("password: malformed argon2 hash")
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return nil, bad
	}
	var m, t, p uint64
	params := map[string]*uint64{"m": &m, "t": &t, "p": &p}
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, _ := strings.Cut(kv, "=")
		dst, ok := params[name]
		if !ok {
			return nil, bad
		}
		delete(params, name) // each parameter once
		n, err := parseUint(value)
		if err != nil {
			return nil, bad
		}
		*dst = n
	}
	if len(params) != 0 || m == 0 || t == 0 || p == 0 {
		return nil, bad
	}
	if m > maxArgonMemoryKiB || t > maxArgonTime || p > maxArgonThreads {
		return nil, errors.New("password: argon2 hash parameters exceed limits")
	}
	salt, err1 := decodePHC(parts[4])
	key, err2 := decodePHC(parts[5])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(key) < minKeyLen || len(key) > maxArgonKeyLen {
		return nil, bad
	}
	kdf := argon2.IDKey
	if parts[1] == "argon2i" {
		kdf = argon2.Key
	}
	return &parsed{
		needsRehash: parts[1] != "argon2id" || m != memoryKiB || t != timeCost || p != threads ||
			len(salt) != saltLen || len(key) != keyLen,
		verify: func(plain []byte) (bool, error) {
			got := kdf(plain, salt, uint32(t), uint32(m), uint8(p), uint32(len(key)))
			return subtle.ConstantTimeCompare(got, key) == 1, nil
		},
	}, nil
}

// decodePHC decodes PHC base64: standard alphabet, padding omitted (tolerated).
func decodePHC(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func parseBcrypt(encoded string) (*parsed, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return nil, errors.New("password: malformed bcrypt hash")
	}
	if cost > maxBcryptCost {
		return nil, errors.New("password: bcrypt hash cost exceeds limits")
	}
	return &parsed{
		needsRehash: true,
		verify: func(plain []byte) (bool, error) { // compares in constant time
			switch err := bcrypt.CompareHashAndPassword([]byte(encoded), plain); {
			case err == nil:
				return true, nil
			case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
				return false, nil
			default:
				return false, errors.New("password: malformed bcrypt hash")
			}
		},
	}, nil
}

// parsePasslibPBKDF2 parses $pbkdf2-sha256$<iter>$<salt>$<hash> where salt and
// hash use passlib's adapted base64 ('.' for '+', no padding).
func parsePasslibPBKDF2(encoded string) (*parsed, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 {
		return nil, errors.New("password: malformed pbkdf2 hash")
	}
	ab64 := func(s string) ([]byte, error) {
		return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(strings.TrimRight(s, "="), ".", "+"))
	}
	salt, err1 := ab64(parts[3])
	key, err2 := ab64(parts[4])
	if err1 != nil || err2 != nil {
		return nil, errors.New("password: malformed pbkdf2 hash")
	}
	if parts[1] == "pbkdf2-sha512" {
		return newPBKDF2(sha512.New, parts[2], salt, key)
	}
	return newPBKDF2(sha256.New, parts[2], salt, key)
}

// parseDjangoPBKDF2 parses pbkdf2_sha256$<iter>$<salt text>$<std base64 hash>.
func parseDjangoPBKDF2(encoded string) (*parsed, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return nil, errors.New("password: malformed pbkdf2 hash")
	}
	key, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return nil, errors.New("password: malformed pbkdf2 hash")
	}
	return newPBKDF2(sha256.New, parts[1], []byte(parts[2]), key)
}

func newPBKDF2(h func() hash.Hash, iterText string, salt, key []byte) (*parsed, error) {
	iter, err := parseUint(iterText)
	if err != nil || iter == 0 || len(key) < minKeyLen || len(key) > h().Size() {
		return nil, errors.New("password: malformed pbkdf2 hash")
	}
	if iter > maxPBKDF2Iter {
		return nil, errors.New("password: pbkdf2 hash iteration count exceeds limits")
	}
	return &parsed{
		needsRehash: true,
		verify: func(plain []byte) (bool, error) {
			got, err := pbkdf2.Key(h, string(plain), salt, int(iter), len(key))
			if err != nil {
				return false, fmt.Errorf("password: pbkdf2: %w", err)
			}
			return subtle.ConstantTimeCompare(got, key) == 1, nil
		},
	}, nil
}

// parseUint parses a decimal of at most 9 digits (no sign, no spaces).
func parseUint(s string) (uint64, error) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, errNotNumber
	}
	return strconv.ParseUint(s, 10, 64)
}

// generateAlphabet omits the look-alikes 0 O o 1 l I.
const (
	generateUpper    = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	generateLower    = "abcdefghijkmnpqrstuvwxyz"
	generateDigits   = "23456789"
	generateAlphabet = generateUpper + generateLower + generateDigits
	generateLen      = 20
)

// Generate returns a temporary password: 20 characters chosen uniformly from
// an alphabet without look-alikes (no 0 O o 1 l I), containing at least one
// upper-case letter, one lower-case letter and one digit.
func Generate() string {
	const limit = 256 - 256%len(generateAlphabet) // reject bytes that would bias the choice
	buf := make([]byte, 64)
	for {
		p := make([]byte, 0, generateLen)
		for len(p) < generateLen {
			rand.Read(buf)
			for _, b := range buf {
				if int(b) < limit && len(p) < generateLen {
					p = append(p, generateAlphabet[int(b)%len(generateAlphabet)])
				}
			}
		}
		s := string(p)
		if strings.ContainsAny(s, generateUpper) && strings.ContainsAny(s, generateLower) && strings.ContainsAny(s, generateDigits) {
			return s
		}
	}
}
