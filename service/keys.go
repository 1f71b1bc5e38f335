package service

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Signing-key rotation (DESIGN.md §4): a NEXT key is published in the JWKS
// well before it signs; it becomes CURRENT when the current one is old
// enough; the old one stays as PREVIOUS, verifying, until every token it
// signed has expired.
const (
	KeyRotationPeriod = 30 * 24 * time.Hour
	// KeyPublishLead is how long a NEXT key is in the JWKS before it may
	// sign, longer than any JWKS cache (max-age is a minute).
	KeyPublishLead = time.Hour
	// KeyRetireAfter outlives the longest access token an application may
	// set (7 days).
	KeyRetireAfter = 8 * 24 * time.Hour
)

// Audit actions of key rotation.
const (
	ActionKeyRotated = "SIGNING_KEY_ROTATED"
	ActionKeyRetired = "SIGNING_KEY_RETIRED"
)

// RotateSigningKeys brings an environment's keys up to date: a NEXT key
// exists; a CURRENT key past the rotation period gives way to a NEXT key
// published long enough; PREVIOUS keys past their retirement are removed.
// With force, the NEXT key takes over at once (after a suspected leak),
// made on the spot if there is none. It returns whether it rotated.
func (s *Service) RotateSigningKeys(ctx context.Context, actor Actor, envID string, force bool) (bool, error) {
	rotated := false
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		keys, err := r.ListSigningKeys(ctx, envID)
		if err != nil {
			return err
		}
		byAlg := map[string][]*gatehouse.SigningKey{}
		var algs []string
		for _, k := range keys {
			if byAlg[k.Algorithm] == nil {
				algs = append(algs, k.Algorithm)
			}
			byAlg[k.Algorithm] = append(byAlg[k.Algorithm], k)
		}
		if len(algs) == 0 {
			algs = []string{DefaultSigningAlgorithm}
		}
		for _, alg := range algs {
			did, err := s.rotateAlgorithm(ctx, r, actor, envID, alg, byAlg[alg], force)
			if err != nil {
				return err
			}
			rotated = rotated || did
		}
		return nil
	})
	s.cache.keys.forget(envID)
	s.cache.jwks.forget(envID)
	return rotated, err
}

// rotateAlgorithm rotates the keys of one algorithm.
func (s *Service) rotateAlgorithm(ctx context.Context, r gatehouse.Repositories, actor Actor, envID, alg string, keys []*gatehouse.SigningKey, force bool) (bool, error) {
	now := s.now()
	var current, next *gatehouse.SigningKey
	for _, k := range keys {
		switch k.State {
		case gatehouse.KeyCurrent:
			current = k
		case gatehouse.KeyNext:
			next = k
		case gatehouse.KeyPrevious:
			if now.Sub(k.StateChangedOn) >= KeyRetireAfter {
				if err := r.DeleteSigningKey(ctx, envID, k.KID); err != nil {
					return false, err
				}
				if err := s.audit(ctx, r, envID, actor, Change{Action: ActionKeyRetired, TargetType: "SIGNING_KEY", TargetID: k.KID}); err != nil {
					return false, err
				}
			}
		}
	}
	due := current == nil || now.Sub(current.StateChangedOn) >= KeyRotationPeriod
	var err error
	if next == nil {
		if next, err = s.publishNextKey(ctx, r, envID, alg); err != nil {
			return false, err
		}
	}
	if !(force || (due && now.Sub(next.CreatedOn) >= KeyPublishLead)) {
		return false, nil
	}
	if current != nil {
		if err := r.SetSigningKeyState(ctx, envID, current.KID, gatehouse.KeyPrevious, now); err != nil {
			return false, err
		}
	}
	if err := r.SetSigningKeyState(ctx, envID, next.KID, gatehouse.KeyCurrent, now); err != nil {
		return false, err
	}
	if _, err := s.publishNextKey(ctx, r, envID, alg); err != nil {
		return false, err
	}
	return true, s.audit(ctx, r, envID, actor, Change{Action: ActionKeyRotated, TargetType: "SIGNING_KEY", TargetID: next.KID,
		Details: map[string]string{"forced": boolText(force), "algorithm": alg}})
}

// ensureAlgorithmKeys gives an environment a current and a next key of an
// algorithm, the first time an application asks for it.
func (s *Service) ensureAlgorithmKeys(ctx context.Context, r gatehouse.Repositories, envID, alg string) error {
	keys, err := r.ListSigningKeys(ctx, envID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(keys, func(k *gatehouse.SigningKey) bool { return k.Algorithm == alg && k.State == gatehouse.KeyCurrent }) {
		return nil
	}
	current, secret, err := s.newSigningKey(envID, alg, gatehouse.KeyCurrent)
	if err != nil {
		return err
	}
	if err := r.PutSecret(ctx, secret); err != nil {
		return err
	}
	if err := r.CreateSigningKey(ctx, current); err != nil {
		return err
	}
	_, err = s.publishNextKey(ctx, r, envID, alg)
	s.cache.keys.forget(envID)
	s.cache.jwks.forget(envID)
	return err
}

// publishNextKey makes the key that will sign after the next rotation and
// publishes it in the JWKS from now on.
func (s *Service) publishNextKey(ctx context.Context, r gatehouse.Repositories, envID, alg string) (*gatehouse.SigningKey, error) {
	key, secret, err := s.newSigningKey(envID, alg, gatehouse.KeyNext)
	if err != nil {
		return nil, err
	}
	if err := r.PutSecret(ctx, secret); err != nil {
		return nil, err
	}
	return key, r.CreateSigningKey(ctx, key)
}

// RotateAllSigningKeys runs the rotation check on every environment.
func (s *Service) RotateAllSigningKeys(ctx context.Context) error {
	after := ""
	for {
		page, err := s.ListEnvironments(ctx, after, MaxPageSize)
		if err != nil {
			return err
		}
		for _, env := range page.Items {
			if _, err := s.RotateSigningKeys(ctx, OperatorActor(), env.ID, false); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		after = page.NextCursor
	}
}
