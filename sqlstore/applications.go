package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/gatehouse/gatehouse"
)

const applicationColumns = `env_id, id, client_id, name, type, redirect_uris, grant_types, roles,
	secret_hash, created_on, updated_on, settings`

// applicationValues are the columns of a, in applicationColumns order. Nil
// lists become empty ones, in a too, so that a reads back as it was written.
func applicationValues(a *gatehouse.Application) ([]any, error) {
	for _, l := range []*[]string{&a.RedirectURIs, &a.GrantTypes, &a.Roles, &a.PostLogoutRedirectURIs} {
		if *l == nil {
			*l = []string{}
		}
	}
	docs := make([]string, 4)
	for i, v := range []any{a.RedirectURIs, a.GrantTypes, a.Roles, a.ApplicationSettings} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		docs[i] = string(b)
	}
	return []any{a.EnvironmentID, a.ID, a.ClientID, a.Name, a.Type, docs[0], docs[1], docs[2],
		a.SecretHash, micros(a.CreatedOn), micros(a.UpdatedOn), docs[3]}, nil
}

func scanApplication(row interface{ Scan(...any) error }) (*gatehouse.Application, error) {
	var a gatehouse.Application
	var redirects, grants, roles, settings string
	var created, updated int64
	err := row.Scan(&a.EnvironmentID, &a.ID, &a.ClientID, &a.Name, &a.Type, &redirects, &grants,
		&roles, &a.SecretHash, &created, &updated, &settings)
	if err != nil {
		return nil, err
	}
	for _, d := range []struct {
		raw string
		to  any
	}{{redirects, &a.RedirectURIs}, {grants, &a.GrantTypes}, {roles, &a.Roles}, {settings, &a.ApplicationSettings}} {
		if err := json.Unmarshal([]byte(d.raw), d.to); err != nil {
			return nil, err
		}
	}
	a.CreatedOn, a.UpdatedOn = fromMicros(created), fromMicros(updated)
	return &a, nil
}

func (r repos) CreateApplication(ctx context.Context, a *gatehouse.Application) (err error) {
	defer r.observed("CreateApplication")(&err)
	values, err := applicationValues(a)
	if err != nil {
		return err
	}
	_, err = r.exec(ctx, "an application with client id "+a.ClientID+" already exists",
		`INSERT INTO applications (`+applicationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		values...)
	return err
}

func (r repos) GetApplication(ctx context.Context, envID, id string) (_ *gatehouse.Application, err error) {
	defer r.observed("GetApplication")(&err)
	a, err := scanApplication(r.q.QueryRowContext(ctx, `SELECT `+applicationColumns+` FROM applications
		WHERE env_id = $1 AND id = $2`, envID, id))
	return a, notFound(err, "application not found")
}

func (r repos) GetApplicationByClientID(ctx context.Context, envID, clientID string) (_ *gatehouse.Application, err error) {
	defer r.observed("GetApplicationByClientID")(&err)
	a, err := scanApplication(r.q.QueryRowContext(ctx, `SELECT `+applicationColumns+` FROM applications
		WHERE env_id = $1 AND client_id = $2`, envID, clientID))
	return a, notFound(err, "application not found")
}

func (r repos) ListApplications(ctx context.Context, envID string) (_ []*gatehouse.Application, err error) {
	defer r.observed("ListApplications")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT `+applicationColumns+` FROM applications WHERE env_id = $1 ORDER BY id`, envID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	apps := []*gatehouse.Application{}
	for rows.Next() {
		a, err := scanApplication(rows)
		if err != nil {
			return nil, err
		}
		apps = append(apps, a)
	}
	return apps, rows.Err()
}

func (r repos) UpdateApplication(ctx context.Context, a *gatehouse.Application) (err error) {
	defer r.observed("UpdateApplication")(&err)
	values, err := applicationValues(a)
	if err != nil {
		return err
	}
	return r.execOne(ctx, "application not found", `UPDATE applications SET client_id = $3, name = $4,
		type = $5, redirect_uris = $6, grant_types = $7, roles = $8, secret_hash = $9,
		created_on = $10, updated_on = $11, settings = $12 WHERE env_id = $1 AND id = $2`, values...)
}

func (r repos) DeleteApplication(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteApplication")(&err)
	return r.execOne(ctx, "application not found", `DELETE FROM applications WHERE env_id = $1 AND id = $2`, envID, id)
}
