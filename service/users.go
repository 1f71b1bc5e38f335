package service

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/policy"
)

// Audit actions of the directory.
const (
	ActionUserCreated          = "USER_CREATED"
	ActionUserUpdated          = "USER_UPDATED"
	ActionUserDeleted          = "USER_DELETED"
	ActionUserPasswordSet      = "USER_PASSWORD_SET"
	ActionUserPasswordChanged  = "USER_PASSWORD_CHANGED"
	ActionUserForceChange      = "USER_PASSWORD_FORCE_CHANGE"
	ActionUserUnlocked         = "USER_UNLOCKED"
	ActionUserRolesSet         = "USER_ROLES_SET"
	ActionUserLockedOut        = "USER_LOCKED_OUT"
	ActionAuthenticationFailed = gatehouse.AuditActionAuthenticationFailed
	ActionAuthenticated        = gatehouse.AuditActionAuthenticated
)

// NewUser is what an administrator gives to create a user. Password, when
// set, is an initial password the user must change at first sign-in.
type NewUser struct {
	gatehouse.User
	Password string
	// KeepPassword creates the user with the password as final (state OK)
	// instead of one to change at first sign-in: for API users, which never
	// sign in interactively.
	KeepPassword bool
}

// CreateUser creates a user of any kind: local (with or without an initial
// password), corporate (bound to an identity provider, never a password),
// API or administrator.
func (s *Service) CreateUser(ctx context.Context, actor Actor, envID string, in NewUser) (*gatehouse.User, error) {
	now := s.now()
	u := in.User
	u.EnvironmentID, u.ID, u.CreatedOn, u.UpdatedOn = envID, gatehouse.NewID(), now, now
	u.LastSignOn, u.LockedUntil, u.FailedAttempts, u.PasswordHash, u.PasswordChangedOn = nil, nil, 0, "", nil
	if u.Status == "" {
		u.Status = gatehouse.UserActive
	}
	if u.IdentityProvider == "" {
		u.IdentityProvider = gatehouse.LocalIdentityProvider
	}
	if u.Type == "" {
		u.Type = gatehouse.UserTypeRetailer
	}
	switch {
	case u.Corporate() && in.Password != "":
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "corporate users sign in at their identity provider and never have a password here")
	case u.Corporate():
		u.PasswordState = gatehouse.PasswordExternal
	case in.Password == "":
		u.PasswordState = gatehouse.PasswordNone
	case in.KeepPassword:
		u.PasswordState = gatehouse.PasswordOK
	default:
		u.PasswordState = gatehouse.PasswordMustChange
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if in.Password != "" {
		p, err := s.Store.GetPasswordPolicy(ctx, envID)
		if err != nil {
			return nil, err
		}
		if err := checkPassword(ctx, p, policy.Candidate{Password: in.Password, User: &u, Now: now}); err != nil {
			return nil, err
		}
		if u.PasswordHash, err = password.Hash(ctx, in.Password); err != nil {
			return nil, err
		}
		u.PasswordChangedOn = &now
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
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
			if err := r.AddPasswordHistory(ctx, envID, u.ID, u.PasswordHash, now); err != nil {
				return err
			}
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionUserCreated, TargetType: "USER", TargetID: u.ID,
			Details: map[string]string{"username": u.Username, "type": u.Type, "identityProvider": u.IdentityProvider}})
	})
	if err != nil {
		return nil, err
	}
	return s.present(ctx, &u), nil
}

// checkPassword turns policy violations into one error naming each rule.
func checkPassword(ctx context.Context, p *gatehouse.PasswordPolicy, c policy.Candidate) error {
	violations, err := policy.Check(ctx, p, c)
	if err != nil {
		return err
	}
	if len(violations) == 0 {
		return nil
	}
	msgs := make([]string, len(violations))
	for i, v := range violations {
		msgs[i] = v.Message
	}
	return gatehouse.Errorf(gatehouse.EINVALID, "the password does not meet the password policy: %s", strings.Join(msgs, "; "))
}

func (s *Service) checkRolesExist(ctx context.Context, r gatehouse.Repositories, envID string, roles []gatehouse.RoleAssignment) error {
	if err := gatehouse.ValidateRoleAssignments(roles); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, a := range roles {
		if known[a.Role] {
			continue
		}
		if _, err := r.GetRole(ctx, envID, a.Role); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
				return gatehouse.Errorf(gatehouse.EINVALID, "role %s is not defined in this environment", a.Role)
			}
			return err
		}
		known[a.Role] = true
	}
	return nil
}

