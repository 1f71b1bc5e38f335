package service

import (
	"cmp"
	"context"
	"slices"

	"github.com/gatehouse/gatehouse"
)

// UserSessions returns a user's live sessions, newest first.
func (s *Service) UserSessions(ctx context.Context, envID, userID string) ([]*gatehouse.Session, error) {
	sessions, err := s.Store.ListUserSessions(ctx, envID, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return slices.DeleteFunc(sessions, func(sess *gatehouse.Session) bool { return !now.Before(sess.ExpiresAt) }), nil
}

// EndUserSessions signs a user out everywhere, as an administrator: every
// session ends and every refresh token of theirs is revoked. It returns
// how many live sessions ended.
func (s *Service) EndUserSessions(ctx context.Context, actor Actor, envID, userID string) (int, error) {
	n := 0
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetUser(ctx, envID, userID); err != nil {
			return err
		}
		sessions, err := r.ListUserSessions(ctx, envID, userID)
		if err != nil {
			return err
		}
		now := s.now()
		for _, sess := range sessions {
			if now.Before(sess.ExpiresAt) {
				n++
			}
		}
		if err := r.DeleteUserSessions(ctx, envID, userID, now); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionSessionEnded, TargetType: "USER", TargetID: userID,
			Details: map[string]string{"sessions": itoa(n), "which": "all"}})
	})
	return n, err
}

// UserActivity returns the last limit audit events about a user or done
// by them, newest first.
func (s *Service) UserActivity(ctx context.Context, envID, userID string, limit int) ([]*gatehouse.AuditEvent, error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "limit must be between 1 and %d", MaxPageSize)
	}
	about, err := s.Store.ListAuditEvents(ctx, envID, gatehouse.AuditFilter{TargetID: userID, Limit: limit})
	if err != nil {
		return nil, err
	}
	by, err := s.Store.ListAuditEvents(ctx, envID, gatehouse.AuditFilter{ActorID: userID, Limit: limit})
	if err != nil {
		return nil, err
	}
	events := slices.SortedFunc(slices.Values(append(about, by...)), func(a, b *gatehouse.AuditEvent) int { return cmp.Compare(b.Seq, a.Seq) })
	events = slices.CompactFunc(events, func(a, b *gatehouse.AuditEvent) bool { return a.Seq == b.Seq })
	return events[:min(len(events), limit)], nil
}
