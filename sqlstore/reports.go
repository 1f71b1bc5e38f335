package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// maxReportBuckets bounds a report: 31 years of months, or a year of days.
const maxReportBuckets = 372

// signInSuccess and signInFailure select the audit events of sign-ins. The
// values are the store's own constants, written into the SQL.
var (
	signInSuccess = `(outcome = '` + gatehouse.OutcomeSuccess + `' AND target_type = 'USER' AND target_id <> ''
		AND (action = '` + gatehouse.AuditActionAuthenticated + `' OR (action = '` + gatehouse.AuditActionTokenIssued + `'
		AND details LIKE '%"grant":"` + gatehouse.GrantPassword + `"%')))`
	signInFailure = `(action = '` + gatehouse.AuditActionAuthenticationFailed + `' AND target_type = 'USER')`
	signInActions = `action IN ('` + gatehouse.AuditActionAuthenticated + `', '` + gatehouse.AuditActionTokenIssued + `', '` +
		gatehouse.AuditActionAuthenticationFailed + `')`
)

// reportQuery returns an expression numbering the bucket (from 0) of
// occurred_on, for the buckets' starts, and the query's arguments: $1 the
// environment, $2 from and $3 to, then the boundaries.
func reportQuery(envID string, starts []time.Time, to time.Time) (string, []any) {
	args := []any{envID, micros(starts[0]), micros(to)}
	if len(starts) == 1 {
		return "0", args
	}
	var b strings.Builder
	b.WriteString("CASE")
	for i := 1; i < len(starts); i++ {
		args = append(args, micros(starts[i]))
		b.WriteString(" WHEN occurred_on < $" + strconv.Itoa(len(args)) + " THEN " + strconv.Itoa(i-1))
	}
	b.WriteString(" ELSE " + strconv.Itoa(len(starts)-1) + " END")
	return b.String(), args
}

func reportBuckets(from, to time.Time, month bool) ([]time.Time, error) {
	if !from.Before(to) {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "a report's start must be before its end")
	}
	starts := gatehouse.ReportBuckets(from, to, month)
	if len(starts) > maxReportBuckets {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "a report covers at most %d months or days", maxReportBuckets)
	}
	return starts, nil
}

func (r repos) MonthlyActiveUsers(ctx context.Context, envID string, from, to time.Time) (_ []gatehouse.MonthCount, err error) {
	defer r.observed("MonthlyActiveUsers")(&err)
	starts, err := reportBuckets(from, to, true)
	if err != nil {
		return nil, err
	}
	bucket, args := reportQuery(envID, starts, to)
	rows, err := r.q.QueryContext(ctx, `SELECT `+bucket+`, COUNT(DISTINCT target_id) FROM audit_events
		WHERE env_id = $1 AND occurred_on >= $2 AND occurred_on < $3 AND `+signInSuccess+` GROUP BY 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]gatehouse.MonthCount, len(starts))
	for i, at := range starts {
		out[i].Month = time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	for rows.Next() {
		var i int
		var n int64
		if err := rows.Scan(&i, &n); err != nil {
			return nil, err
		}
		out[i].Users = n
	}
	return out, rows.Err()
}

func (r repos) SignInCounts(ctx context.Context, envID string, from, to time.Time, bucket string) (_ []gatehouse.SignInCount, err error) {
	defer r.observed("SignInCounts")(&err)
	if bucket != "day" {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "sign-ins are counted per day")
	}
	starts, err := reportBuckets(from, to, false)
	if err != nil {
		return nil, err
	}
	expr, args := reportQuery(envID, starts, to)
	rows, err := r.q.QueryContext(ctx, `SELECT `+expr+`,
		SUM(CASE WHEN `+signInSuccess+` THEN 1 ELSE 0 END), SUM(CASE WHEN `+signInFailure+` THEN 1 ELSE 0 END)
		FROM audit_events WHERE env_id = $1 AND occurred_on >= $2 AND occurred_on < $3
		AND `+signInActions+` GROUP BY 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]gatehouse.SignInCount, len(starts))
	for i, at := range starts {
		out[i].Day = time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	}
	for rows.Next() {
		var i int
		var ok, failed int64
		if err := rows.Scan(&i, &ok, &failed); err != nil {
			return nil, err
		}
		out[i].Successes, out[i].Failures = ok, failed
	}
	return out, rows.Err()
}