// present fills the password state as of now for a representation.
func (s *Service) present(ctx context.Context, u *gatehouse.User) *gatehouse.User {
	p, _ := s.Store.GetPasswordPolicy(ctx, u.EnvironmentID)
	u.PasswordState = u.EffectivePasswordState(p, s.now())
	return u
}

// GetUser returns one user of an environment.
func (s *Service) GetUser(ctx context.Context, envID, id string) (*gatehouse.User, error) {
	u, err := s.Store.GetUser(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	return s.present(ctx, u), nil
}

// UserPage is one page of users.
type UserPage struct {
	Items      []*gatehouse.User `json:"items"`
	NextCursor string            `json:"nextCursor,omitempty"`
	// SearchLimitReached says that the search read its limit of users
	// (SearchScan) without filling the page: more may match after them,
	// from NextCursor. The page may hold fewer users than asked, or none.
	SearchLimitReached bool `json:"searchLimitReached,omitempty"`
	SearchScan         int  `json:"-"`
}

// DefaultUserSearchScan is how many users one page of a search reads at
// most when no index narrows it to a few (a substring too short for the
// trigram index, a pattern that matches most users but not the other
// filters, …), so that every page answers in bounded time at any size of
// environment: about 25 ms on SQLite on a 2-core machine, inside the 50 ms
// p99 that DESIGN.md §7 gives user lists.
const DefaultUserSearchScan = 30_000

func (s *Service) userSearchScan() int {
	if s.UserSearchScan > 0 {
		return s.UserSearchScan
	}
	return DefaultUserSearchScan
}

// ListUsers lists users by filter; cursor is the opaque nextCursor of the
// previous page.
func (s *Service) ListUsers(ctx context.Context, envID string, f gatehouse.UserFilter, cursor string) (*UserPage, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > MaxPageSize {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "limit must be between 1 and %d", MaxPageSize)
	}
	// A time-range filter lists in that time's order, so that one index
	// serves the range and the order.
	switch {
	case f.CreatedFrom != nil || f.CreatedTo != nil:
		f.Order = gatehouse.OrderByCreated
	case f.UpdatedFrom != nil || f.UpdatedTo != nil:
		f.Order = gatehouse.OrderByUpdated
	}
	if cursor != "" {
		if err := decodeUserCursor(cursor, &f); err != nil {
			return nil, err
		}
	}
	limit := f.Limit
	f.Limit++
	f.Scan = s.userSearchScan()
	list, err := s.Store.ListUsers(ctx, envID, f)
	if err != nil {
		return nil, err
	}
	page := &UserPage{Items: list.Users, SearchScan: f.Scan}
	switch {
	case len(list.Users) > limit:
		last := list.Users[limit-1]
		page.Items = list.Users[:limit]
		page.NextCursor = encodeUserCursor(f.Order, last.ID, last.ListTime(f.Order))
	case list.Stopped:
		page.SearchLimitReached = true
		page.NextCursor = encodeUserCursor(f.Order, list.StoppedAt, list.StoppedAtTime)
	}
	p, _ := s.Store.GetPasswordPolicy(ctx, envID)
	for _, u := range page.Items {
		u.PasswordState = u.EffectivePasswordState(p, s.now())
	}
	return page, nil
}

// A user cursor is opaque to clients: the order, the time in that order
// and the id of the position the next page starts after.
func encodeUserCursor(order, id string, at time.Time) string {
	micros := int64(0)
	if order != gatehouse.OrderByID {
		micros = at.UnixMicro()
	}
	return base64.RawURLEncoding.EncodeToString([]byte(order + "|" + strconv.FormatInt(micros, 10) + "|" + id))
}

func decodeUserCursor(cursor string, f *gatehouse.UserFilter) error {
	invalid := gatehouse.Errorf(gatehouse.EINVALID, "cursor is not one this server gave for this filter")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) > 128 {
		return invalid
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != f.Order || parts[2] == "" {
		return invalid
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return invalid
	}
	f.After, f.AfterTime = parts[2], time.UnixMicro(at).UTC()
	return nil
}

// UserPatch changes some fields of a user; nil fields are left alone.
type UserPatch struct {
	Username, Ref, Title, FirstName, LastName, PrimaryEmail, PrimaryPhone *string
	Type, Status, Timezone, Language, Department, Country                 *string
	PrimaryRetailer, PrimaryLocation                                      *string
	PromotionOptIn                                                        *bool
	Attributes                                                            *[]gatehouse.Attribute
	Roles                                                                 *[]gatehouse.RoleAssignment
}

