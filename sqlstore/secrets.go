package sqlstore

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

func (r repos) PutSecret(ctx context.Context, s *gatehouse.Secret) (err error) {
	defer r.observed("PutSecret")(&err)
	_, err = r.q.ExecContext(ctx, `INSERT INTO secrets (env_id, name, ciphertext) VALUES ($1, $2, $3)
		ON CONFLICT (env_id, name) DO UPDATE SET ciphertext = excluded.ciphertext`,
		s.EnvironmentID, s.Name, s.Ciphertext)
	return err
}

func (r repos) GetSecret(ctx context.Context, envID, name string) (_ *gatehouse.Secret, err error) {
	defer r.observed("GetSecret")(&err)
	s := gatehouse.Secret{EnvironmentID: envID, Name: name}
	err = r.q.QueryRowContext(ctx, `SELECT ciphertext FROM secrets WHERE env_id = $1 AND name = $2`,
		envID, name).Scan(&s.Ciphertext)
	if err != nil {
		return nil, notFound(err, "secret %q not found", name)
	}
	return &s, nil
}

func (r repos) DeleteSecret(ctx context.Context, envID, name string) (err error) {
	defer r.observed("DeleteSecret")(&err)
	return r.execOne(ctx, "secret "+name+" not found", `DELETE FROM secrets WHERE env_id = $1 AND name = $2`, envID, name)
}

func (r repos) ListSecrets(ctx context.Context) (_ []*gatehouse.Secret, err error) {
	defer r.observed("ListSecrets")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT env_id, name, ciphertext FROM secrets ORDER BY env_id, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*gatehouse.Secret{}
	for rows.Next() {
		var s gatehouse.Secret
		if err := rows.Scan(&s.EnvironmentID, &s.Name, &s.Ciphertext); err != nil {
			return nil, err
		}
		list = append(list, &s)
	}
	return list, rows.Err()
}
