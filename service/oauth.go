package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Token lifetimes when an application sets none. API-user access tokens
// last a day, as the platform's clients expect.
const (
	DefaultUserTokenTTL    = time.Hour
	DefaultAPIUserTokenTTL = 24 * time.Hour
	DefaultRefreshTTL      = 30 * 24 * time.Hour
)

// ErrInvalidGrant is wrapped by every refusal of a grant (RFC 6749 §5.2
// invalid_grant): wrong credentials, a used or foreign code or refresh
// token. Its message never says which.
var ErrInvalidGrant = errors.New("invalid_grant")

// grantError refuses a grant with a description for the client.
func grantError(description string) error {
	return &grantErr{description}
}

type grantErr struct{ description string }

func (e *grantErr) Error() string { return e.description }
func (e *grantErr) Unwrap() error { return ErrInvalidGrant }

// ErrInvalidScope is wrapped when a grant asks for a scope it may not have.
var ErrInvalidScope = errors.New("invalid_scope")

type scopeErr struct{ description string }

func (e *scopeErr) Error() string { return e.description }
func (e *scopeErr) Unwrap() error { return ErrInvalidScope }

// UserTokens is what a user grant issues.
type UserTokens struct {
	AccessToken string
	// AccessJTI and AccessExpiresAt name the access token, to revoke it.
	AccessJTI       string
	AccessExpiresAt time.Time
	RefreshToken    string
	IDToken         string
	ExpiresIn       int
	Scope           string
	User            *gatehouse.User
}

