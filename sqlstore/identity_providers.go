package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse"
)

const identityProviderColumns = `env_id, id, name, type, settings, jit_provisioning, mfa_required, created_on, updated_on`

// idpSettings is the settings column: the one kind's settings the IdP has.
type idpSettings struct {
	OIDC     *gatehouse.OIDCSettings `json:"oidc,omitempty"`
	SAML     *gatehouse.SAMLSettings `json:"saml,omitempty"`
	JITRoles []string                `json:"jitRoles"`
}

func identityProviderValues(p *gatehouse.IdentityProvider) ([]any, error) {
	if p.JITRoles == nil {
		p.JITRoles = []string{}
	}
	settings, err := json.Marshal(idpSettings{OIDC: p.OIDC, SAML: p.SAML, JITRoles: p.JITRoles})
	if err != nil {
		return nil, err
	}
	return []any{p.EnvironmentID, p.ID, p.Name, p.Type, string(settings), p.JITProvisioning, p.MFARequired,
		micros(p.CreatedOn), micros(p.UpdatedOn)}, nil
}

func scanIdentityProvider(row interface{ Scan(...any) error }) (*gatehouse.IdentityProvider, error) {
	var p gatehouse.IdentityProvider
	var settings string
	var created, updated int64
	if err := row.Scan(&p.EnvironmentID, &p.ID, &p.Name, &p.Type, &settings, &p.JITProvisioning, &p.MFARequired,
		&created, &updated); err != nil {
		return nil, err
	}
	var s idpSettings
	if err := json.Unmarshal([]byte(settings), &s); err != nil {
		return nil, err
	}
	p.OIDC, p.SAML, p.JITRoles = s.OIDC, s.SAML, s.JITRoles
	if p.JITRoles == nil {
		p.JITRoles = []string{}
	}
	p.CreatedOn, p.UpdatedOn = fromMicros(created), fromMicros(updated)
	return &p, nil
}

func (r repos) CreateIdentityProvider(ctx context.Context, p *gatehouse.IdentityProvider) (err error) {
	defer r.observed("CreateIdentityProvider")(&err)
	values, err := identityProviderValues(p)
	if err != nil {
		return err
	}
	_, err = r.exec(ctx, "an identity provider with id "+p.ID+" already exists",
		`INSERT INTO identity_providers (`+identityProviderColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, values...)
	return err
}

func (r repos) GetIdentityProvider(ctx context.Context, envID, id string) (_ *gatehouse.IdentityProvider, err error) {
	defer r.observed("GetIdentityProvider")(&err)
	p, err := scanIdentityProvider(r.q.QueryRowContext(ctx, `SELECT `+identityProviderColumns+` FROM identity_providers
		WHERE env_id = $1 AND id = $2`, envID, id))
	return p, notFound(err, "identity provider not found")
}

func (r repos) ListIdentityProviders(ctx context.Context, envID string) (_ []*gatehouse.IdentityProvider, err error) {
	defer r.observed("ListIdentityProviders")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT `+identityProviderColumns+` FROM identity_providers
		WHERE env_id = $1 ORDER BY id`, envID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*gatehouse.IdentityProvider{}
	for rows.Next() {
		p, err := scanIdentityProvider(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, p)
	}
	return list, rows.Err()
}

func (r repos) UpdateIdentityProvider(ctx context.Context, p *gatehouse.IdentityProvider) (err error) {
	defer r.observed("UpdateIdentityProvider")(&err)
	values, err := identityProviderValues(p)
	if err != nil {
		return err
	}
	return r.execOne(ctx, "identity provider not found", `UPDATE identity_providers SET name = $3, type = $4,
		settings = $5, jit_provisioning = $6, mfa_required = $7, created_on = $8, updated_on = $9
		WHERE env_id = $1 AND id = $2`, values...)
}

func (r repos) DeleteIdentityProvider(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteIdentityProvider")(&err)
	return r.atomically(ctx, func(r repos) error {
		var users, rules int
		if err := r.q.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM users WHERE env_id = $1 AND identity_provider = $2),
			(SELECT COUNT(*) FROM discovery_rules WHERE env_id = $1 AND idp_id = $2)`, envID, id).Scan(&users, &rules); err != nil {
			return err
		}
		if users > 0 || rules > 0 {
			return gatehouse.Errorf(gatehouse.ECONFLICT,
				"the identity provider is still in use by %d users and %d discovery rules: move or delete them first", users, rules)
		}
		if err := r.execOne(ctx, "identity provider not found",
			`DELETE FROM identity_providers WHERE env_id = $1 AND id = $2`, envID, id); err != nil {
			return err
		}
		_, err := r.q.ExecContext(ctx, `DELETE FROM used_assertions WHERE env_id = $1 AND idp_id = $2`, envID, id)
		return err
	})
}

const discoveryRuleColumns = `env_id, id, ord, email_domain, pattern, idp_id, created_on, updated_on`

func scanDiscoveryRule(row interface{ Scan(...any) error }) (*gatehouse.DiscoveryRule, error) {
	var d gatehouse.DiscoveryRule
	var created, updated int64
	if err := row.Scan(&d.EnvironmentID, &d.ID, &d.Order, &d.EmailDomain, &d.Pattern, &d.IdentityProviderID,
		&created, &updated); err != nil {
		return nil, err
	}
	d.CreatedOn, d.UpdatedOn = fromMicros(created), fromMicros(updated)
	return &d, nil
}

func discoveryRuleValues(d *gatehouse.DiscoveryRule) []any {
	return []any{d.EnvironmentID, d.ID, d.Order, d.EmailDomain, d.Pattern, d.IdentityProviderID,
		micros(d.CreatedOn), micros(d.UpdatedOn)}
}

