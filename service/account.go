package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The self-service account page (/{env}/account): a signed-in user's
// profile, password, second factors, sessions and sign-in activity. Its
// caller is the session cookie; its sign-in is a login flow without a
// client that comes back to the page.

// AccountReauthAfter is how recent a session's sign-in must be for the
// changes that would let a thief keep an account: a new password, a
// second factor added or removed, new recovery codes.
const AccountReauthAfter = 10 * time.Minute

// accountActivityCount is how many recent sign-in events the page lists.
const accountActivityCount = 20

// ActionSessionEnded is a user ending one of their own sessions from the
// account page.
const ActionSessionEnded = "SESSION_ENDED"

var (
	// ErrNoAccountSession answers the account page without a live session.
	ErrNoAccountSession = gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "sign in to see your account")
	// ErrReauthenticate answers a sensitive change on a session whose
	// sign-in is older than AccountReauthAfter.
	ErrReauthenticate = gatehouse.Errorf(gatehouse.EFORBIDDEN,
		"for this change, confirm it's you: your last sign-in was more than 10 minutes ago")
	errAPIAccount = gatehouse.Errorf(gatehouse.EFORBIDDEN, "API users have no account page: they are machine accounts")
)

// AccountPath is the account page of an environment.
func AccountPath(envID string) string { return "/" + envID + "/account" }

// IsAccountPath reports whether target is the environment's account page
// or a page under it: the only places a sign-in without a client may end,
// so that it can never redirect anywhere else.
func IsAccountPath(envID, target string) bool {
	base := AccountPath(envID)
	if target != base && !strings.HasPrefix(target, base+"/") && !strings.HasPrefix(target, base+"?") {
		return false
	}
	return !strings.ContainsAny(target, "\\\x00\r\n\t") && !strings.Contains(target, "//") && !strings.Contains(target, "/..")
}

// AccountSignIn is the request of a sign-in that leads to the account
// page; reauth asks the user to prove who they are again (prompt=login,
// which a corporate IdP gets as a forced authentication) as username.
func AccountSignIn(envID, username string, reauth bool) gatehouse.AuthorizationRequest {
	req := gatehouse.AuthorizationRequest{RedirectURI: AccountPath(envID)}
	if reauth {
		req.Prompt, req.LoginHint = "login", username
	}
	return req
}

// AccountToken is the token of the account page's forms: an HMAC of the
// environment under the session's secret, which a page of another site
// cannot compute.
func AccountToken(envID, cookie string) string {
	return FormToken(cookie, "account/"+envID)
}

// CheckAccountToken compares a form's token with the session's.
func CheckAccountToken(envID, cookie, token string) bool {
	return CheckFormToken(cookie, "account/"+envID, token)
}

// AccountSession returns the session a cookie stands for and its user, if
// they may use the account page: a live session that the environment's
// sign-on policy still accepts, of a user who is not an API user.
func (s *Service) AccountSession(ctx context.Context, envID, cookie string) (*gatehouse.Session, *gatehouse.User, error) {
	sess := s.SessionFor(ctx, envID, cookie)
	if sess == nil || !s.SessionSatisfies(ctx, sess, &gatehouse.AuthorizationRequest{}) {
		return nil, nil, ErrNoAccountSession
	}
	u, err := s.Store.GetUser(ctx, envID, sess.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, nil, ErrNoAccountSession
	}
	if err != nil {
		return nil, nil, err
	}
	if u.Type == gatehouse.UserTypeAPI {
		return nil, nil, errAPIAccount
	}
	return sess, s.present(ctx, u), nil
}

// RecentSignIn reports whether the session's sign-in is recent enough for
// a sensitive change, and until when it is.
func (s *Service) RecentSignIn(sess *gatehouse.Session) (bool, time.Time) {
	until := sess.AuthTime.Add(AccountReauthAfter)
	return s.now().Before(until), until
}

func (s *Service) requireRecentSignIn(sess *gatehouse.Session) error {
	if ok, _ := s.RecentSignIn(sess); !ok {
		return ErrReauthenticate
	}
	return nil
}

// EndReplacedSession ends the session a browser held before it signed in
// again, when it was the same user's: its cookie is gone, so it would only
// linger in the user's list of sessions.
func (s *Service) EndReplacedSession(ctx context.Context, envID, oldCookie string, current *gatehouse.Session) {
	if old := s.SessionFor(ctx, envID, oldCookie); old != nil && old.ID != current.ID && old.UserID == current.UserID {
		s.Store.DeleteSession(ctx, envID, old.ID)
	}
}

