package sqlite_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/storetest"
)

func open(t *testing.T) gatehouse.Store {
	s, err := sqlite.Open(context.Background(), t.TempDir(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) gatehouse.Store {
		s, err := sqlite.Open(context.Background(), b.TempDir(), true, nil)
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}

// BenchmarkListUsers seeds 1,000,000 users (GATEHOUSE_BENCH_USERS to change)
// and reports the p99 of each list filter.
func BenchmarkListUsers(b *testing.B) {
	s, err := sqlite.Open(context.Background(), b.TempDir(), true, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchListUsers(b, s, storetest.ListBenchUsers())
}

func TestDeleteEnvironmentLeavesNoRows(t *testing.T) {
	s, err := sqlite.Open(context.Background(), t.TempDir(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunRowCounts(t, s)
}
