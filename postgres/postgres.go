// Package postgres opens Gatehouse's scale-out store on PostgreSQL (pgx).
// Any number of stateless nodes may share one database.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlstore"
)

// dialect describes PostgreSQL to sqlstore.
func dialect() (sqlstore.Dialect, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return sqlstore.Dialect{}, err
	}
	return sqlstore.Dialect{
		Name:  "postgres",
		Goose: goose.DialectPostgres,
		IsUniqueViolation: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23505"
		},
		IsForeignKeyViolation: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23503"
		},
		Locker: locker,
		// The unnamed statement of the extended protocol is planned for
		// the values it is sent with.
		PlanWithValues: []any{pgx.QueryExecModeExec},
		ForUpdate:      " FOR UPDATE",
		SubstringProbe: func(column string) string {
			return fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM users WHERE %s LIKE ? LIMIT %d) AS matches`, column, sqlstore.SearchProbeLimit)
		},
		Unindexed: func(column string) string { return "(" + column + " || '')" },
		// Autovacuum analyses too, but only after enough churn; a bulk
		// import wants fresh statistics sooner. ANALYZE samples, so it
		// stays cheap at any size.
		Optimize: "ANALYZE",
		// With a non-C collation, LIKE 'p%' can use only text_pattern_ops
		// indexes.
		Migrations: map[int64]func(context.Context, *sql.Tx) error{
			3: sqlstore.Statements(
				`CREATE INDEX users_username_pattern ON users (env_id, username_lower text_pattern_ops)`,
				`CREATE INDEX users_email_pattern ON users (env_id, primary_email_lower text_pattern_ops)`,
				`CREATE INDEX users_first_name_pattern ON users (env_id, first_name_lower text_pattern_ops)`,
				`CREATE INDEX users_last_name_pattern ON users (env_id, last_name_lower text_pattern_ops)`,
			),
			4: trigramIndexes,
		},
	}, nil
}

// trigramIndexes lets LIKE '%…%' on the user search columns use GIN
// trigram indexes. pg_trgm is a trusted extension, so a database owner may
// create it; where it cannot be had, searches still work, by scanning.
func trigramIndexes(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT trgm`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm`); err != nil {
		_, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT trgm`)
		return rerr
	}
	var schema string
	if err := tx.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_trgm'`).Scan(&schema); err != nil {
		return err
	}
	opclass := pgx.Identifier{schema, "gin_trgm_ops"}.Sanitize()
	for _, column := range []string{"username_lower", "primary_email_lower", "first_name_lower", "last_name_lower"} {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE INDEX users_%s_trgm ON users USING gin (%s %s)`, column, column, opclass)); err != nil {
			return err
		}
	}
	return nil
}

// Open connects to the database named by dsn (a postgres:// URL or key=value
// string). With migrate, pending migrations are applied (one node at a time,
// under an advisory lock); without, a database that needs them is refused.
func Open(ctx context.Context, dsn string, migrate bool, observe sqlstore.Observer) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "the PostgreSQL connection string is not valid: %v", redact(err))
	}
	where := fmt.Sprintf("%s:%d/%s as %s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, gatehouse.Errorf(gatehouse.EUNAVAILABLE, "cannot connect to PostgreSQL at %s: %v", where, redact(err))
	}
	d, err := dialect()
	if err != nil {
		db.Close()
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, d, migrate, observe)
	if err != nil {
		db.Close()
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			return nil, err
		}
		return nil, fmt.Errorf("opening PostgreSQL at %s: %w", where, err)
	}
	return s, nil
}

// redact keeps the cause of a connection error and drops anything that could
// carry a password.
func redact(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return errors.Unwrap(ce)
	}
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		return errors.New("cannot parse it")
	}
	return err
}
