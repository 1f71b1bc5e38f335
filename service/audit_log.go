package service

import (
	"context"
	"strconv"

	"github.com/gatehouse/gatehouse"
)

// AuditPage is one page of audit events, newest first.
type AuditPage struct {
	Items      []*gatehouse.AuditEvent `json:"items"`
	NextCursor string                  `json:"nextCursor,omitempty"`
}

// ListAuditEvents searches an environment's audit log.
func (s *Service) ListAuditEvents(ctx context.Context, envID string, f gatehouse.AuditFilter) (*AuditPage, error) {
	if f.Limit < 1 || f.Limit > MaxPageSize {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "limit must be between 1 and %d", MaxPageSize)
	}
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	limit := f.Limit
	f.Limit++
	events, err := s.Store.ListAuditEvents(ctx, envID, f)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Items: events}
	if len(events) > limit {
		page.Items = events[:limit]
		page.NextCursor = strconv.FormatInt(events[limit-1].Seq, 10)
	}
	return page, nil
}

// ChainReport is the result of verifying an environment's audit chain.
type ChainReport struct {
	Events int64  `json:"events"`
	Valid  bool   `json:"valid"`
	Broken int64  `json:"brokenAtSeq,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// VerifyAuditChain recomputes every event's hash and link: an altered event
// breaks its own hash, a removed one breaks the sequence or the link, and a
// removed tail no longer reaches the head.
func (s *Service) VerifyAuditChain(ctx context.Context, envID string) (*ChainReport, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	report := &ChainReport{Valid: true}
	prev, seq := gatehouse.AuditGenesis, int64(0)
	fail := func(at int64, reason string) {
		if report.Valid {
			report.Valid, report.Broken, report.Reason = false, at, reason
		}
	}
	err := s.Store.WalkAuditEvents(ctx, envID, func(e *gatehouse.AuditEvent) error {
		report.Events++
		switch {
		case e.Seq != seq+1:
			fail(seq+1, "event "+strconv.FormatInt(seq+1, 10)+" is missing")
		case e.PrevHash != prev:
			fail(e.Seq, "the link to the previous event does not match")
		case e.ComputeHash() != e.Hash:
			fail(e.Seq, "the event's content does not match its hash")
		}
		prev, seq = e.Hash, e.Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	headSeq, headHash, err := s.Store.AuditHead(ctx, envID)
	if err != nil {
		return nil, err
	}
	if headSeq != seq || headHash != prev {
		fail(seq+1, "events after "+strconv.FormatInt(seq, 10)+" are missing: the log's head is at "+strconv.FormatInt(headSeq, 10))
	}
	return report, nil
}
