package storetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// ListBenchUsers is how many users BenchListUsers seeds: 1,000,000 (the
// budget's size), or GATEHOUSE_BENCH_USERS.
func ListBenchUsers() int {
	if n, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_USERS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchListUsers seeds one environment with n users and measures the
// management API's list queries, reporting the p99 latency of each filter
// (budget: 50 ms at 1,000,000 users).
func BenchListUsers(b *testing.B, s gatehouse.Store, n int) {
	ctx := context.Background()
	e := &gatehouse.Environment{ID: "big", DisplayName: "big", Status: gatehouse.EnvironmentActive, CreatedOn: now(), UpdatedOn: now()}
	if err := s.CreateEnvironment(ctx, e); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	SeedUsers(b, s, "big", n)
	b.Logf("seeded %d users in %v", n, time.Since(start).Round(time.Second))
	base := now().Add(-time.Duration(n) * time.Second)
	from := base.Add(time.Duration(n/2) * time.Second)
	to := from.Add(time.Hour)
	cases := []struct {
		name string
		f    gatehouse.UserFilter
	}{
		{"FirstPage", gatehouse.UserFilter{}},
		{"DeepPage", gatehouse.UserFilter{After: "~"}}, // past the end: the cursor seeks
		{"UsernameExact", gatehouse.UserFilter{Username: fmt.Sprintf("USER%07d@corp%d.example", n/3, (n/3)%50)}},
		{"UsernamePrefix", gatehouse.UserFilter{Username: "user00042%"}},
		{"LastNameExact", gatehouse.UserFilter{LastName: "Kowalski"}},
		{"FirstNameExactRare", gatehouse.UserFilter{FirstName: "First999"}},
		{"TypeAndStatus", gatehouse.UserFilter{Type: gatehouse.UserTypeAPI, Status: gatehouse.UserInactive}},
		{"EmailExact", gatehouse.UserFilter{PrimaryEmail: fmt.Sprintf("user%07d@corp%d.example", n/2, (n/2)%50)}},
		{"EmailDomainSuffix", gatehouse.UserFilter{PrimaryEmail: "%@corp7.example"}},
		// As the service asks: a time range lists in that time's order.
		{"CreatedRange", gatehouse.UserFilter{CreatedFrom: &from, CreatedTo: &to, Order: gatehouse.OrderByCreated}},
		// The worst cases: searches that no index narrows, which read at
		// most Scan users a page.
		{"EmailSuffixNoMatch", gatehouse.UserFilter{PrimaryEmail: "%@nowhere.example"}},
		{"LastNameInfixNoMatch", gatehouse.UserFilter{LastName: "%zzz%"}},
		{"UsernamePrefixAll", gatehouse.UserFilter{Username: "user%"}},
		{"LastNamePrefixNoMatch", gatehouse.UserFilter{LastName: "zzz%"}},
		{"ShortSubstringNoMatch", gatehouse.UserFilter{Username: "%qz%"}},
		{"UnderscoreSubstringNoMatch", gatehouse.UserFilter{Username: "%r_9x%"}},
		{"StatusAndCommonSubstring", gatehouse.UserFilter{Status: gatehouse.UserInactive, LastName: "%okafor%"}},
		{"TypeNoOne", gatehouse.UserFilter{Type: gatehouse.UserTypeAdmin}},
		{"CommonConditionsNoMatch", gatehouse.UserFilter{Type: gatehouse.UserTypeAPI, LastName: "%mit%", Username: "%@corp1.%"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := c.f
			f.Limit = 26    // a page of 25 and one to tell whether there is more
			f.Scan = 30_000 // as the service asks (service.DefaultUserSearchScan)
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := s.ListUsers(ctx, "big", f); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// SeedUsers fills an existing environment with n users, in batches of
// 5,000 per transaction, for the list benchmarks of the store and the
// console: usernames user0000000@corp0.example…, 1,000 first names, 8 last
// names, a third of each of three types, one in ten inactive, one created
// per second up to now. It then refreshes the planner's statistics, as
// the server does when it starts, and returns every 1,000th user's id.
func SeedUsers(tb testing.TB, s gatehouse.Store, envID string, n int) []string {
	tb.Helper()
	ctx := context.Background()
	base := now().Add(-time.Duration(n) * time.Second)
	lastNames := []string{"Smith", "Nguyen", "Garcia", "Müller", "Rossi", "Kowalski", "Tanaka", "Okafor"}
	types := []string{gatehouse.UserTypeRetailer, gatehouse.UserTypeLocation, gatehouse.UserTypeAPI}
	var sample []string
	const batch = 5000
	for i := 0; i < n; i += batch {
		err := s.InTx(ctx, func(r gatehouse.Repositories) error {
			for j := i; j < min(i+batch, n); j++ {
				u := newUser(envID, fmt.Sprintf("user%07d@corp%d.example", j, j%50))
				u.FirstName = fmt.Sprintf("First%d", j%1000)
				u.LastName = lastNames[j%len(lastNames)]
				u.PrimaryEmail = u.Username
				u.Type = types[j%3]
				if j%10 == 0 {
					u.Status = gatehouse.UserInactive
				}
				u.CreatedOn = base.Add(time.Duration(j) * time.Second)
				u.UpdatedOn = u.CreatedOn
				if err := r.CreateUser(ctx, u); err != nil {
					return err
				}
				if j%1000 == 500 {
					sample = append(sample, u.ID)
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if o, ok := s.(interface{ Optimize(context.Context) error }); ok {
		if err := o.Optimize(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return sample
}