// hashSecret is how codes and refresh tokens are stored: a SHA-256 of a
// 256-bit random value needs no salt or work factor.
func hashSecret(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// accessTTL is an application's access-token lifetime for users.
func accessTTL(app *gatehouse.Application) time.Duration {
	switch {
	case app.AccessTokenSeconds > 0:
		return time.Duration(app.AccessTokenSeconds) * time.Second
	case app.Type == gatehouse.AppTypeAPIUser:
		return DefaultAPIUserTokenTTL
	}
	return DefaultUserTokenTTL
}

// userClaims are the access-token claims of a user.
func userClaims(app *gatehouse.Application, u *gatehouse.User, scope string) AccessClaims {
	return AccessClaims{
		Subject: u.ID, ClientID: app.ClientID, SubjectType: gatehouse.ActorUser, Scope: scope,
		Username: u.Username, GivenName: u.FirstName, FamilyName: u.LastName, Email: u.PrimaryEmail,
		UserType: u.Type, Roles: u.Roles,
	}
}

// grantState is what a refresh token carries forward.
type grantState struct {
	sessionID, familyID string
	authTime            time.Time
	amr                 []string
}

// issueUserTokens mints an access token and, when the application keeps
// refresh tokens, the next refresh token of the family.
func (s *Service) issueUserTokens(ctx context.Context, envID string, app *gatehouse.Application, u *gatehouse.User, scope string, g grantState) (*UserTokens, error) {
	ttl := accessTTL(app)
	claims := userClaims(app, u, scope)
	claims.ID = gatehouse.NewID()
	access, err := s.MintAccessTokenFor(ctx, envID, app, claims, ttl)
	if err != nil {
		return nil, err
	}
	out := &UserTokens{AccessToken: access, AccessJTI: claims.ID, AccessExpiresAt: s.now().Add(ttl).Add(time.Second),
		ExpiresIn: int(ttl.Seconds()), Scope: scope, User: u}
	if app.RefreshTokens && app.AllowsGrant(gatehouse.GrantRefreshToken) {
		now := s.now()
		refreshTTL := DefaultRefreshTTL
		if app.RefreshTokenSeconds > 0 {
			refreshTTL = time.Duration(app.RefreshTokenSeconds) * time.Second
		}
		if g.familyID == "" {
			g.familyID = gatehouse.NewID()
		}
		out.RefreshToken = randomToken(32)
		err := s.Store.CreateRefreshToken(ctx, &gatehouse.RefreshToken{
			EnvironmentID: envID, Hash: hashSecret(out.RefreshToken), FamilyID: g.familyID, ClientID: app.ClientID,
			UserID: u.ID, SessionID: g.sessionID, Scope: scope, AuthTime: g.authTime, AMR: g.amr,
			CreatedOn: now, ExpiresAt: now.Add(refreshTTL),
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// apiUserScopes are what the password grant may ask for.
var apiUserScopes = []string{"api", "openid", "profile", "email", "offline_access"}

// hashWait is how long a sign-in waits for a free hashing slot before it is
// answered "busy": at most one hash per core runs at once.
const hashWait = 500 * time.Millisecond

// PasswordGrant is RFC 6749 §4.3 for API users: an application of type
// api-user exchanges an API user's username and password for tokens.
func (s *Service) PasswordGrant(ctx context.Context, actor Actor, envID string, app *gatehouse.Application, username, plain, scope string) (*UserTokens, error) {
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(apiUserScopes, sc) {
			return nil, &scopeErr{"scope may hold: " + strings.Join(apiUserScopes, " ")}
		}
	}
	if scope == "" {
		scope = "api"
	}
	if !app.AllowsScopes(scope) {
		return nil, &scopeErr{"this application may ask for: " + strings.Join(app.Scopes, " ")}
	}
	waitCtx, cancel := context.WithTimeout(ctx, hashWait)
	defer cancel()
	u, err := s.Authenticate(waitCtx, actor, envID, username, plain)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.EUNAUTHORIZED {
			return nil, grantError("the username or password is not right, or the account cannot sign in")
		}
		return nil, err
	}
	switch {
	case u.Type != gatehouse.UserTypeAPI:
		s.recordFailure(ctx, envID, actor, username, u.ID, "password grant for a user who is not an API user")
		return nil, grantError("the password grant is for API users only")
	case u.PasswordState == gatehouse.PasswordMustChange || u.PasswordState == gatehouse.PasswordExpired:
		s.recordFailure(ctx, envID, actor, username, u.ID, "password must be changed")
		return nil, grantError("the password must be changed before it can get tokens: an administrator can set it with forceChange false")
	}
	tokens, err := s.issueUserTokens(ctx, envID, app, u, scope, grantState{authTime: s.now(), amr: []string{"pwd"}})
	if err != nil {
		return nil, err
	}
	s.record(ctx, s.event(envID, actor, Change{Action: ActionTokenIssued, TargetType: "USER", TargetID: u.ID,
		Details: map[string]string{"grant": gatehouse.GrantPassword, "clientId": app.ClientID}}))
	return tokens, nil
}

// RefreshGrant is RFC 6749 §6 with rotation: the token is used up and the
// next one issued; presenting a used token again revokes its whole family,
// for a used token in an attacker's hands looks the same as in the client's.
func (s *Service) RefreshGrant(ctx context.Context, actor Actor, envID string, app *gatehouse.Application, refresh, scope string) (*UserTokens, error) {
	refuse := grantError("the refresh token is not valid")
	if refresh == "" || len(refresh) > 200 {
		return nil, refuse
	}
	now := s.now()
	t, err := s.Store.UseRefreshToken(ctx, envID, hashSecret(refresh), now)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, refuse
	}
	if err != nil {
		return nil, err
	}
	fail := func(reason string) (*UserTokens, error) {
		s.record(ctx, s.event(envID, actor, Change{Action: ActionAuthenticationFailed, TargetType: "USER", TargetID: t.UserID,
			Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"grant": gatehouse.GrantRefreshToken, "reason": reason}}))
		return nil, refuse
	}
	switch {
	case t.ClientID != app.ClientID:
		return fail("refresh token of another client")
	case t.UsedOn != nil:
		if err := s.Store.RevokeRefreshFamily(ctx, envID, t.FamilyID, now); err != nil {
			return nil, err
		}
		return fail("refresh token reused: family revoked")
	case t.RevokedOn != nil:
		return fail("refresh token revoked")
	case !now.Before(t.ExpiresAt):
		return fail("refresh token expired")
	}
	if scope != "" && !subsetOf(scope, t.Scope) {
		return nil, &scopeErr{"scope may only narrow the original grant (" + t.Scope + ")"}
	}
	if scope == "" {
		scope = t.Scope
	}
	u, err := s.Store.GetUser(ctx, envID, t.UserID)
	if err != nil || u.Status != gatehouse.UserActive {
		return fail("user gone or inactive")
	}
	tokens, err := s.issueUserTokens(ctx, envID, app, s.present(ctx, u), scope, grantState{sessionID: t.SessionID, familyID: t.FamilyID, authTime: t.AuthTime, amr: t.AMR})
	if err != nil {
		return nil, err
	}
	s.record(ctx, s.event(envID, actor, Change{Action: ActionTokenIssued, TargetType: "USER", TargetID: u.ID,
		Details: map[string]string{"grant": gatehouse.GrantRefreshToken, "clientId": app.ClientID}}))
	return tokens, nil
}

func subsetOf(scope, of string) bool {
	have := strings.Fields(of)
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(have, sc) {
			return false
		}
	}
	return true
}

