package service

import (
	"context"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
)

// MonthlyActiveUsers counts, per UTC month covering [from, to), the
// distinct users of an environment who signed in at least once: the figure
// customers are billed on.
func (s *Service) MonthlyActiveUsers(ctx context.Context, envID string, from, to time.Time) ([]gatehouse.MonthCount, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.Store.MonthlyActiveUsers(ctx, envID, from, to)
}

// SignInCounts counts an environment's successful and failed sign-ins per
// UTC day covering [from, to).
func (s *Service) SignInCounts(ctx context.Context, envID string, from, to time.Time) ([]gatehouse.SignInCount, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.Store.SignInCounts(ctx, envID, from, to, "day")
}

// LastMonths returns the start of the month n-1 months before now's and the
// start of the month after now's (UTC): n whole months, this one included.
func LastMonths(now time.Time, n int) (from, to time.Time) {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m-time.Month(n-1), 1, 0, 0, 0, 0, time.UTC), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

// LastDays returns the start of the day n-1 days before now's and the start
// of tomorrow (UTC): n whole days, today included.
func LastDays(now time.Time, n int) (from, to time.Time) {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d-(n-1), 0, 0, 0, 0, time.UTC), time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// EachAuditEvent calls fn on the events of an environment's audit log that
// f selects, newest first, at most max of them, a page of ListAuditEvents
// at a time (f.Limit and f.Before are its own). It reports whether more
// events matched than max.
func (s *Service) EachAuditEvent(ctx context.Context, envID string, f gatehouse.AuditFilter, max int, fn func(*gatehouse.AuditEvent) error) (more bool, err error) {
	f.Before, f.Limit = 0, MaxPageSize
	seen := 0
	for {
		page, err := s.ListAuditEvents(ctx, envID, f)
		if err != nil {
			return false, err
		}
		for _, e := range page.Items {
			if seen == max {
				return true, nil
			}
			if err := fn(e); err != nil {
				return false, err
			}
			seen++
		}
		if page.NextCursor == "" {
			return false, nil
		}
		if f.Before, err = strconv.ParseInt(page.NextCursor, 10, 64); err != nil {
			return false, err
		}
	}
}

// AuditSubject returns the id of the user of an environment whose id or
// username is v, for searching the audit log by user; v itself when no user
// has it (a deleted user's id, an application's client id).
func (s *Service) AuditSubject(ctx context.Context, envID, v string) string {
	if v == "" {
		return ""
	}
	if u, err := s.Store.GetUser(ctx, envID, v); err == nil {
		return u.ID
	}
	if u, err := s.Store.GetUserByUsername(ctx, envID, v); err == nil {
		return u.ID
	}
	return v
}
