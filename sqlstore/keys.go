package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

func (r repos) CreateSigningKey(ctx context.Context, k *gatehouse.SigningKey) (err error) {
	defer r.observed("CreateSigningKey")(&err)
	_, err = r.exec(ctx, "signing key "+k.KID+" already exists",
		`INSERT INTO signing_keys (env_id, kid, algorithm, state, public_jwk, secret_name, created_on, state_changed_on)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.EnvironmentID, k.KID, k.Algorithm, k.State, string(k.PublicJWK), k.SecretName, micros(k.CreatedOn), micros(stateChanged(k)))
	return err
}

func (r repos) ListSigningKeys(ctx context.Context, envID string) (_ []*gatehouse.SigningKey, err error) {
	defer r.observed("ListSigningKeys")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT env_id, kid, algorithm, state, public_jwk, secret_name, created_on,
		state_changed_on FROM signing_keys WHERE env_id = $1 ORDER BY created_on DESC, kid`, envID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := []*gatehouse.SigningKey{}
	for rows.Next() {
		var k gatehouse.SigningKey
		var jwk string
		var created, changed int64
		if err := rows.Scan(&k.EnvironmentID, &k.KID, &k.Algorithm, &k.State, &jwk, &k.SecretName, &created, &changed); err != nil {
			return nil, err
		}
		k.PublicJWK, k.CreatedOn, k.StateChangedOn = []byte(jwk), fromMicros(created), fromMicros(changed)
		keys = append(keys, &k)
	}
	return keys, rows.Err()
}

// stateChanged defaults a new key's state time to its creation.
func stateChanged(k *gatehouse.SigningKey) time.Time {
	if k.StateChangedOn.IsZero() {
		k.StateChangedOn = k.CreatedOn
	}
	return k.StateChangedOn
}

func (r repos) SetSigningKeyState(ctx context.Context, envID, kid, state string, at time.Time) (err error) {
	defer r.observed("SetSigningKeyState")(&err)
	return r.execOne(ctx, "signing key "+kid+" not found",
		`UPDATE signing_keys SET state = $3, state_changed_on = $4 WHERE env_id = $1 AND kid = $2`, envID, kid, state, micros(at))
}

func (r repos) DeleteSigningKey(ctx context.Context, envID, kid string) (err error) {
	defer r.observed("DeleteSigningKey")(&err)
	return r.atomically(ctx, func(r repos) error {
		var secret string
		if err := r.q.QueryRowContext(ctx, `SELECT secret_name FROM signing_keys WHERE env_id = $1 AND kid = $2`, envID, kid).Scan(&secret); err != nil {
			return notFound(err, "signing key %s not found", kid)
		}
		if _, err := r.q.ExecContext(ctx, `DELETE FROM signing_keys WHERE env_id = $1 AND kid = $2`, envID, kid); err != nil {
			return err
		}
		_, err := r.q.ExecContext(ctx, `DELETE FROM secrets WHERE env_id = $1 AND name = $2`, envID, secret)
		return err
	})
}
