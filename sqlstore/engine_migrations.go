package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// engineMigrations are the versions whose statements differ by engine; the
// shared ones are the SQL files in migrations/. Each runs the dialect's
// statements for its version, or nothing.
func engineMigrations(d Dialect) []*goose.Migration {
	run := func(version int64) *goose.GoFunc {
		return &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			if m := d.Migrations[version]; m != nil {
				return m(ctx, tx)
			}
			return nil
		}}
	}
	return []*goose.Migration{
		// 3: prefix searches on the lower-cased user columns.
		goose.NewGoMigration(3, run(3), &goose.GoFunc{}),
		// 4: substring searches (a filter that starts with %) on them.
		goose.NewGoMigration(4, run(4), &goose.GoFunc{}),
		// 12: equality and prefix searches on the lower-cased names,
		// where version 3 gave the engine none.
		goose.NewGoMigration(12, run(12), &goose.GoFunc{}),
	}
}

// Statements is a migration that runs SQL statements in order.
func Statements(stmts ...string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, stmt := range stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	}
}
