package postgres_test

import (
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/postgres/pgtest"
	"github.com/gatehouse/gatehouse/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) gatehouse.Store { return pgtest.Open(t) })
}

func TestMain(m *testing.M) { pgtest.Main(m) }

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) gatehouse.Store { return pgtest.Open(b) })
}

// BenchmarkListUsers seeds 1,000,000 users (GATEHOUSE_BENCH_USERS to change)
// and reports the p99 of each list filter.
func BenchmarkListUsers(b *testing.B) {
	s := pgtest.Open(b)
	defer s.Close()
	storetest.BenchListUsers(b, s, storetest.ListBenchUsers())
}

func TestDeleteEnvironmentLeavesNoRows(t *testing.T) {
	s := pgtest.Open(t)
	defer s.Close()
	storetest.RunRowCounts(t, s)
}
