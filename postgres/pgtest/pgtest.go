// Package pgtest gives tests a fresh PostgreSQL schema each, on the server
// named by GATEHOUSE_TEST_POSTGRES_DSN.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/sqlstore"
)

// EnvVar names the DSN of the test server.
const EnvVar = "GATEHOUSE_TEST_POSTGRES_DSN"

// Main runs the tests; without a DSN it fails under CI and skips elsewhere.
func Main(m *testing.M) {
	if os.Getenv(EnvVar) == "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "%s is not set: CI must run the PostgreSQL tests\n", EnvVar)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "skipping PostgreSQL tests: %s is not set (make test sets it)\n", EnvVar)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// DSN creates a new empty schema, dropped when t ends, and returns a DSN
// whose search_path is that schema.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skipf("%s is not set", EnvVar)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("creating a test schema on %s: %v", EnvVar, err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	return withParam(base, "search_path", schema)
}

// Open returns a migrated store in a fresh schema.
func Open(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), DSN(t), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(dsn) + " " + key + "=" + value
}