// Introspection is an RFC 7662 response.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Env       string `json:"env,omitempty"`
}

// Introspect tells a confidential application of the environment whether a
// token is active: an access token that verifies, is not revoked, whose
// user is still active and has not changed password since; or a refresh
// token not used, revoked or expired.
func (s *Service) Introspect(ctx context.Context, envID string, token string) (*Introspection, error) {
	inactive := &Introspection{Active: false}
	if c, err := s.verifyCached(ctx, envID, token); err == nil {
		revoked, err := s.cache.revoked.get(envID+"\x00"+c.ID, func() (bool, error) { return s.Store.IsAccessTokenRevoked(ctx, envID, c.ID) })
		if err != nil {
			return nil, err
		}
		if revoked || !s.subjectStillValid(ctx, envID, c) {
			return inactive, nil
		}
		return &Introspection{Active: true, Scope: c.Scope, ClientID: c.ClientID, Username: c.Username, TokenType: "Bearer",
			Exp: c.Expiry, Iat: c.IssuedAt, Nbf: c.NotBefore, Sub: c.Subject, Iss: c.Issuer, Jti: c.ID, Env: c.Environment}, nil
	} else if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
		return nil, err
	}
	if len(token) > 200 {
		return inactive, nil
	}
	t, err := s.Store.GetRefreshToken(ctx, envID, hashSecret(token))
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if t.UsedOn != nil || t.RevokedOn != nil || !s.now().Before(t.ExpiresAt) {
		return inactive, nil
	}
	u, err := s.Store.GetUser(ctx, envID, t.UserID)
	if err != nil || u.Status != gatehouse.UserActive {
		return inactive, nil
	}
	return &Introspection{Active: true, Scope: t.Scope, ClientID: t.ClientID, Username: u.Username, TokenType: "refresh_token",
		Exp: t.ExpiresAt.Unix(), Iat: t.CreatedOn.Unix(), Sub: t.UserID, Iss: s.Issuer(envID), Env: envID}, nil
}

// subjectStillValid: an application still exists; a user is still active
// and has not changed their password since the token was issued.
func (s *Service) subjectStillValid(ctx context.Context, envID string, c *AccessClaims) bool {
	if c.SubjectType != gatehouse.ActorUser {
		_, err := s.applicationByClientID(ctx, envID, c.ClientID)
		return err == nil
	}
	u, err := s.Store.GetUser(ctx, envID, c.Subject)
	if err != nil || u.Status != gatehouse.UserActive {
		return false
	}
	return u.PasswordChangedOn == nil || u.PasswordChangedOn.Unix() <= c.IssuedAt
}

// Revoke is RFC 7009: a refresh token's family, or an access token, of the
// calling application stops working. Tokens of other clients, unknown or
// malformed tokens are ignored, as the RFC asks.
func (s *Service) Revoke(ctx context.Context, actor Actor, envID string, app *gatehouse.Application, token string) error {
	now := s.now()
	if c, err := s.VerifyAccessToken(ctx, envID, token); err == nil {
		if c.ClientID != app.ClientID {
			return nil
		}
		defer s.cache.revoked.forget(envID + "\x00" + c.ID)
		return s.Store.RevokeAccessToken(ctx, &gatehouse.RevokedToken{EnvironmentID: envID, JTI: c.ID, ExpiresAt: time.Unix(c.Expiry, 0)})
	}
	if len(token) > 200 {
		return nil
	}
	t, err := s.Store.GetRefreshToken(ctx, envID, hashSecret(token))
	if err != nil || t.ClientID != app.ClientID {
		return nil
	}
	if err := s.Store.RevokeRefreshFamily(ctx, envID, t.FamilyID, now); err != nil {
		return err
	}
	s.record(ctx, s.event(envID, actor, Change{Action: "TOKEN_REVOKED", TargetType: "USER", TargetID: t.UserID,
		Details: map[string]string{"clientId": app.ClientID}}))
	return nil
}

// verifyCached verifies an access token, remembering a good signature for
// a moment; the times are checked again at every call.
func (s *Service) verifyCached(ctx context.Context, envID, token string) (*AccessClaims, error) {
	c, err := s.cache.verified.get(envID+"\x00"+hashSecret(token), func() (*AccessClaims, error) { return s.VerifyAccessToken(ctx, envID, token) })
	if err != nil {
		return nil, err
	}
	now := s.now().Unix()
	if _, err := s.ActiveEnvironment(ctx, envID); err != nil || now > c.Expiry+30 || now+30 < c.NotBefore {
		return nil, gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the access token is not valid for this environment")
	}
	return c, nil
}