// Apply sets the patch's fields on u.
func (p *UserPatch) Apply(u *gatehouse.User) {
	for _, f := range []struct {
		from *string
		to   *string
	}{
		{p.Username, &u.Username}, {p.Ref, &u.Ref}, {p.Title, &u.Title}, {p.FirstName, &u.FirstName},
		{p.LastName, &u.LastName}, {p.PrimaryEmail, &u.PrimaryEmail}, {p.PrimaryPhone, &u.PrimaryPhone},
		{p.Type, &u.Type}, {p.Status, &u.Status}, {p.Timezone, &u.Timezone}, {p.Language, &u.Language},
		{p.Department, &u.Department}, {p.Country, &u.Country}, {p.PrimaryRetailer, &u.PrimaryRetailer},
		{p.PrimaryLocation, &u.PrimaryLocation},
	} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	if p.PromotionOptIn != nil {
		u.PromotionOptIn = *p.PromotionOptIn
	}
	if p.Attributes != nil {
		u.Attributes = *p.Attributes
	}
	if p.Roles != nil {
		u.Roles = *p.Roles
	}
}

// UpdateUser applies a patch. Making a user INACTIVE stops every sign-in
// and token of theirs.
func (s *Service) UpdateUser(ctx context.Context, actor Actor, envID, id string, patch UserPatch) (*gatehouse.User, error) {
	return s.changeUser(ctx, actor, envID, id, ActionUserUpdated, func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error) {
		before := *u
		patch.Apply(u)
		if u.Type == gatehouse.UserTypeAPI && before.Type != gatehouse.UserTypeAPI && u.Corporate() {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "API users are always local")
		}
		if patch.Roles != nil {
			if err := s.checkRolesExist(ctx, r, envID, u.Roles); err != nil {
				return nil, err
			}
		}
		if err := u.Validate(); err != nil {
			return nil, err
		}
		if u.Status == gatehouse.UserInactive && before.Status != gatehouse.UserInactive {
			// A disabled user's sessions and refresh tokens die with it.
			if err := r.DeleteUserSessions(ctx, envID, u.ID, s.now()); err != nil {
				return nil, err
			}
		}
		return map[string]string{"fields": strings.Join(patch.fields(), ",")}, nil
	})
}

func (p *UserPatch) fields() []string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"username", p.Username != nil}, {"ref", p.Ref != nil}, {"title", p.Title != nil},
		{"firstName", p.FirstName != nil}, {"lastName", p.LastName != nil}, {"primaryEmail", p.PrimaryEmail != nil},
		{"primaryPhone", p.PrimaryPhone != nil}, {"type", p.Type != nil}, {"status", p.Status != nil},
		{"timezone", p.Timezone != nil}, {"language", p.Language != nil}, {"department", p.Department != nil},
		{"country", p.Country != nil}, {"primaryRetailer", p.PrimaryRetailer != nil},
		{"primaryLocation", p.PrimaryLocation != nil}, {"promotionOptIn", p.PromotionOptIn != nil},
		{"attributes", p.Attributes != nil}, {"roles", p.Roles != nil},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// changeUser reads, changes and writes a user in one transaction with its
// audit event.
func (s *Service) changeUser(ctx context.Context, actor Actor, envID, id, action string,
	change func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error)) (*gatehouse.User, error) {
	var u *gatehouse.User
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		if u, err = r.GetUser(ctx, envID, id); err != nil {
			return err
		}
		details, err := change(r, u)
		if err != nil {
			return err
		}
		u.UpdatedOn = s.now()
		if err := r.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: action, TargetType: "USER", TargetID: id, Details: details})
	})
	if err != nil {
		return nil, err
	}
	return s.present(ctx, u), nil
}

// DeleteUser deletes a user.
func (s *Service) DeleteUser(ctx context.Context, actor Actor, envID, id string) error {
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		u, err := r.GetUser(ctx, envID, id)
		if err != nil {
			return err
		}
		if err := r.DeleteUser(ctx, envID, id); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionUserDeleted, TargetType: "USER", TargetID: id,
			Details: map[string]string{"username": u.Username}})
	})
}

