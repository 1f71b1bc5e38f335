package service

import (
	"context"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/keyring"
)

// aad binds a ciphertext to its row, so that a secret copied to another
// environment or name does not decrypt.
func aad(envID, name string) []byte { return []byte("gatehouse/" + envID + "/" + name) }

func (s *Service) seal(envID, name string, plaintext []byte) (*gatehouse.Secret, error) {
	ct, err := s.Keyring.Encrypt(plaintext, aad(envID, name))
	if err != nil {
		return nil, err
	}
	return &gatehouse.Secret{EnvironmentID: envID, Name: name, Ciphertext: ct}, nil
}

// OpenSecret decrypts one of an environment's secrets.
func (s *Service) OpenSecret(ctx context.Context, envID, name string) ([]byte, error) {
	sec, err := s.Store.GetSecret(ctx, envID, name)
	if err != nil {
		return nil, err
	}
	return s.Keyring.Decrypt(sec.Ciphertext, aad(envID, name))
}

// ReencryptSecrets decrypts every secret with from and encrypts it with to's
// primary key, in one transaction: either all secrets move to the new key or
// none does. It returns how many it re-encrypted.
func ReencryptSecrets(ctx context.Context, store gatehouse.Store, from, to *keyring.Keyring) (int, error) {
	n := 0
	err := store.InTx(ctx, func(r gatehouse.Repositories) error {
		all, err := r.ListSecrets(ctx)
		if err != nil {
			return err
		}
		for _, sec := range all {
			plain, err := from.Decrypt(sec.Ciphertext, aad(sec.EnvironmentID, sec.Name))
			if err != nil {
				return gatehouse.Errorf(gatehouse.EINVALID, "secret %s of environment %s: %v", sec.Name, sec.EnvironmentID, err)
			}
			if sec.Ciphertext, err = to.Encrypt(plain, aad(sec.EnvironmentID, sec.Name)); err != nil {
				return err
			}
			if err := r.PutSecret(ctx, sec); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