// Account is what the account page shows.
type Account struct {
	User    *gatehouse.User
	Session *gatehouse.Session
	// Recent says the session's sign-in allows sensitive changes, until
	// RecentUntil.
	Recent      bool
	RecentUntil time.Time
	// PasswordRules are the password policy's rules in words; local users
	// only.
	PasswordRules []string
	// SecondFactors is false for a corporate user whose IdP handles second
	// factors: Gatehouse never asks them for one.
	SecondFactors bool
	// Devices are the user's confirmed second factors; AddMethods the
	// methods they may add now.
	Devices    []*gatehouse.MFADevice
	AddMethods []string
	// RecoveryCodes says the policy allows them and the user has a device
	// they back up; RecoveryCodesLeft counts the unused ones.
	RecoveryCodes     bool
	RecoveryCodesLeft int
	// Sessions are the user's live sessions, newest first.
	Sessions []*gatehouse.Session
	// Activity is the user's recent sign-in events, newest first.
	Activity []*gatehouse.AuditEvent
}

// Account gathers the account page of a session's user.
func (s *Service) Account(ctx context.Context, sess *gatehouse.Session, u *gatehouse.User) (*Account, error) {
	envID := sess.EnvironmentID
	a := &Account{User: u, Session: sess}
	a.Recent, a.RecentUntil = s.RecentSignIn(sess)
	if !u.Corporate() {
		a.PasswordRules = s.PolicyDescription(ctx, envID)
	}
	p, err := s.Store.GetMFAPolicy(ctx, envID)
	if err != nil {
		return nil, err
	}
	devices, err := s.Store.ListMFADevices(ctx, envID, u.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range devices {
		if d.Confirmed {
			a.Devices = append(a.Devices, d)
		}
	}
	a.SecondFactors = !u.Corporate() || len(a.Devices) > 0 || s.corporateMFA(ctx, u)
	if a.SecondFactors {
		a.AddMethods = s.accountMethods(ctx, u, p, a.Devices)
		a.RecoveryCodes = p.Allows(gatehouse.MethodRecoveryCode) && len(a.Devices) > 0
		if a.RecoveryCodesLeft, err = s.Store.CountRecoveryCodes(ctx, envID, u.ID); err != nil {
			return nil, err
		}
	}
	if a.Sessions, err = s.UserSessions(ctx, envID, u.ID); err != nil {
		return nil, err
	}
	a.Activity, err = s.accountActivity(ctx, envID, u.ID)
	return a, err
}

// corporateMFA reports whether Gatehouse asks a corporate user for a
// second factor: only when their IdP requires it.
func (s *Service) corporateMFA(ctx context.Context, u *gatehouse.User) bool {
	idp, err := s.Store.GetIdentityProvider(ctx, u.EnvironmentID, u.IdentityProvider)
	return err == nil && idp.MFARequired
}

// accountMethods are the methods a user may add on the account page: those
// they could enrol at a sign-in, but email only once.
func (s *Service) accountMethods(ctx context.Context, u *gatehouse.User, p *gatehouse.MFAPolicy, devices []*gatehouse.MFADevice) []string {
	hasEmail := slices.ContainsFunc(devices, func(d *gatehouse.MFADevice) bool { return d.Type == gatehouse.MethodEmail })
	return slices.DeleteFunc(s.enrollableMethods(ctx, u, p), func(m string) bool { return m == gatehouse.MethodEmail && hasEmail })
}

// accountActions are the audit actions the page lists as sign-in activity.
var accountActions = []string{
	ActionAuthenticated, ActionAuthenticationFailed, ActionUserLockedOut, ActionMFASucceeded, ActionMFAFailed, ActionMFABlocked,
	ActionMFAEnrolled, ActionMFADeviceRemoved, ActionRecoveryCodesCreated, ActionUserPasswordChanged, ActionUserPasswordSet,
	ActionPasswordResetComplete, "SIGNED_OUT", ActionSessionEnded,
}

// accountActivity is the user's last sign-in events. The log holds other
// events about the user too (tokens issued, administrators' changes), so
// it reads a few pages back at most.
func (s *Service) accountActivity(ctx context.Context, envID, userID string) ([]*gatehouse.AuditEvent, error) {
	var out []*gatehouse.AuditEvent
	f := gatehouse.AuditFilter{TargetID: userID, Limit: 200}
	for range 5 {
		events, err := s.Store.ListAuditEvents(ctx, envID, f)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			if e.TargetType == "USER" && slices.Contains(accountActions, e.Action) {
				if out = append(out, e); len(out) == accountActivityCount {
					return out, nil
				}
			}
		}
		if len(events) < f.Limit {
			break
		}
		f.Before = events[len(events)-1].Seq
	}
	return out, nil
}

