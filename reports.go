package gatehouse

import (
	"context"
	"time"
)

// The audit actions the reports count as sign-ins: a successful sign-in at
// the hosted pages, a failed attempt, and a token issue (a sign-in when its
// grant is the password grant of an API user).
const (
	AuditActionAuthenticated        = "AUTHENTICATED"
	AuditActionAuthenticationFailed = "AUTHENTICATION_FAILED"
	AuditActionTokenIssued          = "TOKEN_ISSUED"
)

// ReportRepository answers the reports from the audit log's sign-in events:
// a successful sign-in at the hosted pages (AUTHENTICATED) or a token issued
// by the password grant to a user; a failure is an AUTHENTICATION_FAILED of
// a user (not a refused bearer token). Buckets are UTC calendar months or
// days covering [from, to); the first and last are cut at from and to. Every
// bucket is returned, in time order, those with nothing counted too.
type ReportRepository interface {
	// MonthlyActiveUsers counts, per month, the distinct users who signed
	// in at least once.
	MonthlyActiveUsers(ctx context.Context, envID string, from, to time.Time) ([]MonthCount, error)
	// SignInCounts counts successful and failed sign-ins per bucket; the
	// only bucket is "day".
	SignInCounts(ctx context.Context, envID string, from, to time.Time, bucket string) ([]SignInCount, error)
}

// MonthCount is the number of monthly active users of a month.
type MonthCount struct {
	// Month is the first instant of the month, UTC.
	Month time.Time `json:"month"`
	Users int64     `json:"users"`
}

// SignInCount is the number of sign-ins of a day.
type SignInCount struct {
	// Day is the first instant of the day, UTC.
	Day       time.Time `json:"day"`
	Successes int64     `json:"successes"`
	Failures  int64     `json:"failures"`
}

// ReportBuckets returns the starts of the UTC months (month true) or days
// that cover [from, to): the first is from itself, each next one the start
// of the next month or day, all before to.
func ReportBuckets(from, to time.Time, month bool) []time.Time {
	from, to = from.UTC(), to.UTC()
	var out []time.Time
	for at := from; at.Before(to); {
		out = append(out, at)
		y, m, d := at.Date()
		if month {
			at = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
		} else {
			at = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		}
	}
	return out
}
