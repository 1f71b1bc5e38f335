package service

import (
	"context"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/signing"
)

// DefaultAdminUsername is the first administrator of a new environment.
const DefaultAdminUsername = "admin"

// DefaultSigningAlgorithm signs an environment's tokens unless an
// application asks otherwise.
const DefaultSigningAlgorithm = "ES256"

// NewEnvironment is what an operator gives to create an environment.
type NewEnvironment struct {
	ID            string
	DisplayName   string
	AdminUsername string
}

// CreatedEnvironment is a new environment and its first administrator's
// one-time credentials, shown once.
type CreatedEnvironment struct {
	Environment *gatehouse.Environment `json:"environment"`
	Admin       AdminCredentials       `json:"admin"`
}

// AdminCredentials are a new administrator's username and temporary
// password; the password must be changed at first sign-in.
type AdminCredentials struct {
	Username          string `json:"username"`
	TemporaryPassword string `json:"temporaryPassword"`
}

// CreateEnvironment creates an environment with its administrator, the BASIC
// password policy and a signing key, all in one transaction.
func (s *Service) CreateEnvironment(ctx context.Context, actor Actor, in NewEnvironment) (*CreatedEnvironment, error) {
	if err := gatehouse.ValidateEnvironmentID(in.ID); err != nil {
		return nil, err
	}
	return s.createEnvironment(ctx, actor, in)
}

// Audit actions of environments, recorded in the system environment's log
// (the environment's own log starts with its creation).
const (
	ActionEnvironmentCreated = "ENVIRONMENT_CREATED"
	ActionEnvironmentUpdated = "ENVIRONMENT_UPDATED"
	ActionEnvironmentDeleted = "ENVIRONMENT_DELETED"
)

// Bootstrap creates the built-in system environment and its first operator
// on a new store. It returns nil when the system environment exists already.
func (s *Service) Bootstrap(ctx context.Context) (*CreatedEnvironment, error) {
	if _, err := s.Store.GetEnvironment(ctx, gatehouse.SystemEnvironmentID); err == nil {
		return nil, nil
	} else if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return nil, err
	}
	created, err := s.createEnvironment(ctx, OperatorActor(), NewEnvironment{ID: gatehouse.SystemEnvironmentID, DisplayName: "Operators"})
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return nil, nil // another process bootstrapped first
	}
	return created, err
}

func (s *Service) createEnvironment(ctx context.Context, actor Actor, in NewEnvironment) (*CreatedEnvironment, error) {
	now := s.now()
	if in.DisplayName == "" {
		in.DisplayName = in.ID
	}
	if in.AdminUsername == "" {
		in.AdminUsername = DefaultAdminUsername
	}
	env := &gatehouse.Environment{ID: in.ID, DisplayName: in.DisplayName, Status: gatehouse.EnvironmentActive, CreatedOn: now, UpdatedOn: now}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	temporary := password.Generate()
	hash, err := password.Hash(ctx, temporary)
	if err != nil {
		return nil, err
	}
	admin := &gatehouse.User{
		EnvironmentID: env.ID, ID: gatehouse.NewID(), Username: in.AdminUsername,
		Type: gatehouse.UserTypeAdmin, Status: gatehouse.UserActive,
		IdentityProvider: gatehouse.LocalIdentityProvider, PasswordState: gatehouse.PasswordMustChange,
		PasswordHash: hash, PasswordChangedOn: &now,
		Roles:     []gatehouse.RoleAssignment{{Role: gatehouse.RoleEnvironmentAdmin}},
		CreatedOn: now, UpdatedOn: now,
	}
	if err := admin.Validate(); err != nil {
		return nil, err
	}
	policy, err := gatehouse.PasswordPolicyPreset(gatehouse.PresetBasic)
	if err != nil {
		return nil, err
	}
	key, secret, err := s.newSigningKey(env.ID, DefaultSigningAlgorithm, gatehouse.KeyCurrent)
	if err != nil {
		return nil, err
	}
	nextKey, nextSecret, err := s.newSigningKey(env.ID, DefaultSigningAlgorithm, gatehouse.KeyNext)
	if err != nil {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		for _, step := range []func() error{
			func() error { return r.CreateEnvironment(ctx, env) },
			func() error { return r.CreateUser(ctx, admin) },
			func() error { return r.PutPasswordPolicy(ctx, env.ID, &policy) },
			func() error { return r.PutSecret(ctx, secret) },
			func() error { return r.CreateSigningKey(ctx, key) },
			func() error { return r.PutSecret(ctx, nextSecret) },
			func() error { return r.CreateSigningKey(ctx, nextKey) },
			func() error { return s.seedRoles(ctx, r, env.ID) },
			func() error { _, err := s.clientSecretKey(ctx, r, env.ID); return err },
			func() error {
				change := Change{Action: ActionEnvironmentCreated, TargetType: "ENVIRONMENT", TargetID: env.ID,
					Details: map[string]string{"admin": admin.Username}}
				if err := s.audit(ctx, r, env.ID, actor, change); err != nil || env.ID == gatehouse.SystemEnvironmentID {
					return err
				}
				return s.auditOperation(ctx, r, actor, change)
			},
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &CreatedEnvironment{Environment: env, Admin: AdminCredentials{Username: admin.Username, TemporaryPassword: temporary}}, nil
}

// newSigningKey makes a key pair whose private half is a secret encrypted
// under the keyring and bound to its environment and name.
func (s *Service) newSigningKey(envID, alg, state string) (*gatehouse.SigningKey, *gatehouse.Secret, error) {
	kid, private, public, err := signing.Generate(alg)
	if err != nil {
		return nil, nil, err
	}
	secret, err := s.seal(envID, "signing-key/"+kid, private)
	if err != nil {
		return nil, nil, err
	}
	return &gatehouse.SigningKey{
		EnvironmentID: envID, KID: kid, Algorithm: alg, State: state,
		PublicJWK: public, SecretName: secret.Name, CreatedOn: s.now(),
	}, secret, nil
}

// GetEnvironment returns one environment.
func (s *Service) GetEnvironment(ctx context.Context, id string) (*gatehouse.Environment, error) {
	return s.Store.GetEnvironment(ctx, id)
}

// MaxPageSize bounds every list.
const MaxPageSize = 1000

// EnvironmentPage is one page of environments; NextCursor, when not empty,
// asks for the next.
type EnvironmentPage struct {
	Items      []*gatehouse.Environment `json:"items"`
	NextCursor string                   `json:"nextCursor,omitempty"`
}

// ListEnvironments lists environments by id, after the cursor.
func (s *Service) ListEnvironments(ctx context.Context, cursor string, limit int) (*EnvironmentPage, error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "limit must be between 1 and %d", MaxPageSize)
	}
	envs, err := s.Store.ListEnvironments(ctx, cursor, limit+1)
	if err != nil {
		return nil, err
	}
	page := &EnvironmentPage{Items: envs}
	if len(envs) > limit {
		page.Items = envs[:limit]
		page.NextCursor = envs[limit-1].ID
	}
	return page, nil
}

