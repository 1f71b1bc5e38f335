package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/gatehouse/gatehouse"
)

const roleColumns = `env_id, name, description, permissions, builtin, created_on, updated_on`

func scanRole(row interface{ Scan(...any) error }) (*gatehouse.Role, error) {
	var r gatehouse.Role
	var perms string
	var created, updated int64
	if err := row.Scan(&r.EnvironmentID, &r.Name, &r.Description, &perms, &r.Builtin, &created, &updated); err != nil {
		return nil, err
	}
	r.CreatedOn, r.UpdatedOn = fromMicros(created), fromMicros(updated)
	return &r, json.Unmarshal([]byte(perms), &r.Permissions)
}

func permissionsJSON(r *gatehouse.Role) string {
	if r.Permissions == nil {
		r.Permissions = []string{}
	}
	b, _ := json.Marshal(r.Permissions)
	return string(b)
}

func (r repos) CreateRole(ctx context.Context, role *gatehouse.Role) (err error) {
	defer r.observed("CreateRole")(&err)
	_, err = r.exec(ctx, "role "+role.Name+" already exists",
		`INSERT INTO roles (`+roleColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		role.EnvironmentID, role.Name, role.Description, permissionsJSON(role), role.Builtin,
		micros(role.CreatedOn), micros(role.UpdatedOn))
	return err
}

func (r repos) GetRole(ctx context.Context, envID, name string) (_ *gatehouse.Role, err error) {
	defer r.observed("GetRole")(&err)
	role, err := scanRole(r.q.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles WHERE env_id = $1 AND name = $2`, envID, name))
	return role, notFound(err, "role %q not found", name)
}

func (r repos) ListRoles(ctx context.Context, envID string) (_ []*gatehouse.Role, err error) {
	defer r.observed("ListRoles")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT `+roleColumns+` FROM roles WHERE env_id = $1 ORDER BY name`, envID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	roles := []*gatehouse.Role{}
	for rows.Next() {
		role, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		roles = append(roles, role)
	}
	return roles, rows.Err()
}

func (r repos) UpdateRole(ctx context.Context, role *gatehouse.Role) (err error) {
	defer r.observed("UpdateRole")(&err)
	return r.execOne(ctx, "role "+role.Name+" not found",
		`UPDATE roles SET description = $3, permissions = $4, updated_on = $5 WHERE env_id = $1 AND name = $2`,
		role.EnvironmentID, role.Name, role.Description, permissionsJSON(role), micros(role.UpdatedOn))
}

func (r repos) DeleteRole(ctx context.Context, envID, name string) (err error) {
	defer r.observed("DeleteRole")(&err)
	return r.atomically(ctx, func(r repos) error {
		if err := r.execOne(ctx, "role "+name+" not found", `DELETE FROM roles WHERE env_id = $1 AND name = $2`, envID, name); err != nil {
			return err
		}
		_, err := r.q.ExecContext(ctx, `DELETE FROM user_roles WHERE env_id = $1 AND role = $2`, envID, name)
		return err
	})
}
