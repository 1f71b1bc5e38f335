package service

import (
	"context"
	"slices"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/policy"
)

// Audit actions of roles and policies.
const (
	ActionRoleCreated           = "ROLE_CREATED"
	ActionRoleUpdated           = "ROLE_UPDATED"
	ActionRoleDeleted           = "ROLE_DELETED"
	ActionPasswordPolicyChanged = "PASSWORD_POLICY_CHANGED"
)

// seedRoles creates the default roles of a new environment.
func (s *Service) seedRoles(ctx context.Context, r gatehouse.Repositories, envID string) error {
	now := s.now()
	for _, role := range gatehouse.DefaultRoles() {
		role.EnvironmentID, role.Builtin, role.CreatedOn, role.UpdatedOn = envID, true, now, now
		if err := r.CreateRole(ctx, &role); err != nil {
			return err
		}
	}
	return nil
}

// ListRoles lists an environment's role definitions.
func (s *Service) ListRoles(ctx context.Context, envID string) ([]*gatehouse.Role, error) {
	return s.Store.ListRoles(ctx, envID)
}

// GetRole returns one role definition.
func (s *Service) GetRole(ctx context.Context, envID, name string) (*gatehouse.Role, error) {
	return s.Store.GetRole(ctx, envID, name)
}

// CreateRole defines a custom role.
func (s *Service) CreateRole(ctx context.Context, actor Actor, envID string, role gatehouse.Role) (*gatehouse.Role, error) {
	now := s.now()
	role.EnvironmentID, role.Builtin, role.CreatedOn, role.UpdatedOn = envID, false, now, now
	if role.Permissions == nil {
		role.Permissions = []string{}
	}
	if err := role.Validate(); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if err := r.CreateRole(ctx, &role); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionRoleCreated, TargetType: "ROLE", TargetID: role.Name})
	})
	return &role, err
}

// UpdateRole changes a custom role's description and permissions. The
// administrator roles are fixed: their meaning is enforced by Gatehouse.
func (s *Service) UpdateRole(ctx context.Context, actor Actor, envID, name string, description *string, permissions *[]string) (*gatehouse.Role, error) {
	var role *gatehouse.Role
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		if role, err = r.GetRole(ctx, envID, name); err != nil {
			return err
		}
		if slices.Contains(gatehouse.AdminRoles, name) {
			return gatehouse.Errorf(gatehouse.EINVALID, "%s is an administrator role of Gatehouse and cannot be changed", name)
		}
		if description != nil {
			role.Description = *description
		}
		if permissions != nil {
			role.Permissions = *permissions
		}
		if err := role.Validate(); err != nil {
			return err
		}
		role.UpdatedOn = s.now()
		if err := r.UpdateRole(ctx, role); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionRoleUpdated, TargetType: "ROLE", TargetID: name})
	})
	return role, err
}

// DeleteRole deletes a custom role and its assignments.
func (s *Service) DeleteRole(ctx context.Context, actor Actor, envID, name string) error {
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		role, err := r.GetRole(ctx, envID, name)
		if err != nil {
			return err
		}
		if role.Builtin {
			return gatehouse.Errorf(gatehouse.EINVALID, "%s is a built-in role and cannot be deleted", name)
		}
		if err := r.DeleteRole(ctx, envID, name); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionRoleDeleted, TargetType: "ROLE", TargetID: name})
	})
}

// GetPasswordPolicy returns an environment's password policy.
func (s *Service) GetPasswordPolicy(ctx context.Context, envID string) (*gatehouse.PasswordPolicy, error) {
	return s.Store.GetPasswordPolicy(ctx, envID)
}

// CheckPasswordSample returns the rules of the environment's password
// policy that a sample password breaks, for an administrator trying the
// policy out; nothing is stored. The rules about a user and their past
// passwords (attributes, history, distance from the current one, minimum
// age) have no user to compare with and are not checked.
func (s *Service) CheckPasswordSample(ctx context.Context, envID, sample string) ([]policy.Violation, error) {
	p, err := s.GetPasswordPolicy(ctx, envID)
	if err != nil {
		return nil, err
	}
	return policy.Check(ctx, p, policy.Candidate{Password: sample})
}

// PutPasswordPolicy replaces an environment's password policy. A policy
// that names only a preset takes the preset's fields.
func (s *Service) PutPasswordPolicy(ctx context.Context, actor Actor, envID string, p gatehouse.PasswordPolicy) (*gatehouse.PasswordPolicy, error) {
	if p.Preset != "" && p == (gatehouse.PasswordPolicy{Preset: p.Preset}) {
		preset, err := gatehouse.PasswordPolicyPreset(p.Preset)
		if err != nil {
			return nil, err
		}
		p = preset
	}
	if err := policy.Validate(&p); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		if err := r.PutPasswordPolicy(ctx, envID, &p); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionPasswordPolicyChanged, TargetType: "PASSWORD_POLICY", TargetID: envID,
			Details: map[string]string{"preset": p.Preset}})
	})
	return &p, err
}
