// Package sqlstore implements gatehouse.Store over database/sql. The SQL and
// the embedded migrations are written once for both engines; the sqlite and
// postgres packages open a connection and describe their Dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse/gatehouse"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect is what differs between engines.
type Dialect struct {
	Name  string
	Goose goose.Dialect
	// IsUniqueViolation reports whether err is a unique or primary key violation.
	IsUniqueViolation func(error) bool
	// IsForeignKeyViolation reports whether err is a foreign key violation.
	IsForeignKeyViolation func(error) bool
	// Locker serializes migrations across processes, where the engine needs it.
	Locker lock.SessionLocker
	// Explain rewords an engine error for an operator, or returns it as it
	// is; nil keeps every error as it is.
	Explain func(error) error
	// BytewisePrefix says that "col >= p AND col < p+1" selects exactly the
	// values starting with p (binary collation), so that an index can serve
	// a prefix search; PostgreSQL serves LIKE 'p%' from its own indexes.
	BytewisePrefix bool
	// Migrations are the engine's own steps for the versions that
	// engineMigrations lists.
	Migrations map[int64]func(context.Context, *sql.Tx) error
	// Substring returns a condition, with the placeholders ? for an
	// environment id and ? for a LIKE pattern (no ESCAPE: _ is a wildcard),
	// that lets an index find the users whose lower-cased column matches;
	// nil where a plain LIKE already can.
	Substring func(column string) string
	// Unindexed wraps a column so that the planner cannot use an index on
	// it, for the conditions that another index or the walk in list order
	// should lead.
	Unindexed func(column string) string
	// SubstringProbe, when set, counts (up to SearchProbeLimit) the
	// index's matches of the LIKE pattern ? (no ESCAPE) in column, in every
	// environment; without it, substring searches walk the users in order.
	SubstringProbe func(column string) string
	// PlanWithValues are arguments put before those of the queries whose
	// best plan depends on the values (a user search's probes and walks),
	// where the engine may otherwise reuse one plan made for any values:
	// PostgreSQL's cached generic plan reads a whole environment for a
	// type that nobody has.
	PlanWithValues []any
	// Optimize refreshes the query planner's statistics, where the engine
	// does not do it by itself.
	Optimize string
	// ForUpdate locks a selected row for the transaction (" FOR UPDATE"),
	// where the engine does not serialize writers by itself.
	ForUpdate string
}

// Observer is told how long each store operation took, for metrics.
type Observer func(op string, took time.Duration, err error)

// Store is a gatehouse.Store over a *sql.DB.
type Store struct {
	repos
	db      *sql.DB
	dialect Dialect
	latest  int64
}

var _ gatehouse.Store = (*Store)(nil)

// Open wraps db, refuses a schema newer than this binary, and applies any
// pending migration when migrate is true. Without migrate, a store with
// pending migrations is refused too.
func Open(ctx context.Context, db *sql.DB, d Dialect, migrate bool, observe Observer) (*Store, error) {
	p, err := provider(db, d)
	if err != nil {
		return nil, err
	}
	s := &Store{repos: repos{q: db, d: d, observe: observe}, db: db, dialect: d}
	sources := p.ListSources()
	s.latest = sources[len(sources)-1].Version
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the schema version: %w", err)
	}
	switch {
	case current > s.latest:
		return nil, gatehouse.Errorf(gatehouse.EINVALID,
			"the store's schema is at version %d, newer than this gatehouse binary knows (%d): run a newer gatehouse, or restore a backup made for this version", current, s.latest)
	case current < s.latest && !migrate:
		return nil, gatehouse.Errorf(gatehouse.EINVALID,
			"the store's schema is at version %d and this gatehouse needs %d: run `gatehouse migrate`", current, s.latest)
	case current < s.latest:
		if _, err := p.Up(ctx); err != nil {
			return nil, fmt.Errorf("migrating the store: %w", err)
		}
	}
	return s, nil
}

func provider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(engineMigrations(d)...)}
	if d.Locker != nil {
		opts = append(opts, goose.WithSessionLocker(d.Locker))
	}
	return goose.NewProvider(d.Goose, db, dir, opts...)
}

// SchemaVersion returns the schema version applied to the store.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := provider(s.db, s.dialect)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// DB returns the underlying pool, for engine-specific tests and tools.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the store answers and its schema is the one this binary
// uses.
func (s *Store) Ping(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "store unreachable: %v", err)
	}
	if v != s.latest {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "store schema is at version %d, expected %d", v, s.latest)
	}
	return nil
}

// Optimize refreshes the planner's statistics so that filters pick the
// right index as the data grows. The server runs it at start and hourly.
func (s *Store) Optimize(ctx context.Context) error {
	if s.dialect.Optimize == "" {
		return nil
	}
	_, err := s.db.ExecContext(ctx, s.dialect.Optimize)
	return err
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// InTx runs fn in one transaction.
func (s *Store) InTx(ctx context.Context, fn func(gatehouse.Repositories) error) (err error) {
	defer s.observed("InTx")(&err)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	if err := fn(repos{q: tx, d: s.dialect}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// repos implements gatehouse.Repositories on a pool or a transaction.
type repos struct {
	q       querier
	d       Dialect
	observe Observer
}

// observed times an operation and words its engine errors for operators:
// defer r.observed("Op")(&err).
func (r repos) observed(op string) func(*error) {
	start := time.Now()
	return func(err *error) {
		if *err != nil && r.d.Explain != nil {
			var ge *gatehouse.Error
			if !errors.As(*err, &ge) {
				*err = r.d.Explain(*err)
			}
		}
		if r.observe != nil {
			r.observe(op, time.Since(start), *err)
		}
	}
}

// exec runs a write and maps constraint violations to domain errors.
func (r repos) exec(ctx context.Context, conflict string, query string, args ...any) (sql.Result, error) {
	res, err := r.q.ExecContext(ctx, query, args...)
	if err != nil && r.d.IsUniqueViolation(err) {
		return nil, gatehouse.Errorf(gatehouse.ECONFLICT, "%s", conflict)
	}
	return res, err
}

// execOne runs a write that must change a row, and answers ENOTFOUND when
// none changed.
func (r repos) execOne(ctx context.Context, notFound string, query string, args ...any) error {
	res, err := r.exec(ctx, "the change conflicts with an existing record (a unique value is taken)", query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "%s", notFound)
	}
	return nil
}

// notFound maps sql.ErrNoRows to ENOTFOUND.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, format, args...)
	}
	return err
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func microsPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
