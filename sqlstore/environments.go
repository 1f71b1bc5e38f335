package sqlstore

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

const environmentColumns = `id, display_name, status, created_on, updated_on`

func scanEnvironment(row interface{ Scan(...any) error }) (*gatehouse.Environment, error) {
	var e gatehouse.Environment
	var created, updated int64
	if err := row.Scan(&e.ID, &e.DisplayName, &e.Status, &created, &updated); err != nil {
		return nil, err
	}
	e.CreatedOn, e.UpdatedOn = fromMicros(created), fromMicros(updated)
	return &e, nil
}

func (r repos) CreateEnvironment(ctx context.Context, e *gatehouse.Environment) (err error) {
	defer r.observed("CreateEnvironment")(&err)
	_, err = r.exec(ctx, "environment "+e.ID+" already exists",
		`INSERT INTO environments (`+environmentColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		e.ID, e.DisplayName, e.Status, micros(e.CreatedOn), micros(e.UpdatedOn))
	return err
}

func (r repos) GetEnvironment(ctx context.Context, id string) (_ *gatehouse.Environment, err error) {
	defer r.observed("GetEnvironment")(&err)
	e, err := scanEnvironment(r.q.QueryRowContext(ctx,
		`SELECT `+environmentColumns+` FROM environments WHERE id = $1`, id))
	return e, notFound(err, "environment %q not found", id)
}

func (r repos) ListEnvironments(ctx context.Context, after string, limit int) (_ []*gatehouse.Environment, err error) {
	defer r.observed("ListEnvironments")(&err)
	rows, err := r.q.QueryContext(ctx,
		`SELECT `+environmentColumns+` FROM environments WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*gatehouse.Environment{}
	for rows.Next() {
		e, err := scanEnvironment(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	return list, rows.Err()
}

func (r repos) UpdateEnvironment(ctx context.Context, e *gatehouse.Environment) (err error) {
	defer r.observed("UpdateEnvironment")(&err)
	return r.execOne(ctx, "environment "+e.ID+" not found",
		`UPDATE environments SET display_name = $2, status = $3, updated_on = $4 WHERE id = $1`,
		e.ID, e.DisplayName, e.Status, micros(e.UpdatedOn))
}

func (r repos) DeleteEnvironment(ctx context.Context, id string) (err error) {
	defer r.observed("DeleteEnvironment")(&err)
	return r.execOne(ctx, "environment "+id+" not found", `DELETE FROM environments WHERE id = $1`, id)
}