// SetRoles replaces a user's role assignments.
func (s *Service) SetRoles(ctx context.Context, actor Actor, envID, id string, roles []gatehouse.RoleAssignment) (*gatehouse.User, error) {
	return s.changeUser(ctx, actor, envID, id, ActionUserRolesSet, func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error) {
		if err := s.checkRolesExist(ctx, r, envID, roles); err != nil {
			return nil, err
		}
		u.Roles = roles
		names, assignments := make([]string, len(roles)), make([]string, len(roles))
		for i, a := range roles {
			names[i], assignments[i] = a.Role, a.Role
			if a.Context != nil {
				assignments[i] += " in " + a.Context.Type + " " + a.Context.ID
			}
		}
		// roles keeps its earlier form (names only) for whoever reads the
		// log; assignments adds the contexts.
		return map[string]string{"roles": strings.Join(names, ","), "assignments": strings.Join(assignments, "; ")}, nil
	})
}

// errExternal is the answer to every password action on a corporate user.
func errExternal() error {
	return gatehouse.Errorf(gatehouse.EINVALID, "this is a corporate user: the password is managed by their identity provider, never here")
}

// SetPassword sets a user's password as an administrator. With forceChange
// the user must change it at next sign-in. It unlocks the user too.
func (s *Service) SetPassword(ctx context.Context, actor Actor, envID, id, newPassword string, forceChange bool) (*gatehouse.User, error) {
	u, err := s.Store.GetUser(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	if u.Corporate() {
		return nil, errExternal()
	}
	p, err := s.Store.GetPasswordPolicy(ctx, envID)
	if err != nil {
		return nil, err
	}
	history, err := s.Store.PasswordHistory(ctx, envID, id, max(p.HistoryCount, 0))
	if err != nil {
		return nil, err
	}
	if err := checkPassword(ctx, p, policy.Candidate{Password: newPassword, User: u, History: history, Now: s.now()}); err != nil {
		return nil, err
	}
	hash, err := password.Hash(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	return s.changeUser(ctx, actor, envID, id, ActionUserPasswordSet, func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error) {
		if u.Corporate() {
			return nil, errExternal()
		}
		now := s.now()
		u.PasswordHash, u.PasswordChangedOn = hash, &now
		u.PasswordState = gatehouse.PasswordOK
		if forceChange {
			u.PasswordState = gatehouse.PasswordMustChange
		}
		u.LockedUntil, u.FailedAttempts = nil, 0
		if err := r.DeleteUserSessions(ctx, envID, id, now); err != nil {
			return nil, err
		}
		// Codes sent before the change (a password reset's) stop working.
		if err := r.DeleteOneTimeCodes(ctx, envID, id); err != nil {
			return nil, err
		}
		return map[string]string{"forceChange": boolText(forceChange)}, r.AddPasswordHistory(ctx, envID, id, hash, now)
	})
}

// ForcePasswordChange makes a local user with a password change it at next
// sign-in.
func (s *Service) ForcePasswordChange(ctx context.Context, actor Actor, envID, id string) (*gatehouse.User, error) {
	return s.changeUser(ctx, actor, envID, id, ActionUserForceChange, func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error) {
		switch {
		case u.Corporate():
			return nil, errExternal()
		case u.PasswordHash == "":
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "the user has no password to change: set one instead")
		}
		u.PasswordState = gatehouse.PasswordMustChange
		return nil, nil
	})
}

// Unlock ends a lockout. Administrators can unlock, not lock.
func (s *Service) Unlock(ctx context.Context, actor Actor, envID, id string) (*gatehouse.User, error) {
	return s.changeUser(ctx, actor, envID, id, ActionUserUnlocked, func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error) {
		if u.Corporate() {
			return nil, errExternal()
		}
		u.LockedUntil, u.FailedAttempts = nil, 0
		return nil, nil
	})
}