// Profile holds the fields a user may change about themselves. The rest
// (username, email, roles, type, status) are their administrator's.
type Profile struct {
	FirstName, LastName, PrimaryPhone, Timezone, Language string
}

// UpdateOwnProfile changes the session's user's profile, checked by the
// same rules as any change to a user and audited as one; unchanged fields
// are left out of the change.
func (s *Service) UpdateOwnProfile(ctx context.Context, actor Actor, sess *gatehouse.Session, in Profile) (*gatehouse.User, error) {
	u, err := s.Store.GetUser(ctx, sess.EnvironmentID, sess.UserID)
	if err != nil {
		return nil, err
	}
	var patch UserPatch
	for _, f := range []struct {
		to   **string
		was  string
		next string
	}{
		{&patch.FirstName, u.FirstName, in.FirstName}, {&patch.LastName, u.LastName, in.LastName},
		{&patch.PrimaryPhone, u.PrimaryPhone, in.PrimaryPhone}, {&patch.Timezone, u.Timezone, in.Timezone},
		{&patch.Language, u.Language, in.Language},
	} {
		if next := strings.TrimSpace(f.next); next != f.was {
			*f.to = &next
		}
	}
	if len(patch.fields()) == 0 {
		return s.present(ctx, u), nil
	}
	return s.UpdateUser(ctx, selfActor(actor, u.ID), sess.EnvironmentID, u.ID, patch)
}

// selfActor is the user acting on their own account.
func selfActor(actor Actor, userID string) Actor {
	actor.Type, actor.ID = gatehouse.ActorUser, userID
	return actor
}

// ChangeAccountPassword changes the session's user's password: the
// current one is checked (a wrong one counts as a failed sign-in from the
// address), the new one must meet the policy. A password change ends every
// session of the user; this browser gets a new one, with the same sign-in
// time and methods, which the result's cookie carries.
func (s *Service) ChangeAccountPassword(ctx context.Context, actor Actor, sess *gatehouse.Session, current, next, confirm string) (*LoginResult, error) {
	if err := s.requireRecentSignIn(sess); err != nil {
		return nil, err
	}
	if next != confirm {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "the two new passwords differ")
	}
	if !s.failures.allowed(actor.ClientIP, time.Now()) {
		return nil, gatehouse.Errorf(gatehouse.ETOOMANY, "too many wrong passwords from this address: try again in a few seconds")
	}
	actor = selfActor(actor, sess.UserID)
	if _, err := s.ChangeOwnPassword(ctx, actor, sess.EnvironmentID, sess.UserID, current, next); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.EUNAUTHORIZED {
			s.recordFailure(ctx, sess.EnvironmentID, actor, "", sess.UserID, "wrong current password on the account page")
		}
		return nil, err
	}
	now := s.now()
	cookie := randomToken(32)
	renewed := *sess
	renewed.ID, renewed.CreatedOn = hashSecret(cookie), now
	if err := s.Store.CreateSession(ctx, &renewed); err != nil {
		return nil, err
	}
	return &LoginResult{Session: &renewed, Cookie: cookie}, nil
}