// EnvironmentChange is a partial update; nil fields are left alone.
type EnvironmentChange struct {
	DisplayName *string
	Status      *string
}

// UpdateEnvironment changes an environment's display name or status. The
// system environment cannot be disabled.
func (s *Service) UpdateEnvironment(ctx context.Context, actor Actor, id string, change EnvironmentChange) (*gatehouse.Environment, error) {
	var env *gatehouse.Environment
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		if env, err = r.GetEnvironment(ctx, id); err != nil {
			return err
		}
		if change.DisplayName != nil {
			env.DisplayName = *change.DisplayName
		}
		if change.Status != nil {
			if id == gatehouse.SystemEnvironmentID && *change.Status != gatehouse.EnvironmentActive {
				return gatehouse.Errorf(gatehouse.EINVALID, "the system environment cannot be disabled")
			}
			env.Status = *change.Status
		}
		if err := env.Validate(); err != nil {
			return err
		}
		env.UpdatedOn = s.now()
		if err := r.UpdateEnvironment(ctx, env); err != nil {
			return err
		}
		return s.auditOperation(ctx, r, actor, Change{Action: ActionEnvironmentUpdated, TargetType: "ENVIRONMENT",
			TargetID: id, Details: map[string]string{"displayName": env.DisplayName, "status": env.Status}})
	})
	s.cache.forgetEnvironment(id)
	return env, err
}

// DeleteEnvironment deletes an environment and everything in it.
func (s *Service) DeleteEnvironment(ctx context.Context, actor Actor, id string) error {
	if id == gatehouse.SystemEnvironmentID {
		return gatehouse.Errorf(gatehouse.EINVALID, "the system environment cannot be deleted")
	}
	defer s.cache.forgetEnvironment(id)
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if err := r.DeleteEnvironment(ctx, id); err != nil {
			return err
		}
		return s.auditOperation(ctx, r, actor, Change{Action: ActionEnvironmentDeleted, TargetType: "ENVIRONMENT", TargetID: id})
	})
}

// ActiveEnvironment returns an environment that may serve requests: an
// unknown and a disabled environment get the same answer.
func (s *Service) ActiveEnvironment(ctx context.Context, id string) (*gatehouse.Environment, error) {
	env, err := s.cache.envs.get(id, func() (*gatehouse.Environment, error) { return s.Store.GetEnvironment(ctx, id) })
	if err == nil && env.Status != gatehouse.EnvironmentActive {
		err = gatehouse.Errorf(gatehouse.ENOTFOUND, "environment %q not found", id)
	}
	return env, err
}

// JWKS returns the JSON Web Key Set of an active environment: every key that
// is next, current or still verifying.
func (s *Service) JWKS(ctx context.Context, envID string) ([]byte, error) {
	if _, err := s.ActiveEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.cache.jwks.get(envID, func() ([]byte, error) {
		keys, err := s.signingKeys(ctx, envID)
		if err != nil {
			return nil, err
		}
		public := make([][]byte, 0, len(keys))
		for _, k := range keys {
			public = append(public, k.PublicJWK)
		}
		return signing.JWKS(public)
	})
}

// signingKeys lists an environment's keys, cached briefly.
func (s *Service) signingKeys(ctx context.Context, envID string) ([]*gatehouse.SigningKey, error) {
	return s.cache.keys.get(envID, func() ([]*gatehouse.SigningKey, error) { return s.Store.ListSigningKeys(ctx, envID) })
}

// auditOperation records an operator's action in the system environment's
// log. A store without a system environment (only in tests of the service
// alone) has no log to write to.
func (s *Service) auditOperation(ctx context.Context, r gatehouse.Repositories, actor Actor, c Change) error {
	if _, err := r.GetEnvironment(ctx, gatehouse.SystemEnvironmentID); gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	return s.audit(ctx, r, gatehouse.SystemEnvironmentID, actor, c)
}
