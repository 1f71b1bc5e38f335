package service

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

// Audit actions of federated sign-in.
const (
	ActionFederatedRefused = "FEDERATED_SIGN_IN_REFUSED"
	ActionIdentityLinked   = "IDENTITY_LINKED"
	ActionUserProvisioned  = "USER_PROVISIONED"
)

// Refusal is a federated sign-in that Gatehouse turned down after the
// browser came back from the IdP. Message is for the person signing in:
// they proved who they are at their IdP, so it may say why.
type Refusal struct {
	Message string
	reason  string
}

func (r *Refusal) Error() string { return "federated sign-in refused: " + r.reason }

// routeFlow sends a sign-in whose username a discovery rule matches to that
// rule's IdP. Every username gets the same answer whether or not it
// exists: routing looks only at the rules.
func (s *Service) routeFlow(ctx context.Context, f *gatehouse.LoginFlow) error {
	idp, err := s.RouteUsername(ctx, f.EnvironmentID, f.Username)
	if err != nil || idp == "" {
		return err
	}
	f.Step, f.Upstream = gatehouse.StepUpstream, &gatehouse.UpstreamLogin{IdentityProviderID: idp}
	return nil
}

// BeginUpstream starts the sign-in at the corporate IdP: where to send the
// browser. Each call starts afresh, with a new state.
func (s *Service) BeginUpstream(ctx context.Context, f *gatehouse.LoginFlow) (*connector.Start, error) {
	if f.Step != gatehouse.StepUpstream || f.Upstream == nil {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "this sign-in is not waiting for an identity provider")
	}
	_, c, err := s.connectorFor(ctx, f.EnvironmentID, f.Upstream.IdentityProviderID)
	if err != nil {
		return nil, err
	}
	secret := randomToken(24)
	start, err := c.Begin(ctx, connector.Request{State: f.ID + "." + secret, LoginHint: f.Username, MaxAge: f.Request.MaxAge,
		ForceAuthn: strings.Contains(f.Request.Prompt, "login") || (f.Request.MaxAge != nil && *f.Request.MaxAge == 0)})
	if err != nil {
		return nil, gatehouse.Errorf(gatehouse.EUNAVAILABLE, "the identity provider cannot be reached: %v", err)
	}
	f.Upstream.StateHash, f.Upstream.Pending = hashSecret(secret), start.Pending
	if err := s.Store.UpdateLoginFlow(ctx, f); err != nil {
		return nil, err
	}
	return start, nil
}

// UpstreamState is the state parameter of an IdP's answer: OIDC's state or
// SAML's RelayState.
func UpstreamState(answer url.Values) string {
	if v := answer.Get("state"); v != "" {
		return v
	}
	return answer.Get("RelayState")
}

