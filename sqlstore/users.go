package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/gatehouse/gatehouse"
)

const userColumns = `env_id, id, ref, username, title, first_name, last_name, primary_email,
	primary_phone, type, status, timezone, language, department, country, promotion_opt_in,
	primary_retailer, primary_location, attributes, identity_provider, password_state,
	password_hash, password_changed_on, created_on, updated_on, last_sign_on`

func scanUser(row interface{ Scan(...any) error }) (*gatehouse.User, error) {
	var u gatehouse.User
	var ref sql.NullString
	var attributes string
	var created, updated int64
	var changed, lastSignOn sql.NullInt64
	err := row.Scan(&u.EnvironmentID, &u.ID, &ref, &u.Username, &u.Title, &u.FirstName, &u.LastName,
		&u.PrimaryEmail, &u.PrimaryPhone, &u.Type, &u.Status, &u.Timezone, &u.Language,
		&u.Department, &u.Country, &u.PromotionOptIn, &u.PrimaryRetailer, &u.PrimaryLocation,
		&attributes, &u.IdentityProvider, &u.PasswordState, &u.PasswordHash, &changed,
		&created, &updated, &lastSignOn)
	if err != nil {
		return nil, err
	}
	u.Ref = ref.String
	if err := json.Unmarshal([]byte(attributes), &u.Attributes); err != nil {
		return nil, err
	}
	u.PasswordChangedOn = fromNullMicros(changed)
	u.CreatedOn, u.UpdatedOn = fromMicros(created), fromMicros(updated)
	u.LastSignOn = fromNullMicros(lastSignOn)
	return &u, nil
}

func (r repos) CreateUser(ctx context.Context, u *gatehouse.User) (err error) {
	defer r.observed("CreateUser")(&err)
	if u.Attributes == nil {
		u.Attributes = []gatehouse.Attribute{}
	}
	if u.Roles == nil {
		u.Roles = []gatehouse.RoleAssignment{}
	}
	attributes, err := json.Marshal(u.Attributes)
	if err != nil {
		return err
	}
	_, err = r.exec(ctx, "a user with username "+u.Username+" or ref "+u.Ref+" already exists",
		`INSERT INTO users (`+userColumns+`, username_lower) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
		 $20, $21, $22, $23, $24, $25, $26, $27)`,
		u.EnvironmentID, u.ID, nullString(u.Ref), u.Username, u.Title, u.FirstName, u.LastName,
		u.PrimaryEmail, u.PrimaryPhone, u.Type, u.Status, u.Timezone, u.Language, u.Department,
		u.Country, u.PromotionOptIn, u.PrimaryRetailer, u.PrimaryLocation, string(attributes),
		u.IdentityProvider, u.PasswordState, u.PasswordHash, microsPtr(u.PasswordChangedOn),
		micros(u.CreatedOn), micros(u.UpdatedOn), microsPtr(u.LastSignOn),
		gatehouse.NormalizeUsername(u.Username))
	if err != nil {
		return err
	}
	return r.putRoles(ctx, u)
}

func (r repos) putRoles(ctx context.Context, u *gatehouse.User) error {
	for _, a := range u.Roles {
		var ctxType, ctxID string
		if a.Context != nil {
			ctxType, ctxID = a.Context.Type, a.Context.ID
		}
		if _, err := r.exec(ctx, "role "+a.Role+" is assigned twice in the same context",
			`INSERT INTO user_roles (env_id, user_id, role, context_type, context_id) VALUES ($1, $2, $3, $4, $5)`,
			u.EnvironmentID, u.ID, a.Role, ctxType, ctxID); err != nil {
			return err
		}
	}
	return nil
}

func (r repos) loadRoles(ctx context.Context, u *gatehouse.User) error {
	rows, err := r.q.QueryContext(ctx, `SELECT role, context_type, context_id FROM user_roles
		WHERE env_id = $1 AND user_id = $2 ORDER BY role, context_type, context_id`, u.EnvironmentID, u.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	u.Roles = []gatehouse.RoleAssignment{}
	for rows.Next() {
		var a gatehouse.RoleAssignment
		var ctxType, ctxID string
		if err := rows.Scan(&a.Role, &ctxType, &ctxID); err != nil {
			return err
		}
		if ctxType != "" || ctxID != "" {
			a.Context = &gatehouse.RoleContext{Type: ctxType, ID: ctxID}
		}
		u.Roles = append(u.Roles, a)
	}
	return rows.Err()
}

func (r repos) getUser(ctx context.Context, where string, args ...any) (*gatehouse.User, error) {
	u, err := scanUser(r.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, args...))
	if err != nil {
		return nil, notFound(err, "user not found")
	}
	return u, r.loadRoles(ctx, u)
}

func (r repos) GetUser(ctx context.Context, envID, id string) (_ *gatehouse.User, err error) {
	defer r.observed("GetUser")(&err)
	return r.getUser(ctx, `env_id = $1 AND id = $2`, envID, id)
}

func (r repos) GetUserByUsername(ctx context.Context, envID, username string) (_ *gatehouse.User, err error) {
	defer r.observed("GetUserByUsername")(&err)
	return r.getUser(ctx, `env_id = $1 AND username_lower = $2`, envID, gatehouse.NormalizeUsername(username))
}
