package keyring

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateFile loads the keyring at path, or, if no file exists there,
// creates it with one generated key; created reports which happened.
func LoadOrCreateFile(path string) (k *Keyring, created bool, err error) {
	k, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	key := Generate()
	if err := WriteFile(path, key); err != nil {
		return nil, false, err
	}
	k, err = New(key)
	return k, err == nil, err
}

// LoadFile reads a keyring file: one standard padded base64 key per line,
// primary first. Blank lines are ignored. Errors name the offending line
// number but never its content.
func LoadFile(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, err := base64.StdEncoding.Strict().DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("keyring: %s line %d: not valid base64", path, n)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("keyring: %s line %d: key is %d bytes, want %d", path, n, len(key), KeySize)
		}
		keys = append(keys, key)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("keyring: %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keyring: %s contains no keys", path)
	}
	k, err := New(keys...)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// WriteFile atomically writes keys to path in the LoadFile format with mode
// 0600: it writes and syncs a temporary file in the same directory, renames
// it over path, then syncs the directory.
func WriteFile(path string, keys ...[]byte) error {
	if _, err := New(keys...); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, key := range keys {
		buf.WriteString(base64.StdEncoding.EncodeToString(key))
		buf.WriteByte('\n')
	}
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, "."+filepath.Base(path)+".tmp*", buf.Bytes())
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keyring: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyring: syncing %s: %w", dir, err)
	}
	return nil
}

// writeTemp writes data to a new mode-0600 file in dir, syncs and closes it,
// and returns its name. On error it removes the file.
func writeTemp(dir, pattern string, data []byte) (name string, err error) {
	f, err := os.CreateTemp(dir, pattern) // CreateTemp uses mode 0600
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}
