// Package sqlite opens Gatehouse's embedded store: one SQLite file in WAL
// mode inside the data directory (modernc.org/sqlite, no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlstore"
)

// FileName is the database file inside the data directory.
const FileName = "gatehouse.db"

// dialect describes SQLite, in the file at path, to sqlstore.
func dialect(path string) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:  "sqlite",
		Goose: goose.DialectSQLite3,
		IsUniqueViolation: func(err error) bool {
			var e *sqlite.Error
			if !errors.As(err, &e) {
				return false
			}
			return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		},
		IsForeignKeyViolation: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
		},
		Explain:        func(err error) error { return explain(path, err) },
		BytewisePrefix: true,
		// analysis_limit bounds the work; 0x10002 analyses tables that
		// never were, as the SQLite documentation advises for long-lived
		// connections.
		Optimize: "PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002",
		Migrations: map[int64]func(context.Context, *sql.Tx) error{
			4: sqlstore.Statements(userSearch...),
			// Prefix searches on the names (BytewisePrefix ranges); PostgreSQL
			// has its pattern indexes from version 3.
			12: sqlstore.Statements(
				`CREATE INDEX users_first_name_lower ON users (env_id, first_name_lower, id)`,
				`CREATE INDEX users_last_name_lower ON users (env_id, last_name_lower, id)`,
			),
		},
		SubstringProbe: func(column string) string {
			return fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM user_search WHERE %s LIKE ? LIMIT %d)`, column, sqlstore.SearchProbeLimit)
		},
		Substring: func(column string) string {
			return `id IN (SELECT m.id FROM user_search s JOIN user_search_map m ON m.doc = s.rowid
				WHERE m.env_id = ? AND s.` + column + ` LIKE ?)`
		},
		// A unary + keeps SQLite from using an index on the column.
		Unindexed: func(column string) string { return "+" + column },
	}
}

// userSearch is an FTS5 trigram index of the user search columns, kept by
// triggers, so that LIKE '%…%' filters need not read every user. Its rows
// are tied to users through user_search_map, whose keys survive VACUUM.
var userSearch = []string{
	`CREATE VIRTUAL TABLE user_search USING fts5(username_lower, primary_email_lower, first_name_lower,
		last_name_lower, tokenize = 'trigram', detail = none)`,
	`CREATE TABLE user_search_map (env_id TEXT NOT NULL, id TEXT NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY (env_id, id))`,
	`CREATE INDEX user_search_map_doc ON user_search_map (doc)`,
	`INSERT INTO user_search (rowid, username_lower, primary_email_lower, first_name_lower, last_name_lower)
		SELECT rowid, username_lower, primary_email_lower, first_name_lower, last_name_lower FROM users`,
	`INSERT INTO user_search_map (env_id, id, doc) SELECT env_id, id, rowid FROM users`,
	`CREATE TRIGGER user_search_insert AFTER INSERT ON users BEGIN
		INSERT INTO user_search (username_lower, primary_email_lower, first_name_lower, last_name_lower)
			VALUES (new.username_lower, new.primary_email_lower, new.first_name_lower, new.last_name_lower);
		INSERT INTO user_search_map (env_id, id, doc) VALUES (new.env_id, new.id, last_insert_rowid());
	END`,
	`CREATE TRIGGER user_search_update AFTER UPDATE ON users
	WHEN old.username_lower IS NOT new.username_lower OR old.primary_email_lower IS NOT new.primary_email_lower
		OR old.first_name_lower IS NOT new.first_name_lower OR old.last_name_lower IS NOT new.last_name_lower BEGIN
		UPDATE user_search SET username_lower = new.username_lower, primary_email_lower = new.primary_email_lower,
			first_name_lower = new.first_name_lower, last_name_lower = new.last_name_lower
		WHERE rowid = (SELECT doc FROM user_search_map WHERE env_id = old.env_id AND id = old.id);
	END`,
	`CREATE TRIGGER user_search_delete AFTER DELETE ON users BEGIN
		DELETE FROM user_search WHERE rowid = (SELECT doc FROM user_search_map WHERE env_id = old.env_id AND id = old.id);
		DELETE FROM user_search_map WHERE env_id = old.env_id AND id = old.id;
	END`,
}

// Open opens (creating if needed) the store in dataDir. With migrate, pending
// migrations are applied; without, a store that needs them is refused.
func Open(ctx context.Context, dataDir string, migrate bool, observe sqlstore.Observer) (*sqlstore.Store, error) {
	if err := prepareDir(dataDir); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, FileName)
	if err := checkWritable(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, dialect(path), migrate, observe)
	if err != nil {
		db.Close()
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			return nil, err
		}
		return nil, explain(path, err)
	}
	return s, nil
}

// dsn turns on WAL, foreign keys, full durability, a generous busy timeout
// so that the CLI and the server can write side by side, and IMMEDIATE
// transactions so that writers queue instead of deadlocking.
func dsn(path string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// prepareDir creates the data directory if needed and checks that it is a
// writable directory, so that problems are named before SQLite reports them
// in its own words.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "cannot create the data directory %s: %v", dir, unwrapPath(err))
	}
	info, err := os.Stat(dir)
	if err != nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "cannot read the data directory %s: %v", dir, unwrapPath(err))
	}
	if !info.IsDir() {
		return gatehouse.Errorf(gatehouse.EINVALID, "the data directory %s is not a directory", dir)
	}
	probe, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "the data directory %s is not writable: %v", dir, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// checkWritable refuses a database file, or its WAL and shared-memory
// files, that this process cannot write: SQLite would open them read-only
// and fail at the first write, and leave a read-only -shm file behind.
func checkWritable(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return gatehouse.Errorf(gatehouse.EINVALID, "the database file %s is not writable: %v", p, unwrapPath(err))
		}
		f.Close()
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// explain words SQLite's failures for an operator, naming the file. The
// result is not a domain error: API callers see "internal error", the log
// and the CLI see this text.
func explain(path string, err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%s is not a valid Gatehouse database (corrupted, or another kind of file): restore it from a backup (%w)", path, err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("cannot write to %s: the disk is full (%w)", path, err)
	case sqlite3.SQLITE_IOERR:
		return fmt.Errorf("cannot read or write %s: the disk may be full, over a file size limit, or failing (%w)", path, err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return fmt.Errorf("cannot open %s for writing (%w)", path, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// Lock takes the data directory for one server: a second `serve` on the same
// directory is refused while the first runs. CLI commands do not lock. The
// lock is released by the returned function, or when the process ends.
func Lock(dataDir string) (release func(), err error) {
	if err := prepareDir(dataDir); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "cannot open %s: %v", path, unwrapPath(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, gatehouse.Errorf(gatehouse.ECONFLICT, "another gatehouse server is already running on the data directory %s", dataDir)
		}
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "cannot lock %s: %v", path, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
