package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

const userColumns = `env_id, id, ref, username, title, first_name, last_name, primary_email,
	primary_phone, type, status, timezone, language, department, country, promotion_opt_in,
	primary_retailer, primary_location, attributes, identity_provider, password_state,
	password_hash, password_changed_on, created_on, updated_on, last_sign_on, locked_until,
	failed_attempts`

func scanUser(row interface{ Scan(...any) error }) (*gatehouse.User, error) {
	var u gatehouse.User
	var ref sql.NullString
	var attributes string
	var created, updated int64
	var changed, lastSignOn, lockedUntil sql.NullInt64
	err := row.Scan(&u.EnvironmentID, &u.ID, &ref, &u.Username, &u.Title, &u.FirstName, &u.LastName,
		&u.PrimaryEmail, &u.PrimaryPhone, &u.Type, &u.Status, &u.Timezone, &u.Language,
		&u.Department, &u.Country, &u.PromotionOptIn, &u.PrimaryRetailer, &u.PrimaryLocation,
		&attributes, &u.IdentityProvider, &u.PasswordState, &u.PasswordHash, &changed,
		&created, &updated, &lastSignOn, &lockedUntil, &u.FailedAttempts)
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
	u.LockedUntil = fromNullMicros(lockedUntil)
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
	return r.atomically(ctx, func(r repos) error { return r.createUser(ctx, u, string(attributes)) })
}

func (r repos) createUser(ctx context.Context, u *gatehouse.User, attributes string) error {
	_, err := r.exec(ctx, conflictMessage(u),
		`INSERT INTO users (`+userColumns+`, username_lower, primary_email_lower, first_name_lower,
		last_name_lower) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
		 $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)`,
		userValues(u, attributes)...)
	if err != nil {
		return err
	}
	return r.putRoles(ctx, u)
}

func conflictMessage(u *gatehouse.User) string {
	if u.Ref != "" {
		return "a user with username " + u.Username + " or ref " + u.Ref + " already exists"
	}
	return "a user with username " + u.Username + " already exists"
}

// userValues are the user's columns in userColumns order, then the
// normalised lookup columns.
func userValues(u *gatehouse.User, attributes string) []any {
	return []any{u.EnvironmentID, u.ID, nullString(u.Ref), u.Username, u.Title, u.FirstName, u.LastName,
		u.PrimaryEmail, u.PrimaryPhone, u.Type, u.Status, u.Timezone, u.Language, u.Department,
		u.Country, u.PromotionOptIn, u.PrimaryRetailer, u.PrimaryLocation, attributes,
		u.IdentityProvider, u.PasswordState, u.PasswordHash, microsPtr(u.PasswordChangedOn),
		micros(u.CreatedOn), micros(u.UpdatedOn), microsPtr(u.LastSignOn), microsPtr(u.LockedUntil),
		u.FailedAttempts, gatehouse.NormalizeUsername(u.Username), strings.ToLower(u.PrimaryEmail),
		strings.ToLower(u.FirstName), strings.ToLower(u.LastName)}
}

func (r repos) UpdateUser(ctx context.Context, u *gatehouse.User) (err error) {
	defer r.observed("UpdateUser")(&err)
	if u.Attributes == nil {
		u.Attributes = []gatehouse.Attribute{}
	}
	attributes, err := json.Marshal(u.Attributes)
	if err != nil {
		return err
	}
	return r.atomically(ctx, func(r repos) error { return r.updateUser(ctx, u, string(attributes)) })
}

func (r repos) updateUser(ctx context.Context, u *gatehouse.User, attributes string) error {
	res, err := r.exec(ctx, conflictMessage(u), `UPDATE users SET ref = $3, username = $4, title = $5,
		first_name = $6, last_name = $7, primary_email = $8, primary_phone = $9, type = $10,
		status = $11, timezone = $12, language = $13, department = $14, country = $15,
		promotion_opt_in = $16, primary_retailer = $17, primary_location = $18, attributes = $19,
		identity_provider = $20, password_state = $21, password_hash = $22,
		password_changed_on = $23, created_on = $24, updated_on = $25, last_sign_on = $26,
		locked_until = $27, failed_attempts = $28, username_lower = $29, primary_email_lower = $30,
		first_name_lower = $31, last_name_lower = $32 WHERE env_id = $1 AND id = $2`, userValues(u, attributes)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "user not found")
	}
	if _, err := r.q.ExecContext(ctx, `DELETE FROM user_roles WHERE env_id = $1 AND user_id = $2`, u.EnvironmentID, u.ID); err != nil {
		return err
	}
	return r.putRoles(ctx, u)
}

func (r repos) DeleteUser(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteUser")(&err)
	return r.execOne(ctx, "user not found", `DELETE FROM users WHERE env_id = $1 AND id = $2`, envID, id)
}

func (r repos) RegisterFailedAttempt(ctx context.Context, envID, id string, limit int, lockUntil time.Time) (n int, err error) {
	defer r.observed("RegisterFailedAttempt")(&err)
	err = r.q.QueryRowContext(ctx, `UPDATE users SET failed_attempts = failed_attempts + 1,
		locked_until = CASE WHEN failed_attempts + 1 >= $3 THEN $4 ELSE locked_until END
		WHERE env_id = $1 AND id = $2 RETURNING failed_attempts`, envID, id, limit, micros(lockUntil)).Scan(&n)
	return n, notFound(err, "user not found")
}

func (r repos) AddPasswordHistory(ctx context.Context, envID, userID, hash string, at time.Time) (err error) {
	defer r.observed("AddPasswordHistory")(&err)
	_, err = r.q.ExecContext(ctx, `INSERT INTO password_history (env_id, user_id, hash, created_on)
		VALUES ($1, $2, $3, $4)`, envID, userID, hash, micros(at))
	return err
}

func (r repos) PasswordHistory(ctx context.Context, envID, userID string, limit int) (_ []string, err error) {
	defer r.observed("PasswordHistory")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT hash FROM password_history WHERE env_id = $1 AND user_id = $2
		ORDER BY created_on DESC LIMIT $3`, envID, userID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hashes := []string{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return hashes, rows.Err()
}

// loadRolesOf fills the roles of a page of users with one query.
func (r repos) loadRolesOf(ctx context.Context, envID string, users []*gatehouse.User) error {
	if len(users) == 0 {
		return nil
	}
	byID := make(map[string]*gatehouse.User, len(users))
	first, last := users[0].ID, users[0].ID
	for _, u := range users {
		u.Roles = []gatehouse.RoleAssignment{}
		byID[u.ID] = u
		first, last = min(first, u.ID), max(last, u.ID)
	}
	rows, err := r.q.QueryContext(ctx, `SELECT user_id, role, context_type, context_id FROM user_roles
		WHERE env_id = $1 AND user_id >= $2 AND user_id <= $3 ORDER BY user_id, role, context_type, context_id`,
		envID, first, last)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var userID, ctxType, ctxID string
		var a gatehouse.RoleAssignment
		if err := rows.Scan(&userID, &a.Role, &ctxType, &ctxID); err != nil {
			return err
		}
		if ctxType != "" || ctxID != "" {
			a.Context = &gatehouse.RoleContext{Type: ctxType, ID: ctxID}
		}
		if u := byID[userID]; u != nil {
			u.Roles = append(u.Roles, a)
		}
	}
	return rows.Err()
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