// ruleIdentityProviderExists keeps a rule from naming an IdP of another
// environment, or none: the foreign key would say so too, but not clearly.
func (r repos) ruleIdentityProviderExists(ctx context.Context, d *gatehouse.DiscoveryRule) error {
	var n int
	if err := r.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_providers WHERE env_id = $1 AND id = $2`,
		d.EnvironmentID, d.IdentityProviderID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return gatehouse.Errorf(gatehouse.EINVALID, "identityProviderId: no identity provider %q in this environment", d.IdentityProviderID)
	}
	return nil
}

func (r repos) CreateDiscoveryRule(ctx context.Context, d *gatehouse.DiscoveryRule) (err error) {
	defer r.observed("CreateDiscoveryRule")(&err)
	return r.atomically(ctx, func(r repos) error {
		if err := r.ruleIdentityProviderExists(ctx, d); err != nil {
			return err
		}
		_, err := r.exec(ctx, "a discovery rule with id "+d.ID+" already exists",
			`INSERT INTO discovery_rules (`+discoveryRuleColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			discoveryRuleValues(d)...)
		return err
	})
}

func (r repos) GetDiscoveryRule(ctx context.Context, envID, id string) (_ *gatehouse.DiscoveryRule, err error) {
	defer r.observed("GetDiscoveryRule")(&err)
	d, err := scanDiscoveryRule(r.q.QueryRowContext(ctx, `SELECT `+discoveryRuleColumns+` FROM discovery_rules
		WHERE env_id = $1 AND id = $2`, envID, id))
	return d, notFound(err, "discovery rule not found")
}

func (r repos) ListDiscoveryRules(ctx context.Context, envID string) (_ []*gatehouse.DiscoveryRule, err error) {
	defer r.observed("ListDiscoveryRules")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT `+discoveryRuleColumns+` FROM discovery_rules
		WHERE env_id = $1 ORDER BY ord, id`, envID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*gatehouse.DiscoveryRule{}
	for rows.Next() {
		d, err := scanDiscoveryRule(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, d)
	}
	return list, rows.Err()
}

func (r repos) UpdateDiscoveryRule(ctx context.Context, d *gatehouse.DiscoveryRule) (err error) {
	defer r.observed("UpdateDiscoveryRule")(&err)
	return r.atomically(ctx, func(r repos) error {
		if err := r.ruleIdentityProviderExists(ctx, d); err != nil {
			return err
		}
		return r.execOne(ctx, "discovery rule not found", `UPDATE discovery_rules SET ord = $3, email_domain = $4,
			pattern = $5, idp_id = $6, created_on = $7, updated_on = $8 WHERE env_id = $1 AND id = $2`,
			discoveryRuleValues(d)...)
	})
}

func (r repos) DeleteDiscoveryRule(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteDiscoveryRule")(&err)
	return r.execOne(ctx, "discovery rule not found", `DELETE FROM discovery_rules WHERE env_id = $1 AND id = $2`, envID, id)
}

func (r repos) UseAssertion(ctx context.Context, a *gatehouse.UsedAssertion) (err error) {
	defer r.observed("UseAssertion")(&err)
	_, err = r.exec(ctx, "this assertion was already used", `INSERT INTO used_assertions (env_id, idp_id, id, expires_at)
		VALUES ($1, $2, $3, $4)`, a.EnvironmentID, a.IdentityProviderID, a.ID, micros(a.ExpiresAt))
	return err
}

func (r repos) GetUserByIdentity(ctx context.Context, envID, idpID, subject string) (_ *gatehouse.User, err error) {
	defer r.observed("GetUserByIdentity")(&err)
	var userID string
	err = r.q.QueryRowContext(ctx, `SELECT i.user_id FROM user_identities i
		JOIN users u ON u.env_id = i.env_id AND u.id = i.user_id
		WHERE i.env_id = $1 AND i.idp_id = $2 AND i.subject = $3 AND u.identity_provider = $2`,
		envID, idpID, subject).Scan(&userID)
	if err != nil {
		return nil, notFound(err, "no user is linked to this identity")
	}
	return r.GetUser(ctx, envID, userID)
}

func (r repos) LinkIdentity(ctx context.Context, envID, userID, subject string) (err error) {
	defer r.observed("LinkIdentity")(&err)
	return r.atomically(ctx, func(r repos) error {
		var idpID string
		err := r.q.QueryRowContext(ctx, `SELECT identity_provider FROM users WHERE env_id = $1 AND id = $2`,
			envID, userID).Scan(&idpID)
		if err != nil {
			return notFound(err, "user not found")
		}
		// A link left by a user who has since moved to another IdP no
		// longer stands for anyone.
		if _, err := r.q.ExecContext(ctx, `DELETE FROM user_identities WHERE env_id = $1 AND
			((user_id = $2 AND idp_id <> $3) OR (idp_id = $3 AND subject = $4 AND user_id NOT IN
				(SELECT id FROM users WHERE env_id = $1 AND identity_provider = $3)))`, envID, userID, idpID, subject); err != nil {
			return err
		}
		var linked string
		err = r.q.QueryRowContext(ctx, `SELECT subject FROM user_identities WHERE env_id = $1 AND user_id = $2`,
			envID, userID).Scan(&linked)
		switch {
		case err == nil && linked == subject:
			return nil
		case err == nil:
			return gatehouse.Errorf(gatehouse.ECONFLICT, "the user is already linked to another identity at this identity provider")
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = r.exec(ctx, "this identity is already linked to another user", `INSERT INTO user_identities
			(env_id, user_id, idp_id, subject, linked_on) VALUES ($1, $2, $3, $4, $5)`,
			envID, userID, idpID, subject, micros(time.Now()))
		return err
	})
}
