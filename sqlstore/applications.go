package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/gatehouse/gatehouse"
)

const applicationColumns = `env_id, id, client_id, name, type, redirect_uris, grant_types, roles,
	secret_hash, created_on, updated_on`

func (r repos) CreateApplication(ctx context.Context, a *gatehouse.Application) (err error) {
	defer r.observed("CreateApplication")(&err)
	lists := make([][]byte, 3)
	for i, l := range [][]string{a.RedirectURIs, a.GrantTypes, a.Roles} {
		if l == nil {
			l = []string{}
		}
		if lists[i], err = json.Marshal(l); err != nil {
			return err
		}
	}
	_, err = r.exec(ctx, "an application with client id "+a.ClientID+" already exists",
		`INSERT INTO applications (`+applicationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.EnvironmentID, a.ID, a.ClientID, a.Name, a.Type, string(lists[0]), string(lists[1]),
		string(lists[2]), a.SecretHash, micros(a.CreatedOn), micros(a.UpdatedOn))
	return err
}

func (r repos) GetApplicationByClientID(ctx context.Context, envID, clientID string) (_ *gatehouse.Application, err error) {
	defer r.observed("GetApplicationByClientID")(&err)
	var a gatehouse.Application
	var redirects, grants, roles string
	var created, updated int64
	err = r.q.QueryRowContext(ctx, `SELECT `+applicationColumns+` FROM applications
		WHERE env_id = $1 AND client_id = $2`, envID, clientID).Scan(&a.EnvironmentID, &a.ID,
		&a.ClientID, &a.Name, &a.Type, &redirects, &grants, &roles, &a.SecretHash, &created, &updated)
	if err != nil {
		return nil, notFound(err, "application not found")
	}
	for _, l := range []struct {
		raw string
		to  *[]string
	}{{redirects, &a.RedirectURIs}, {grants, &a.GrantTypes}, {roles, &a.Roles}} {
		if err := json.Unmarshal([]byte(l.raw), l.to); err != nil {
			return nil, err
		}
	}
	a.CreatedOn, a.UpdatedOn = fromMicros(created), fromMicros(updated)
	return &a, nil
}
