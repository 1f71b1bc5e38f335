package service

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

// ActionBrandingChanged is the audit action of a branding change.
const ActionBrandingChanged = "BRANDING_CHANGED"

// Branding returns how an environment's pages look: its own, or the
// default. It is cached briefly, for every hosted page reads it.
func (s *Service) Branding(ctx context.Context, envID string) (*gatehouse.Branding, error) {
	return s.cache.branding.get(envID, func() (*gatehouse.Branding, error) {
		b, err := s.Store.GetBranding(ctx, envID)
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
				return nil, err
			}
			d := gatehouse.DefaultBranding()
			return &d, nil
		}
		return b, err
	})
}

// PutBranding replaces an environment's branding.
func (s *Service) PutBranding(ctx context.Context, actor Actor, envID string, b gatehouse.Branding) (*gatehouse.Branding, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		if err := r.PutBranding(ctx, envID, &b); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionBrandingChanged, TargetType: "BRANDING", TargetID: envID})
	})
	s.cache.branding.forget(envID)
	return &b, err
}
