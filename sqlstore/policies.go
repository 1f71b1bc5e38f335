package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/gatehouse/gatehouse"
)

func (r repos) PutPasswordPolicy(ctx context.Context, envID string, p *gatehouse.PasswordPolicy) (err error) {
	defer r.observed("PutPasswordPolicy")(&err)
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = r.q.ExecContext(ctx, `INSERT INTO password_policies (env_id, policy) VALUES ($1, $2)
		ON CONFLICT (env_id) DO UPDATE SET policy = excluded.policy`, envID, string(doc))
	return err
}

func (r repos) GetPasswordPolicy(ctx context.Context, envID string) (_ *gatehouse.PasswordPolicy, err error) {
	defer r.observed("GetPasswordPolicy")(&err)
	var doc string
	err = r.q.QueryRowContext(ctx, `SELECT policy FROM password_policies WHERE env_id = $1`, envID).Scan(&doc)
	if err != nil {
		return nil, notFound(err, "environment %q has no password policy", envID)
	}
	var p gatehouse.PasswordPolicy
	return &p, json.Unmarshal([]byte(doc), &p)
}

func (r repos) PutBranding(ctx context.Context, envID string, b *gatehouse.Branding) (err error) {
	defer r.observed("PutBranding")(&err)
	doc, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = r.q.ExecContext(ctx, `INSERT INTO branding (env_id, doc) VALUES ($1, $2)
		ON CONFLICT (env_id) DO UPDATE SET doc = excluded.doc`, envID, string(doc))
	return err
}

func (r repos) GetBranding(ctx context.Context, envID string) (_ *gatehouse.Branding, err error) {
	defer r.observed("GetBranding")(&err)
	var doc string
	err = r.q.QueryRowContext(ctx, `SELECT doc FROM branding WHERE env_id = $1`, envID).Scan(&doc)
	if err != nil {
		return nil, notFound(err, "environment %q has no branding", envID)
	}
	var b gatehouse.Branding
	return &b, json.Unmarshal([]byte(doc), &b)
}
