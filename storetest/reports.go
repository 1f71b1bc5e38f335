package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var reportTests = []struct {
	name string
	fn   func(t *testing.T, s gatehouse.Store)
}{
	{"ReportsMonthlyActiveUsers", testMonthlyActiveUsers},
	{"ReportsSignInCounts", testSignInCounts},
}

// signInEvents appends, to acme and globex, sign-ins around the turn of
// January 2025: what the reports count and what they must not.
func signInEvents(t *testing.T, s gatehouse.Store) {
	t.Helper()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	at := func(month time.Month, day, hour, min int) time.Time {
		return time.Date(2025, month, day, hour, min, 0, 0, time.UTC)
	}
	ev := func(env string, when time.Time, action, targetType, target, outcome string, details map[string]string) *gatehouse.AuditEvent {
		return &gatehouse.AuditEvent{EnvironmentID: env, ID: gatehouse.NewID(), Time: when, ActorType: gatehouse.ActorAnonymous,
			Action: action, TargetType: targetType, TargetID: target, Outcome: outcome, Details: details}
	}
	ok, fail := gatehouse.OutcomeSuccess, gatehouse.OutcomeFailure
	auth, failed, token := gatehouse.AuditActionAuthenticated, gatehouse.AuditActionAuthenticationFailed, gatehouse.AuditActionTokenIssued
	pwd := map[string]string{"grant": gatehouse.GrantPassword, "clientId": "api"}
	events := []*gatehouse.AuditEvent{
		// January: u1 three times, u2 once; the last instant of the month.
		ev("acme", at(1, 5, 9, 0), auth, "USER", "u1", ok, nil),
		ev("acme", at(1, 30, 9, 0), auth, "USER", "u1", ok, nil),
		ev("acme", time.Date(2025, 1, 31, 23, 59, 59, 999999000, time.UTC), auth, "USER", "u1", ok, nil),
		ev("acme", at(1, 31, 10, 0), auth, "USER", "u2", ok, nil),
		ev("acme", at(1, 31, 11, 0), failed, "USER", "u2", fail, nil),
		ev("acme", at(1, 31, 11, 1), failed, "USER", "", fail, map[string]string{"username": "nobody"}),
		// February: u1 at its first instant, the API user u3 by the
		// password grant; not sign-ins: a code exchange, a refused bearer
		// token, a user change, a client's own token.
		ev("acme", at(2, 1, 0, 0), auth, "USER", "u1", ok, nil),
		ev("acme", at(2, 1, 8, 0), token, "USER", "u3", ok, pwd),
		ev("acme", at(2, 1, 8, 1), token, "USER", "u3", ok, pwd),
		ev("acme", at(2, 1, 8, 2), token, "USER", "u2", ok, map[string]string{"grant": gatehouse.GrantAuthorizationCode}),
		ev("acme", at(2, 1, 8, 3), failed, "API", "GET /api/v1", fail, nil),
		ev("acme", at(2, 1, 8, 4), "USER_UPDATED", "USER", "u4", ok, nil),
		ev("acme", at(2, 1, 8, 5), token, "APPLICATION", "svc", ok, map[string]string{"grant": gatehouse.GrantClientCredentials}),
		ev("acme", at(2, 2, 8, 0), failed, "USER", "u1", fail, nil),
		// Another environment's sign-ins.
		ev("globex", at(1, 31, 9, 0), auth, "USER", "g1", ok, nil),
		ev("globex", at(2, 1, 9, 0), auth, "USER", "g1", ok, nil),
		ev("globex", at(2, 1, 9, 0), failed, "USER", "g1", fail, nil),
		// March: past the reports' end.
		ev("acme", at(3, 1, 0, 0), auth, "USER", "u9", ok, nil),
	}
	must(t, s.AppendAuditEvents(context.Background(), events))
}

func testMonthlyActiveUsers(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	signInEvents(t, s)
	month := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
	got, err := s.MonthlyActiveUsers(ctx, "acme", time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), month(3))
	must(t, err)
	want := []gatehouse.MonthCount{{Month: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)}, {Month: month(1), Users: 2}, {Month: month(2), Users: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("acme's monthly active users %+v, want %+v", got, want)
	}
	got, err = s.MonthlyActiveUsers(ctx, "globex", month(1), month(4))
	must(t, err)
	want = []gatehouse.MonthCount{{Month: month(1), Users: 1}, {Month: month(2), Users: 1}, {Month: month(3)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("globex's monthly active users %+v, want %+v", got, want)
	}
	// A range cut inside a month counts only what falls in it; the bucket
	// keeps the month's name.
	got, err = s.MonthlyActiveUsers(ctx, "acme", time.Date(2025, 1, 31, 10, 30, 0, 0, time.UTC), time.Date(2025, 2, 1, 8, 1, 0, 0, time.UTC))
	must(t, err)
	want = []gatehouse.MonthCount{{Month: month(1), Users: 1}, {Month: month(2), Users: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("a cut range %+v, want %+v", got, want)
	}
	got, err = s.MonthlyActiveUsers(ctx, "nowhere", month(1), month(2))
	must(t, err)
	if len(got) != 1 || got[0].Users != 0 {
		t.Fatalf("an environment with no events: %+v", got)
	}
	_, err = s.MonthlyActiveUsers(ctx, "acme", month(2), month(1))
	wantCode(t, err, gatehouse.EINVALID)
	_, err = s.MonthlyActiveUsers(ctx, "acme", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), month(1))
	wantCode(t, err, gatehouse.EINVALID)
}

func testSignInCounts(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	signInEvents(t, s)
	day := func(m time.Month, d int) time.Time { return time.Date(2025, m, d, 0, 0, 0, 0, time.UTC) }
	got, err := s.SignInCounts(ctx, "acme", day(1, 30), day(2, 3), "day")
	must(t, err)
	want := []gatehouse.SignInCount{
		{Day: day(1, 30), Successes: 1},
		{Day: day(1, 31), Successes: 2, Failures: 2},
		{Day: day(2, 1), Successes: 3},
		{Day: day(2, 2), Failures: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("acme's sign-ins %+v, want %+v", got, want)
	}
	got, err = s.SignInCounts(ctx, "globex", day(2, 1), day(2, 2), "day")
	must(t, err)
	if want := []gatehouse.SignInCount{{Day: day(2, 1), Successes: 1, Failures: 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("globex's sign-ins %+v, want %+v", got, want)
	}
	_, err = s.SignInCounts(ctx, "acme", day(1, 1), day(2, 1), "hour")
	wantCode(t, err, gatehouse.EINVALID)
	_, err = s.SignInCounts(ctx, "acme", day(1, 1), day(1, 1), "day")
	wantCode(t, err, gatehouse.EINVALID)
}