// FinishUpstream takes the IdP's answer at the callback: it finds the
// sign-in by its state, has the connector check the answer, and links the
// identity to a pre-provisioned user. The flow then waits for the browser
// that started it (FinishUpstream runs on a request the IdP's page may
// have posted cross-site, without the sign-in's cookie).
func (s *Service) FinishUpstream(ctx context.Context, actor Actor, envID, idpID string, answer url.Values) (*gatehouse.LoginFlow, error) {
	// Refused answers count as failed sign-ins of the address, so that no
	// one floods the callback (or the audit log) with forged answers.
	if !s.failures.allowed(actor.ClientIP, time.Now()) {
		return nil, gatehouse.Errorf(gatehouse.ETOOMANY, "too many refused sign-ins from this address")
	}
	flowID, secret, _ := strings.Cut(UpstreamState(answer), ".")
	if flowID == "" || len(flowID) > 64 || secret == "" || len(secret) > 100 {
		s.refuse(ctx, envID, actor, idpID, "", "an answer without a valid state (unsolicited, or not from this sign-in)")
		return nil, ErrFlowExpired
	}
	f, err := s.Store.GetLoginFlow(ctx, envID, flowID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		s.refuse(ctx, envID, actor, idpID, "", "an answer for a sign-in that does not exist or is over")
		return nil, ErrFlowExpired
	}
	if err != nil {
		return nil, err
	}
	if f.Step != gatehouse.StepUpstream || f.Upstream == nil || f.Upstream.IdentityProviderID != idpID ||
		subtle.ConstantTimeCompare([]byte(f.Upstream.StateHash), []byte(hashSecret(secret))) != 1 {
		s.refuse(ctx, envID, actor, idpID, f.Username, "an answer whose state does not match the sign-in")
		return nil, ErrFlowExpired
	}
	if !s.now().Before(f.ExpiresAt) {
		s.Store.DeleteLoginFlow(ctx, envID, f.ID)
		return nil, &ExpiredLogin{RestartURL: restartURL(f)}
	}
	u, id, err := s.federatedUser(ctx, actor, f, answer)
	if err != nil {
		// One answer per sign-in: a refused one ends it.
		s.Store.DeleteLoginFlow(ctx, envID, f.ID)
		var refusal *Refusal
		if errors.As(err, &refusal) {
			s.refuse(ctx, envID, actor, idpID, f.Username, refusal.reason)
		}
		return nil, err
	}
	now := s.now()
	authTime := id.AuthTime
	if authTime.IsZero() || authTime.After(now) {
		authTime = now
	}
	amr := []string{"fed"}
	for _, m := range id.AMR {
		if !slices.Contains(amr, m) && len(amr) < 10 {
			amr = append(amr, truncateText(m, 40))
		}
	}
	f.Step, f.UserID, f.Username = gatehouse.StepUpstreamDone, u.ID, u.Username
	f.Upstream.StateHash, f.Upstream.Pending = "", ""
	f.Upstream.AuthTime, f.Upstream.AMR, f.Upstream.Logout = authTime.UTC().Truncate(time.Microsecond), amr, id.Logout
	if err := s.Store.UpdateLoginFlow(ctx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// federatedUser checks the IdP's answer and finds whom it stands for
// (DESIGN.md §2 "Linking, never guessing").
func (s *Service) federatedUser(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, answer url.Values) (*gatehouse.User, *connector.Identity, error) {
	envID := f.EnvironmentID
	p, c, err := s.connectorFor(ctx, envID, f.Upstream.IdentityProviderID)
	if err != nil {
		return nil, nil, err
	}
	id, err := c.Finish(ctx, answer, f.Upstream.Pending)
	var refused *connector.Refused
	switch {
	case errors.As(err, &refused):
		return nil, nil, &Refusal{Message: "Your organisation's sign-in service did not sign you in. Try again, or ask your IT team for help.",
			reason: truncateText(refused.Reason, 300)}
	case err != nil:
		return nil, nil, &Refusal{Message: "The answer from your organisation's sign-in service could not be verified. Try again, or ask your IT team for help.",
			reason: truncateText(err.Error(), 300)}
	}
	if id.AssertionID != "" {
		err := s.Store.UseAssertion(ctx, &gatehouse.UsedAssertion{EnvironmentID: envID, IdentityProviderID: p.ID,
			ID: truncateText(id.AssertionID, 200), ExpiresAt: id.AssertionExpires})
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			return nil, nil, &Refusal{Message: "This sign-in answer was already used. Start again from the application.",
				reason: "a replayed assertion " + truncateText(id.AssertionID, 100)}
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if id.Subject == "" {
		return nil, nil, &Refusal{Message: "Your organisation's sign-in service did not say who you are.", reason: "an identity without a subject"}
	}
	u, err := s.Store.GetUserByIdentity(ctx, envID, p.ID, id.Subject)
	switch {
	case err == nil:
	case gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND:
		return nil, nil, err
	default:
		if u, err = s.linkByUsername(ctx, actor, p, id); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case u.Status != gatehouse.UserActive:
		return nil, nil, &Refusal{Message: "Your account here is disabled. Ask your administrator to enable it.",
			reason: "user " + u.ID + " is inactive"}
	case u.Type == gatehouse.UserTypeAPI:
		return nil, nil, &Refusal{Message: "This account is for machines and cannot sign in to applications.",
			reason: "API user " + u.ID + " at a federated sign-in"}
	}
	now := s.now()
	if u.LastSignOn == nil || now.Sub(*u.LastSignOn) >= time.Minute {
		u.LastSignOn = &now
		if err := s.Store.UpdateUser(ctx, u); err != nil {
			return nil, nil, err
		}
	}
	return u, id, nil
}

// linkByUsername finds the pre-provisioned user an identity names at its
// first sign-in, and links the IdP's subject to them; or, when the IdP
// allows it, creates the user.
func (s *Service) linkByUsername(ctx context.Context, actor Actor, p *gatehouse.IdentityProvider, id *connector.Identity) (*gatehouse.User, error) {
	envID := p.EnvironmentID
	username := strings.TrimSpace(id.Username)
	switch {
	case username == "":
		return nil, &Refusal{Message: "Your organisation's sign-in service did not send your username.",
			reason: "the mapped username attribute is missing"}
	case id.UsernameIsEmail && !id.EmailVerified:
		return nil, &Refusal{Message: "Your organisation's sign-in service has not verified your email address, so it cannot be used to sign you in here.",
			reason: "email " + truncateText(username, 250) + " is not verified by the identity provider"}
	case len(username) > 4*gatehouse.MaxUsernameLength:
		return nil, &Refusal{Message: "Your username is too long.", reason: "username too long"}
	}
	u, err := s.Store.GetUserByUsername(ctx, envID, username)
	switch {
	case err == nil && u.IdentityProvider != p.ID:
		return nil, &Refusal{Message: noAccount, reason: "user " + u.ID + " (" + truncateText(username, 250) + ") does not sign in at this identity provider"}
	case err == nil:
		if err := s.Store.LinkIdentity(ctx, envID, u.ID, id.Subject); gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			return nil, &Refusal{Message: "Your account here is linked to another identity at your organisation. Ask your administrator for help.",
				reason: "user " + u.ID + " is linked to another subject, or the subject to another user"}
		} else if err != nil {
			return nil, err
		}
		s.record(ctx, s.event(envID, actor, Change{Action: ActionIdentityLinked, TargetType: "USER", TargetID: u.ID,
			Details: map[string]string{"identityProvider": p.ID, "subject": truncateText(id.Subject, 250)}}))
		return u, nil
	case gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND:
		return nil, err
	case !p.JITProvisioning:
		return nil, &Refusal{Message: noAccount, reason: "no user " + truncateText(username, 250) + " for this identity provider"}
	}
	return s.provision(ctx, actor, p, id, username)
}

const noAccount = "You signed in at your organisation, but there is no account for you here. Ask your administrator to create one."

// provision creates a corporate user just in time, with the IdP's mapped
// attributes and its default roles.
func (s *Service) provision(ctx context.Context, actor Actor, p *gatehouse.IdentityProvider, id *connector.Identity, username string) (*gatehouse.User, error) {
	nu := NewUser{User: gatehouse.User{Username: username, FirstName: truncateText(id.FirstName, 250),
		LastName: truncateText(id.LastName, 250), IdentityProvider: p.ID, Type: gatehouse.UserTypeRetailer}}
	if id.Email != "" && (id.EmailVerified || !id.UsernameIsEmail) {
		nu.PrimaryEmail = truncateText(id.Email, 250)
	}
	for _, r := range p.JITRoles {
		nu.Roles = append(nu.Roles, gatehouse.RoleAssignment{Role: r})
	}
	u, err := s.CreateUser(ctx, Actor{Type: gatehouse.ActorIdentityProvider, ID: p.ID, ClientIP: actor.ClientIP,
		UserAgent: actor.UserAgent}, p.EnvironmentID, nu)
	if gatehouse.ErrorCode(err) == gatehouse.EINVALID {
		return nil, &Refusal{Message: "An account could not be created for you: " + gatehouse.ErrorMessage(err),
			reason: "provisioning failed: " + gatehouse.ErrorMessage(err)}
	}
	if err != nil {
		return nil, err
	}
	if err := s.Store.LinkIdentity(ctx, p.EnvironmentID, u.ID, id.Subject); err != nil {
		return nil, err
	}
	s.record(ctx, s.event(p.EnvironmentID, actor, Change{Action: ActionUserProvisioned, TargetType: "USER", TargetID: u.ID,
		Details: map[string]string{"identityProvider": p.ID, "username": u.Username}}))
	return u, nil
}

func (s *Service) refuse(ctx context.Context, envID string, actor Actor, idpID, username, reason string) {
	s.failures.failed(actor.ClientIP, time.Now())
	s.record(ctx, s.event(envID, actor, Change{Action: ActionFederatedRefused, TargetType: "IDENTITY_PROVIDER", TargetID: truncateText(idpID, 64),
		Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"username": truncateText(username, 250), "reason": reason}}))
}

// CompleteUpstream finishes a sign-in the IdP vouched for, in the browser
// that started it: the session carries amr "fed" and the IdP's auth time.
func (s *Service) CompleteUpstream(ctx context.Context, actor Actor, f *gatehouse.LoginFlow) (*LoginResult, error) {
	if f.Step != gatehouse.StepUpstreamDone || f.Upstream == nil {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "this sign-in has not come back from an identity provider")
	}
	u, err := s.Store.GetUser(ctx, f.EnvironmentID, f.UserID)
	if err != nil {
		return nil, err
	}
	if u.Status != gatehouse.UserActive {
		s.Store.DeleteLoginFlow(ctx, f.EnvironmentID, f.ID)
		return nil, &Refusal{Message: "Your account here is disabled. Ask your administrator to enable it.", reason: "user disabled during sign-in"}
	}
	return s.afterFirstFactor(ctx, actor, f, u, f.Upstream.AMR)
}

// UpstreamLogoutURL is where a federated session's user signs out of their
// IdP too, coming back to Gatehouse's signed-out page; an error when the
// IdP does not offer it.
func (s *Service) UpstreamLogoutURL(ctx context.Context, sess *gatehouse.Session) (string, error) {
	_, c, err := s.connectorFor(ctx, sess.EnvironmentID, sess.IdentityProviderID)
	if err != nil {
		return "", err
	}
	l, ok := c.(connector.Logouter)
	if !ok {
		return "", gatehouse.Errorf(gatehouse.EINVALID, "this identity provider offers no sign-out")
	}
	return l.LogoutURL(ctx, sess.UpstreamLogout, "")
}