// StartAccountEnrolment begins adding a second factor from the account
// page. Its state is a stored flow, bound to the browser by the returned
// secret, so that any node can finish it.
func (s *Service) StartAccountEnrolment(ctx context.Context, sess *gatehouse.Session, method string) (*gatehouse.LoginFlow, string, error) {
	if err := s.requireRecentSignIn(sess); err != nil {
		return nil, "", err
	}
	u, p, err := s.accountUser(ctx, sess)
	if err != nil {
		return nil, "", err
	}
	devices, err := s.Store.ListMFADevices(ctx, sess.EnvironmentID, u.ID)
	if err != nil {
		return nil, "", err
	}
	if !slices.Contains(s.accountMethods(ctx, u, p, confirmedDevices(devices)), method) {
		return nil, "", gatehouse.Errorf(gatehouse.EINVALID, "that kind of second factor cannot be added here")
	}
	now := s.now()
	secret := randomToken(32)
	f := &gatehouse.LoginFlow{EnvironmentID: sess.EnvironmentID, ID: randomToken(18), Binding: hashSecret(secret), Step: gatehouse.StepAccountEnrol,
		Request: AccountSignIn(sess.EnvironmentID, "", false), Username: u.Username, UserID: u.ID, MFA: &gatehouse.MFALogin{Method: method},
		CreatedOn: now, ExpiresAt: now.Add(LoginFlowTTL)}
	return f, secret, s.Store.CreateLoginFlow(ctx, f)
}

func confirmedDevices(devices []*gatehouse.MFADevice) []*gatehouse.MFADevice {
	return slices.DeleteFunc(slices.Clone(devices), func(d *gatehouse.MFADevice) bool { return !d.Confirmed })
}

// accountUser is the session's user, still active, with the MFA policy.
func (s *Service) accountUser(ctx context.Context, sess *gatehouse.Session) (*gatehouse.User, *gatehouse.MFAPolicy, error) {
	u, err := s.Store.GetUser(ctx, sess.EnvironmentID, sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u.Status != gatehouse.UserActive {
		return nil, nil, ErrNoAccountSession
	}
	p, err := s.Store.GetMFAPolicy(ctx, sess.EnvironmentID)
	return u, p, err
}

// AccountEnrolment returns the session's enrolment that the browser
// holding secret started.
func (s *Service) AccountEnrolment(ctx context.Context, sess *gatehouse.Session, id, secret string) (*gatehouse.LoginFlow, error) {
	f, err := s.LoginFlow(ctx, sess.EnvironmentID, id, secret)
	if err != nil {
		return nil, err
	}
	if f.Step != gatehouse.StepAccountEnrol || f.UserID != sess.UserID || f.MFA == nil {
		return nil, ErrFlowExpired
	}
	return f, nil
}

// PrepareAccountEnrolment readies the enrolment's page: a new TOTP key
// (the same one on every showing), a WebAuthn registration challenge, or
// an email code.
func (s *Service) PrepareAccountEnrolment(ctx context.Context, f *gatehouse.LoginFlow) (*MFAPrompt, error) {
	u, p, err := s.flowUser(ctx, f)
	if err != nil {
		return nil, err
	}
	prompt := &MFAPrompt{Methods: []string{f.MFA.Method}, Method: f.MFA.Method}
	if err := s.prepareMethod(ctx, f.MFA, u, p, true, prompt); err != nil {
		return nil, err
	}
	return prompt, s.Store.UpdateLoginFlow(ctx, f)
}

// ConfirmAccountEnrolment checks the new factor's first use and keeps it.
// A user's first factor also gets recovery codes when the policy allows
// them, returned to be shown once.
func (s *Service) ConfirmAccountEnrolment(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, in MFAInput) ([]string, error) {
	if in.Method != f.MFA.Method {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "this form is out of date: start again")
	}
	u, p, err := s.flowUser(ctx, f)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(s.enrollableMethods(ctx, u, p), in.Method) {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "that kind of second factor cannot be added here")
	}
	actor = selfActor(actor, u.ID)
	if err := s.confirmEnrolment(ctx, actor, f.MFA, u, in); err != nil {
		// A WebAuthn challenge answers once: the page needs a new one.
		s.Store.UpdateLoginFlow(ctx, f)
		return nil, err
	}
	if err := s.Store.DeleteLoginFlow(ctx, f.EnvironmentID, f.ID); err != nil {
		return nil, err
	}
	if !p.Allows(gatehouse.MethodRecoveryCode) {
		return nil, nil
	}
	if n, err := s.Store.CountRecoveryCodes(ctx, f.EnvironmentID, u.ID); err != nil || n > 0 {
		return nil, err
	}
	return s.NewRecoveryCodes(ctx, actor, u)
}

