package sqlstore

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

func (r repos) CreateSigningKey(ctx context.Context, k *gatehouse.SigningKey) (err error) {
	defer r.observed("CreateSigningKey")(&err)
	_, err = r.exec(ctx, "signing key "+k.KID+" already exists",
		`INSERT INTO signing_keys (env_id, kid, algorithm, state, public_jwk, secret_name, created_on)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.EnvironmentID, k.KID, k.Algorithm, k.State, string(k.PublicJWK), k.SecretName, micros(k.CreatedOn))
	return err
}

func (r repos) ListSigningKeys(ctx context.Context, envID string) (_ []*gatehouse.SigningKey, err error) {
	defer r.observed("ListSigningKeys")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT env_id, kid, algorithm, state, public_jwk, secret_name, created_on
		FROM signing_keys WHERE env_id = $1 ORDER BY created_on DESC, kid`, envID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := []*gatehouse.SigningKey{}
	for rows.Next() {
		var k gatehouse.SigningKey
		var jwk string
		var created int64
		if err := rows.Scan(&k.EnvironmentID, &k.KID, &k.Algorithm, &k.State, &jwk, &k.SecretName, &created); err != nil {
			return nil, err
		}
		k.PublicJWK, k.CreatedOn = []byte(jwk), fromMicros(created)
		keys = append(keys, &k)
	}
	return keys, rows.Err()
}