// ChangeOwnPassword is a user changing their password: the current one is
// checked, and the new one must meet every rule, minimum age and distance
// from the current one included. Afterwards the state is OK.
func (s *Service) ChangeOwnPassword(ctx context.Context, actor Actor, envID, id, current, newPassword string) (*gatehouse.User, error) {
	u, err := s.Store.GetUser(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	if u.Corporate() {
		return nil, errExternal()
	}
	if ok, _, _ := password.Verify(ctx, current, u.PasswordHash); !ok || u.PasswordHash == "" {
		return nil, gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the current password is not right")
	}
	p, err := s.Store.GetPasswordPolicy(ctx, envID)
	if err != nil {
		return nil, err
	}
	history, err := s.Store.PasswordHistory(ctx, envID, id, max(p.HistoryCount, 1))
	if err != nil {
		return nil, err
	}
	c := policy.Candidate{Password: newPassword, User: u, Current: current, History: history, Now: s.now()}
	if u.PasswordState == gatehouse.PasswordOK {
		c.LastChanged = u.PasswordChangedOn // a forced or expired change is never too soon
	}
	if err := checkPassword(ctx, p, c); err != nil {
		return nil, err
	}
	if newPassword == current {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "the new password must differ from the current one")
	}
	hash, err := password.Hash(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	return s.changeUser(ctx, actor, envID, id, ActionUserPasswordChanged, func(r gatehouse.Repositories, u *gatehouse.User) (map[string]string, error) {
		now := s.now()
		u.PasswordHash, u.PasswordChangedOn, u.PasswordState = hash, &now, gatehouse.PasswordOK
		if err := r.DeleteUserSessions(ctx, envID, id, now); err != nil {
			return nil, err
		}
		if err := r.DeleteOneTimeCodes(ctx, envID, id); err != nil {
			return nil, err
		}
		return nil, r.AddPasswordHistory(ctx, envID, id, hash, now)
	})
}

// Authenticate checks a local user's password. It answers the same error,
// after the same work, for an unknown user, a wrong password, a locked,
// disabled or corporate user, so that nothing reveals which it was.
// Failures count toward the lockout; a success resets the count, rehashes
// an imported hash and records the sign-on.
func (s *Service) Authenticate(ctx context.Context, actor Actor, envID, username, plain string) (*gatehouse.User, error) {
	refuse := gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the username or password is not right, or the account cannot sign in")
	now := s.now()
	if !s.failures.allowed(actor.ClientIP, time.Now()) {
		return nil, gatehouse.Errorf(gatehouse.ETOOMANY, "too many failed sign-ins from this address: try again in a few seconds")
	}
	u, err := s.Store.GetUserByUsername(ctx, envID, username)
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return nil, err
	}
	if u == nil || u.Corporate() || u.PasswordHash == "" {
		password.VerifyDummy(ctx, plain)
		s.recordFailure(ctx, envID, actor, username, "", "unknown user or no password")
		return nil, refuse
	}
	p, err := s.Store.GetPasswordPolicy(ctx, envID)
	if err != nil {
		return nil, err
	}
	if u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		password.VerifyDummy(ctx, plain)
		s.recordFailure(ctx, envID, actor, username, u.ID, "locked out")
		return nil, refuse
	}
	ok, rehash, err := password.Verify(ctx, plain, u.PasswordHash)
	if errors.Is(err, password.ErrBusy) {
		return nil, gatehouse.Errorf(gatehouse.EUNAVAILABLE, "too many sign-ins at once: try again in a moment")
	}
	if err != nil {
		// A stored hash that cannot be read refuses like a wrong password;
		// the operator learns of it from the audit log.
		s.recordFailure(ctx, envID, actor, username, u.ID, "unreadable password hash")
		return nil, refuse
	}
	if !ok {
		n, err := s.Store.RegisterFailedAttempt(ctx, envID, u.ID, p.LockoutFailures, now.Add(time.Duration(p.LockoutSeconds)*time.Second))
		if err != nil {
			return nil, err
		}
		s.recordFailure(ctx, envID, actor, username, u.ID, "wrong password")
		if n == p.LockoutFailures {
			s.Store.AppendAuditEvent(ctx, s.event(envID, actor, Change{Action: ActionUserLockedOut, TargetType: "USER", TargetID: u.ID,
				Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"failures": itoa(n)}}))
		}
		return nil, refuse
	}
	if u.Status != gatehouse.UserActive {
		s.recordFailure(ctx, envID, actor, username, u.ID, "inactive")
		return nil, refuse
	}
	// Write only what changed: a machine signing in many times a minute
	// need not queue a write each time (lastSignOn is kept to the minute).
	dirty := rehash || u.FailedAttempts != 0 || u.LockedUntil != nil || u.LastSignOn == nil || now.Sub(*u.LastSignOn) >= time.Minute
	u.FailedAttempts, u.LockedUntil = 0, nil
	if u.LastSignOn == nil || now.Sub(*u.LastSignOn) >= time.Minute {
		u.LastSignOn = &now
	}
	if rehash {
		if u.PasswordHash, err = password.Hash(ctx, plain); err != nil {
			return nil, err
		}
	}
	if dirty {
		if err := s.Store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
	}
	return s.present(ctx, u), nil
}

func (s *Service) recordFailure(ctx context.Context, envID string, actor Actor, username, userID, reason string) {
	s.failures.failed(actor.ClientIP, time.Now())
	e := s.event(envID, actor, Change{Action: ActionAuthenticationFailed, TargetType: "USER", TargetID: userID,
		Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"username": truncateText(username, 250), "reason": reason}})
	s.record(ctx, e)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