// RemoveOwnMFADevice removes one of the session's user's second factors,
// but never the last one that works when the environment blocks a
// sign-in without one: the user would lock themselves out.
func (s *Service) RemoveOwnMFADevice(ctx context.Context, actor Actor, sess *gatehouse.Session, deviceID string) error {
	if err := s.requireRecentSignIn(sess); err != nil {
		return err
	}
	u, p, err := s.accountUser(ctx, sess)
	if err != nil {
		return err
	}
	devices, err := s.Store.ListMFADevices(ctx, sess.EnvironmentID, u.ID)
	if err != nil {
		return err
	}
	found, others := false, 0
	webauthn := s.webAuthnAvailable(ctx, sess.EnvironmentID)
	for _, d := range devices {
		switch {
		case d.ID == deviceID:
			found = d.Confirmed
		case s.deviceUsable(d, p, webauthn):
			others++
		}
	}
	if !found {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "device not found")
	}
	if others == 0 && p.WhenNotEnrolled == gatehouse.NotEnrolledBlock && s.mfaMayBeAsked(ctx, u, p) {
		return gatehouse.Errorf(gatehouse.EINVALID, "this is your last second factor, and without one this account cannot sign in: add another before you remove this one")
	}
	return s.RemoveMFADevice(ctx, selfActor(actor, u.ID), sess.EnvironmentID, u.ID, deviceID)
}

// mfaMayBeAsked reports whether any sign-in of the user may ask for a
// second factor: the policy is on, or an application requires one; for
// a corporate user, only when their IdP requires it too.
func (s *Service) mfaMayBeAsked(ctx context.Context, u *gatehouse.User, p *gatehouse.MFAPolicy) bool {
	need := p.Enabled
	if !need {
		apps, err := s.Store.ListApplications(ctx, u.EnvironmentID)
		need = err != nil || slices.ContainsFunc(apps, func(a *gatehouse.Application) bool { return a.MFARequired })
	}
	if need && u.Corporate() {
		need = s.corporateMFA(ctx, u)
	}
	return need
}

// RegenerateRecoveryCodes replaces the session's user's recovery codes and
// returns the new ones, to be shown once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, actor Actor, sess *gatehouse.Session) ([]string, error) {
	if err := s.requireRecentSignIn(sess); err != nil {
		return nil, err
	}
	u, p, err := s.accountUser(ctx, sess)
	if err != nil {
		return nil, err
	}
	devices, err := s.Store.ListMFADevices(ctx, sess.EnvironmentID, u.ID)
	if err != nil {
		return nil, err
	}
	if !p.Allows(gatehouse.MethodRecoveryCode) || len(confirmedDevices(devices)) == 0 {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "recovery codes back up a second factor: add one first")
	}
	return s.NewRecoveryCodes(ctx, selfActor(actor, u.ID), u)
}

// EndOtherSessions signs the session's user out everywhere but this
// session, and returns how many sessions ended.
func (s *Service) EndOtherSessions(ctx context.Context, actor Actor, sess *gatehouse.Session) (int, error) {
	sessions, err := s.Store.ListUserSessions(ctx, sess.EnvironmentID, sess.UserID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, other := range sessions {
		if other.ID == sess.ID {
			continue
		}
		if err := s.Store.DeleteSession(ctx, sess.EnvironmentID, other.ID); err != nil {
			return n, err
		}
		n++
	}
	if n > 0 {
		s.record(ctx, s.event(sess.EnvironmentID, selfActor(actor, sess.UserID), Change{Action: ActionSessionEnded, TargetType: "USER",
			TargetID: sess.UserID, Details: map[string]string{"sessions": itoa(n), "which": "all others"}}))
	}
	return n, nil
}

// EndOwnSession signs the session's user out of another of their sessions.
func (s *Service) EndOwnSession(ctx context.Context, actor Actor, sess *gatehouse.Session, id string) error {
	other, err := s.Store.GetSession(ctx, sess.EnvironmentID, id)
	if err != nil || other.UserID != sess.UserID {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "that session has already ended")
	}
	if err := s.Store.DeleteSession(ctx, sess.EnvironmentID, other.ID); err != nil {
		return err
	}
	s.record(ctx, s.event(sess.EnvironmentID, selfActor(actor, sess.UserID), Change{Action: ActionSessionEnded, TargetType: "USER",
		TargetID: sess.UserID, Details: map[string]string{"sessions": "1", "which": other.ID[:16]}}))
	return nil
}
