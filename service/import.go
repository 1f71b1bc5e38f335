package service

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

// ActionUserImported is the audit action of a user created by an import.
const ActionUserImported = "USER_IMPORTED"

// maxImportedHashLength bounds an imported password hash.
const maxImportedHashLength = 1024

// ImportUser creates a user from another installation or system, with the
// password hash it had there (empty for none). The id is new; the fields,
// roles, status and the times of creation, update, last sign-on and password
// change are kept as given (zero times become now). The password state is
// kept when it is OK or MUST_CHANGE_PASSWORD and the user has a hash, and
// otherwise follows from the user: EXTERNAL for a corporate user, OK with a
// hash, NO_PASSWORD without. A lockout is never imported.
//
// The hash must be one that password.Verify checks (argon2id, argon2i,
// bcrypt, passlib or Django PBKDF2); it is rehashed under the current
// parameters at the user's first sign-in. Corporate users never have one.
func (s *Service) ImportUser(ctx context.Context, actor Actor, envID string, u gatehouse.User, passwordHash string) (*gatehouse.User, error) {
	now := s.now()
	u.EnvironmentID, u.ID = envID, gatehouse.NewID()
	u.LockedUntil, u.FailedAttempts, u.PasswordHash = nil, 0, ""
	if u.Status == "" {
		u.Status = gatehouse.UserActive
	}
	if u.IdentityProvider == "" {
		u.IdentityProvider = gatehouse.LocalIdentityProvider
	}
	if u.Type == "" {
		u.Type = gatehouse.UserTypeRetailer
	}
	if u.CreatedOn.IsZero() {
		u.CreatedOn = now
	}
	if u.UpdatedOn.IsZero() {
		u.UpdatedOn = now
	}
	// The store keeps microseconds: the returned user is what a read gives.
	u.CreatedOn, u.UpdatedOn = u.CreatedOn.UTC().Truncate(time.Microsecond), u.UpdatedOn.UTC().Truncate(time.Microsecond)
	for _, t := range []**time.Time{&u.LastSignOn, &u.PasswordChangedOn} {
		if *t != nil {
			at := (*t).UTC().Truncate(time.Microsecond)
			*t = &at
		}
	}
	switch {
	case u.Corporate() && passwordHash != "":
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "corporate users (identity provider %q) sign in at their identity provider and never have a password hash here", truncateText(u.IdentityProvider, 100))
	case u.Corporate():
		u.PasswordState, u.PasswordChangedOn = gatehouse.PasswordExternal, nil
	case passwordHash == "":
		u.PasswordState, u.PasswordChangedOn = gatehouse.PasswordNone, nil
	case len(passwordHash) > maxImportedHashLength || !password.Recognized(passwordHash):
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "the password hash is not in a supported format (argon2id, argon2i, bcrypt, passlib pbkdf2-sha256/sha512, Django pbkdf2_sha256) or exceeds its limits")
	default:
		u.PasswordHash = passwordHash
		if u.PasswordState != gatehouse.PasswordOK && u.PasswordState != gatehouse.PasswordMustChange {
			u.PasswordState = gatehouse.PasswordOK
		}
		if u.PasswordChangedOn == nil {
			u.PasswordChangedOn = &now
		}
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		if err := s.checkRolesExist(ctx, r, envID, u.Roles); err != nil {
			return err
		}
		if err := checkIdentityProvider(ctx, r, &u); err != nil {
			return err
		}
		if err := r.CreateUser(ctx, &u); err != nil {
			return err
		}
		if u.PasswordHash != "" {
			if err := r.AddPasswordHistory(ctx, envID, u.ID, u.PasswordHash, *u.PasswordChangedOn); err != nil {
				return err
			}
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionUserImported, TargetType: "USER", TargetID: u.ID,
			Details: map[string]string{"username": u.Username, "type": u.Type, "identityProvider": u.IdentityProvider,
				"passwordHash": boolText(u.PasswordHash != "")}})
	})
	if err != nil {
		return nil, err
	}
	return s.present(ctx, &u), nil
}

// ExportUsers calls fn on every user of an environment in id order, with
// the stored password state and hash, for an export that ImportUser reads
// back.
func (s *Service) ExportUsers(ctx context.Context, envID string, fn func(*gatehouse.User) error) error {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return err
	}
	f := gatehouse.UserFilter{Limit: 500}
	for {
		list, err := s.Store.ListUsers(ctx, envID, f)
		if err != nil {
			return err
		}
		users := list.Users
		for _, u := range users {
			if err := fn(u); err != nil {
				return err
			}
		}
		if len(users) < f.Limit {
			return nil
		}
		f.After = users[len(users)-1].ID
	}
}
