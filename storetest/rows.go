package storetest

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// RowCounter is a store that can count an environment's rows in every
// table, so that deletion can be checked against the schema itself rather
// than against the repository methods someone remembered to call.
type RowCounter interface {
	gatehouse.Store
	EnvironmentRowCounts(ctx context.Context, envID string) (map[string]int, error)
}

// RunRowCounts checks that deleting an environment leaves no row of it in
// any table, and leaves the other environment's rows as they were.
func RunRowCounts(t *testing.T, s RowCounter) {
	ctx := context.Background()
	fill(t, s, "acme")
	fill(t, s, "globex")
	must(t, s.AppendAuditEvent(ctx, &gatehouse.AuditEvent{EnvironmentID: "acme", ID: gatehouse.NewID(), Time: now(), Action: "X"}))
	before, err := s.EnvironmentRowCounts(ctx, "globex")
	must(t, err)
	acme, err := s.EnvironmentRowCounts(ctx, "acme")
	must(t, err)
	for _, table := range []string{"users", "user_roles", "applications", "signing_keys", "secrets", "audit_events",
		"identity_providers", "discovery_rules", "user_identities", "used_assertions",
		"environment_policies", "mfa_devices", "recovery_codes", "one_time_codes", "user_mfa_state"} {
		if acme[table] == 0 {
			t.Fatalf("fill left %s empty: the check would prove nothing", table)
		}
	}
	must(t, s.DeleteEnvironment(ctx, "acme"))
	after, err := s.EnvironmentRowCounts(ctx, "acme")
	must(t, err)
	for table, n := range after {
		if n != 0 {
			t.Errorf("%d rows of the deleted environment remain in %s", n, table)
		}
	}
	kept, err := s.EnvironmentRowCounts(ctx, "globex")
	must(t, err)
	for table, n := range before {
		if kept[table] != n {
			t.Errorf("deleting acme changed globex's %s: %d rows, was %d", table, kept[table], n)
		}
	}
}
