package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Lifetimes of the sign-in machinery.
const (
	LoginFlowTTL  = 15 * time.Minute
	CodeTTL       = 60 * time.Second
	SessionTTL    = gatehouse.DefaultSessionHours * time.Hour
	maxFlowErrors = 20
)

// AuthorizeError is a refusal at the authorization endpoint. Redirect says
// whether it may be sent to the client's redirect URI (RFC 6749 §4.1.2.1):
// never when the client or the redirect URI itself is wrong.
type AuthorizeError struct {
	Code        string
	Description string
	Redirect    bool
}

func (e *AuthorizeError) Error() string { return e.Code + ": " + e.Description }

func redirectError(code, description string) *AuthorizeError {
	return &AuthorizeError{Code: code, Description: description, Redirect: true}
}

// oidcScopes are what a client may ask for at the authorization endpoint.
var oidcScopes = []string{"openid", "profile", "email", "offline_access", "api"}

// ValidateAuthorization checks an authorization request (RFC 6749 §4.1.1,
// OIDC Core §3.1.2.1, PKCE RFC 7636) and returns the client.
func (s *Service) ValidateAuthorization(ctx context.Context, envID, responseType string, req *gatehouse.AuthorizationRequest) (*gatehouse.Application, error) {
	if req.ClientID == "" || len(req.ClientID) > 200 {
		return nil, &AuthorizeError{Code: "invalid_request", Description: "client_id is missing or unknown"}
	}
	app, err := s.applicationByClientID(ctx, envID, req.ClientID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, &AuthorizeError{Code: "invalid_request", Description: "client_id is missing or unknown"}
	}
	if err != nil {
		return nil, err
	}
	// The redirect URI must be one registered, exactly: no prefix, no
	// normalisation, so that no open redirect can be built from it.
	req.RedirectURIParam = req.RedirectURI
	if req.RedirectURI == "" && len(app.RedirectURIs) == 1 {
		req.RedirectURI = app.RedirectURIs[0]
	}
	if !slices.Contains(app.RedirectURIs, req.RedirectURI) && !loopbackMatch(app, req.RedirectURI) {
		return nil, &AuthorizeError{Code: "invalid_request", Description: "redirect_uri is not one registered for this application"}
	}
	switch {
	case !app.AllowsGrant(gatehouse.GrantAuthorizationCode):
		return nil, redirectError("unauthorized_client", "this application may not use the authorization code flow")
	case responseType != "code":
		return nil, redirectError("unsupported_response_type", "response_type must be code")
	case req.ResponseMode != "" && req.ResponseMode != "query" && req.ResponseMode != "form_post":
		return nil, redirectError("invalid_request", "response_mode must be query or form_post")
	case len(req.State) > 2000 || len(req.Nonce) > 500 || len(req.LoginHint) > 500 || len(req.Scope) > 1000:
		return nil, redirectError("invalid_request", "state, nonce, login_hint or scope is too long")
	case req.CodeChallengeMethod != "" && req.CodeChallengeMethod != "S256":
		return nil, redirectError("invalid_request", "code_challenge_method must be S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod == "":
		// RFC 7636 §4.3: an omitted method means plain, which is refused.
		return nil, redirectError("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
	case req.CodeChallenge == "" && !app.Confidential():
		return nil, redirectError("invalid_request", "public clients must send a PKCE code_challenge (S256)")
	case req.CodeChallenge != "" && (len(req.CodeChallenge) != 43 || strings.Trim(req.CodeChallenge, base64URLChars) != ""):
		return nil, redirectError("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
	case req.MaxAge != nil && *req.MaxAge < 0:
		return nil, redirectError("invalid_request", "max_age must not be negative")
	}
	for _, p := range strings.Fields(req.Prompt) {
		if p != "none" && p != "login" {
			return nil, redirectError("invalid_request", "prompt may be none or login")
		}
	}
	if strings.Contains(req.Prompt, "none") && strings.Contains(req.Prompt, "login") {
		return nil, redirectError("invalid_request", "prompt none cannot go with login")
	}
	for _, sc := range strings.Fields(req.Scope) {
		if !slices.Contains(oidcScopes, sc) {
			return nil, redirectError("invalid_scope", "scope may hold: "+strings.Join(oidcScopes, " "))
		}
	}
	if !app.AllowsScopes(req.Scope) {
		return nil, redirectError("invalid_scope", "this application may ask for: "+strings.Join(app.Scopes, " "))
	}
	return app, nil
}

// loopbackMatch is RFC 8252 §7.3: a native application registers a
// loopback redirect URI without knowing the port it will listen on, so the
// port may differ; scheme, host, path and query must not.
func loopbackMatch(app *gatehouse.Application, raw string) bool {
	if app.Type != gatehouse.AppTypeNative {
		return false
	}
	got, err := url.Parse(raw)
	if err != nil || got.Scheme != "http" || (got.Hostname() != "127.0.0.1" && got.Hostname() != "::1") || got.User != nil || got.Fragment != "" {
		return false
	}
	for _, registered := range app.RedirectURIs {
		want, err := url.Parse(registered)
		if err == nil && want.Scheme == "http" && want.Hostname() == got.Hostname() && want.Path == got.Path && want.RawQuery == got.RawQuery {
			return true
		}
	}
	return false
}

const base64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// SessionFor returns the session a cookie value stands for, if it is live
// and its user may still sign in.
func (s *Service) SessionFor(ctx context.Context, envID, cookie string) *gatehouse.Session {
	if cookie == "" || len(cookie) > 200 {
		return nil
	}
	sess, err := s.Store.GetSession(ctx, envID, hashSecret(cookie))
	if err != nil || !s.now().Before(sess.ExpiresAt) {
		return nil
	}
	u, err := s.Store.GetUser(ctx, envID, sess.UserID)
	if err != nil || u.Status != gatehouse.UserActive {
		return nil
	}
	return sess
}

// SessionSatisfies reports whether a session answers the request without a
// new sign-in: no prompt=login, recent enough for max_age and for the
// environment's re-authentication policy, and with a second factor when
// the application requires one.
func (s *Service) SessionSatisfies(ctx context.Context, sess *gatehouse.Session, req *gatehouse.AuthorizationRequest) bool {
	if sess == nil || strings.Contains(req.Prompt, "login") {
		return false
	}
	age := s.now().Sub(sess.AuthTime)
	if req.MaxAge != nil && age > time.Duration(*req.MaxAge)*time.Second {
		return false
	}
	if p, err := s.signOnPolicy(ctx, sess.EnvironmentID); err != nil ||
		(p.ReauthenticateAfterHours > 0 && age > time.Duration(p.ReauthenticateAfterHours)*time.Hour) {
		return false
	}
	if app, err := s.applicationByClientID(ctx, sess.EnvironmentID, req.ClientID); err == nil && app.MFARequired &&
		!slices.Contains(sess.AMR, "mfa") {
		u, err := s.Store.GetUser(ctx, sess.EnvironmentID, sess.UserID)
		if err != nil || u.Type != gatehouse.UserTypeAPI {
			return false
		}
	}
	return true
}

// StartLogin stores a new sign-in for the request and returns it with the
// secret that binds it to the browser.
func (s *Service) StartLogin(ctx context.Context, envID string, req gatehouse.AuthorizationRequest) (*gatehouse.LoginFlow, string, error) {
	now := s.now()
	secret := randomToken(32)
	f := &gatehouse.LoginFlow{EnvironmentID: envID, ID: randomToken(18), Binding: hashSecret(secret), Step: gatehouse.StepIdentifier,
		Request: req, CreatedOn: now, ExpiresAt: now.Add(LoginFlowTTL)}
	if hint := strings.TrimSpace(req.LoginHint); hint != "" && len(hint) <= 1000 {
		f.Username, f.Step = hint, gatehouse.StepPassword
		if err := s.routeFlow(ctx, f); err != nil {
			return nil, "", err
		}
	}
	return f, secret, s.Store.CreateLoginFlow(ctx, f)
}

// ErrFlowExpired answers a sign-in page left open past its lifetime, or
// one that another browser started.
var ErrFlowExpired = gatehouse.Errorf(gatehouse.ENOTFOUND, "this sign-in page has expired: start again from the application")

// LoginFlow returns a sign-in that the browser holding secret started.
func (s *Service) LoginFlow(ctx context.Context, envID, id, secret string) (*gatehouse.LoginFlow, error) {
	if id == "" || len(id) > 64 || secret == "" || len(secret) > 100 {
		return nil, ErrFlowExpired
	}
	f, err := s.Store.GetLoginFlow(ctx, envID, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, ErrFlowExpired
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(f.Binding), []byte(hashSecret(secret))) != 1 || f.Step == gatehouse.StepDone {
		return nil, ErrFlowExpired
	}
	if !s.now().Before(f.ExpiresAt) {
		// This browser's own sign-in, left open too long: it may start
		// again with the application's original request.
		return nil, &ExpiredLogin{RestartURL: restartURL(f)}
	}
	return f, nil
}

// ExpiredLogin is a sign-in that timed out in the browser that started it.
type ExpiredLogin struct{ RestartURL string }

func (e *ExpiredLogin) Error() string { return ErrFlowExpired.Error() }
func (e *ExpiredLogin) Unwrap() error { return ErrFlowExpired }

// restartURL repeats the authorization request a sign-in came from, so
// that the client's state, nonce and PKCE verifier still match.
func restartURL(f *gatehouse.LoginFlow) string {
	if f.Request.ClientID == "" {
		// The account page's own sign-in starts again from that page.
		return f.Request.RedirectURI
	}
	q := url.Values{"response_type": {"code"}, "client_id": {f.Request.ClientID}}
	for k, v := range map[string]string{
		"redirect_uri": f.Request.RedirectURIParam, "scope": f.Request.Scope, "state": f.Request.State, "nonce": f.Request.Nonce,
		"code_challenge": f.Request.CodeChallenge, "code_challenge_method": f.Request.CodeChallengeMethod,
		"response_mode": f.Request.ResponseMode, "login_hint": f.Request.LoginHint,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Request.MaxAge != nil {
		q.Set("max_age", strconv.Itoa(*f.Request.MaxAge))
	}
	return "/" + f.EnvironmentID + "/oauth2/authorize?" + q.Encode()
}

// FormToken is the CSRF token of a form: an HMAC of what the form is for
// under a secret the browser holds in a cookie, which a page of another
// site can neither read nor compute. Every form of the hosted pages, the
// account page and the console carries one.
func FormToken(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckFormToken compares a form's token with the one secret makes.
func CheckFormToken(secret, purpose, token string) bool {
	return secret != "" && hmac.Equal([]byte(FormToken(secret, purpose)), []byte(token))
}

// CSRFToken is the token a sign-in's forms carry, bound to the flow.
func CSRFToken(f *gatehouse.LoginFlow, secret string) string {
	return FormToken(secret, "csrf/"+f.EnvironmentID+"/"+f.ID)
}

// CheckCSRF compares a form's token with the flow's.
func CheckCSRF(f *gatehouse.LoginFlow, secret, token string) bool {
	return CheckFormToken(secret, "csrf/"+f.EnvironmentID+"/"+f.ID, token)
}

// SubmitIdentifier records the username and moves to the password step, or
// to the corporate IdP a discovery rule routes the username to. Every
// username gets the same next page, so that existence never leaks.
func (s *Service) SubmitIdentifier(ctx context.Context, f *gatehouse.LoginFlow, username string) error {
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 1000 {
		return gatehouse.Errorf(gatehouse.EINVALID, "enter your username")
	}
	f.Username, f.Step, f.Upstream = username, gatehouse.StepPassword, nil
	if err := s.routeFlow(ctx, f); err != nil {
		return err
	}
	return s.Store.UpdateLoginFlow(ctx, f)
}

// LoginResult is a finished sign-in: where to send the browser, and the new
// session's cookie value when one was made.
type LoginResult struct {
	Session *gatehouse.Session
	Cookie  string
	Code    string
}

// SubmitPassword checks the password. A password that must change moves
// the flow to that step; otherwise the sign-in finishes.
func (s *Service) SubmitPassword(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, plain string) (*LoginResult, error) {
	u, err := s.Authenticate(ctx, actor, f.EnvironmentID, f.Username, plain)
	if err == nil && u.Type == gatehouse.UserTypeAPI {
		// API users are machines: they get tokens by the password grant
		// and never sign in to web applications.
		s.recordFailure(ctx, f.EnvironmentID, actor, f.Username, u.ID, "API user at the sign-in page")
		err = gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the username or password is not right, or the account cannot sign in")
	}
	if err != nil {
		f.Failures++
		if f.Failures >= maxFlowErrors {
			s.Store.DeleteLoginFlow(ctx, f.EnvironmentID, f.ID)
		} else {
			s.Store.UpdateLoginFlow(ctx, f)
		}
		return nil, err
	}
	f.UserID = u.ID
	if u.PasswordState == gatehouse.PasswordMustChange || u.PasswordState == gatehouse.PasswordExpired {
		f.Step = gatehouse.StepChangePassword
		return nil, s.Store.UpdateLoginFlow(ctx, f)
	}
	return s.afterFirstFactor(ctx, actor, f, u, []string{"pwd"})
}

// SubmitPasswordChange changes a password that had to change, then
// finishes the sign-in.
func (s *Service) SubmitPasswordChange(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, current, next, confirm string) (*LoginResult, error) {
	if next != confirm {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "the two new passwords differ")
	}
	u, err := s.ChangeOwnPassword(ctx, actor, f.EnvironmentID, f.UserID, current, next)
	if err != nil {
		return nil, err
	}
	return s.afterFirstFactor(ctx, actor, f, u, []string{"pwd"})
}

// finishLogin makes the session and, for a client, the authorization code.
func (s *Service) finishLogin(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, u *gatehouse.User, amr []string) (*LoginResult, error) {
	now := s.now()
	cookie := randomToken(32)
	lifetime := SessionTTL
	if p, err := s.signOnPolicy(ctx, f.EnvironmentID); err == nil {
		lifetime = p.SessionLifetime()
	}
	sess := &gatehouse.Session{EnvironmentID: f.EnvironmentID, ID: hashSecret(cookie), UserID: u.ID, AuthTime: now, AMR: amr,
		ClientIP: actor.ClientIP, UserAgent: truncateText(actor.UserAgent, 512), CreatedOn: now, ExpiresAt: now.Add(lifetime)}
	if f.Upstream != nil && !f.Upstream.AuthTime.IsZero() {
		sess.AuthTime, sess.IdentityProviderID, sess.UpstreamLogout = f.Upstream.AuthTime, f.Upstream.IdentityProviderID, f.Upstream.Logout
	}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	f.Step = gatehouse.StepDone
	if err := s.Store.DeleteLoginFlow(ctx, f.EnvironmentID, f.ID); err != nil {
		return nil, err
	}
	result := &LoginResult{Session: sess, Cookie: cookie}
	// A sign-in without a client (the account page's) ends at the session.
	if f.Request.ClientID != "" {
		var err error
		if result.Code, err = s.IssueCode(ctx, actor, f.EnvironmentID, &f.Request, sess); err != nil {
			return nil, err
		}
	}
	s.record(ctx, s.event(f.EnvironmentID, actor, Change{Action: ActionAuthenticated, TargetType: "USER", TargetID: u.ID,
		Details: map[string]string{"clientId": f.Request.ClientID, "amr": strings.Join(amr, " ")}}))
	return result, nil
}

// IssueCode makes a single-use authorization code for a session.
func (s *Service) IssueCode(ctx context.Context, actor Actor, envID string, req *gatehouse.AuthorizationRequest, sess *gatehouse.Session) (string, error) {
	code := randomToken(32)
	err := s.Store.CreateAuthorizationCode(ctx, &gatehouse.AuthorizationCode{
		EnvironmentID: envID, Hash: hashSecret(code), ClientID: req.ClientID, UserID: sess.UserID, SessionID: sess.ID,
		RedirectURI: req.RedirectURIParam, Scope: req.Scope, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod, AuthTime: sess.AuthTime, AMR: sess.AMR, ExpiresAt: s.now().Add(CodeTTL),
	})
	return code, err
}

// ExchangeCode is the authorization code grant (RFC 6749 §4.1.3 with PKCE):
// the code is used up; a second use revokes what the first one issued.
func (s *Service) ExchangeCode(ctx context.Context, actor Actor, envID string, app *gatehouse.Application, code, redirectURI, verifier string) (*UserTokens, error) {
	refuse := grantError("the authorization code is not valid")
	if code == "" || len(code) > 200 || len(verifier) > 128 {
		return nil, refuse
	}
	now := s.now()
	c, err := s.Store.UseAuthorizationCode(ctx, envID, hashSecret(code), now)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, refuse
	}
	if err != nil {
		return nil, err
	}
	fail := func(reason string) (*UserTokens, error) {
		s.record(ctx, s.event(envID, actor, Change{Action: ActionAuthenticationFailed, TargetType: "USER", TargetID: c.UserID,
			Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"grant": gatehouse.GrantAuthorizationCode, "reason": reason, "clientId": app.ClientID}}))
		return nil, refuse
	}
	switch {
	case c.UsedOn != nil:
		if err := s.Store.RevokeRefreshFamily(ctx, envID, c.Hash, now); err != nil {
			return nil, err
		}
		if c.AccessJTI != "" {
			if err := s.Store.RevokeAccessToken(ctx, &gatehouse.RevokedToken{EnvironmentID: envID, JTI: c.AccessJTI, ExpiresAt: c.AccessExpiresAt}); err != nil {
				return nil, err
			}
			s.cache.revoked.forget(envID + "\x00" + c.AccessJTI)
		}
		return fail("code reused: tokens issued with it revoked")
	case c.ClientID != app.ClientID:
		return fail("code of another client")
	case c.RedirectURI != redirectURI && !(c.RedirectURI == "" && len(app.RedirectURIs) == 1 && redirectURI == app.RedirectURIs[0]):
		// Left out at authorize (one URI registered), redirect_uri may be
		// left out or be that URI here.
		return fail("redirect_uri differs from the authorization request")
	case !now.Before(c.ExpiresAt):
		return fail("code expired")
	case c.CodeChallenge != "" && !pkceMatches(c.CodeChallenge, verifier):
		return fail("PKCE verifier does not match")
	case c.CodeChallenge == "" && verifier != "":
		return fail("code_verifier without a code_challenge")
	case c.CodeChallenge == "" && !app.Confidential():
		return fail("public client without PKCE")
	}
	u, err := s.Store.GetUser(ctx, envID, c.UserID)
	if err != nil || u.Status != gatehouse.UserActive {
		return fail("user gone or inactive")
	}
	u = s.present(ctx, u)
	g := grantState{sessionID: c.SessionID, familyID: c.Hash, authTime: c.AuthTime, amr: c.AMR}
	tokens, err := s.issueUserTokens(ctx, envID, app, u, c.Scope, g)
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetCodeAccessToken(ctx, envID, c.Hash, tokens.AccessJTI, tokens.AccessExpiresAt); err != nil {
		return nil, err
	}
	if slices.Contains(strings.Fields(c.Scope), "openid") {
		if tokens.IDToken, err = s.mintIDToken(ctx, envID, app, u, c, tokens.AccessToken); err != nil {
			return nil, err
		}
	}
	s.record(ctx, s.event(envID, actor, Change{Action: ActionTokenIssued, TargetType: "USER", TargetID: u.ID,
		Details: map[string]string{"grant": gatehouse.GrantAuthorizationCode, "clientId": app.ClientID}}))
	return tokens, nil
}

func pkceMatches(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// mintIDToken signs an OIDC ID token (Core §2) for the client.
func (s *Service) mintIDToken(ctx context.Context, envID string, app *gatehouse.Application, u *gatehouse.User, c *gatehouse.AuthorizationCode, accessToken string) (string, error) {
	signer, err := s.currentSigner(ctx, envID, app.TokenAlgorithm(), "JWT")
	if err != nil {
		return "", err
	}
	now := s.now()
	claims := map[string]any{
		"iss": s.Issuer(envID), "sub": u.ID, "aud": app.ClientID, "azp": app.ClientID,
		"iat": now.Unix(), "exp": now.Add(accessTTL(app)).Unix(), "auth_time": c.AuthTime.Unix(), "amr": c.AMR,
		"at_hash": atHash(accessToken), "sid": c.SessionID[:16],
	}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	for k, v := range profileClaims(u, c.Scope) {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}

// atHash is OIDC Core §3.1.3.6 for SHA-256 algorithms.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// profileClaims are the user's claims that the scopes release.
func profileClaims(u *gatehouse.User, scope string) map[string]any {
	out := map[string]any{"env": u.EnvironmentID, "user_type": u.Type, "roles": u.Roles}
	scopes := strings.Fields(scope)
	if slices.Contains(scopes, "profile") {
		out["preferred_username"] = u.Username
		out["given_name"] = u.FirstName
		out["family_name"] = u.LastName
		out["name"] = strings.TrimSpace(u.FirstName + " " + u.LastName)
		if u.Timezone != "" {
			out["zoneinfo"] = u.Timezone
		}
		if u.Language != "" {
			out["locale"] = u.Language
		}
	}
	if slices.Contains(scopes, "email") && u.PrimaryEmail != "" {
		out["email"] = u.PrimaryEmail
		out["email_verified"] = false
	}
	return out
}

// Userinfo is OIDC Core §5.3: the claims of the access token's user.
func (s *Service) Userinfo(ctx context.Context, envID, accessToken string) (map[string]any, error) {
	c, err := s.VerifyAccessToken(ctx, envID, accessToken)
	if err != nil {
		return nil, err
	}
	revoked, err := s.Store.IsAccessTokenRevoked(ctx, envID, c.ID)
	if err != nil {
		return nil, err
	}
	if revoked || c.SubjectType != gatehouse.ActorUser || !s.subjectStillValid(ctx, envID, c) || !slices.Contains(strings.Fields(c.Scope), "openid") {
		return nil, gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the access token is not valid for userinfo")
	}
	u, err := s.Store.GetUser(ctx, envID, c.Subject)
	if err != nil {
		return nil, gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the access token is not valid for userinfo")
	}
	out := profileClaims(u, c.Scope)
	out["sub"] = u.ID
	return out, nil
}

// LogoutTarget checks an RP-initiated logout request: whether its
// id_token_hint is an ID token of this environment, and the post-logout
// redirect to follow, only when registered for the hint's client.
func (s *Service) LogoutTarget(ctx context.Context, envID, idTokenHint, postLogoutURI string) (target string, hinted bool) {
	if idTokenHint == "" {
		return "", false
	}
	aud, err := s.idTokenAudience(ctx, envID, idTokenHint)
	if err != nil {
		return "", false
	}
	if postLogoutURI == "" {
		return "", true
	}
	app, err := s.applicationByClientID(ctx, envID, aud)
	if err != nil || !slices.Contains(app.PostLogoutRedirectURIs, postLogoutURI) {
		return "", true
	}
	return postLogoutURI, true
}

// EndSession signs the browser holding cookie out.
func (s *Service) EndSession(ctx context.Context, actor Actor, envID, cookie string) error {
	sess := s.SessionFor(ctx, envID, cookie)
	if sess == nil {
		return nil
	}
	if err := s.Store.DeleteSession(ctx, envID, sess.ID); err != nil {
		return err
	}
	s.record(ctx, s.event(envID, actor, Change{Action: "SIGNED_OUT", TargetType: "USER", TargetID: sess.UserID}))
	return nil
}

// LogoutToken is the token of the sign-out confirmation form: an HMAC of
// the environment under the session's secret, which another site cannot
// compute, so that a link elsewhere cannot sign anyone out.
func LogoutToken(envID, cookie string) string {
	return FormToken(cookie, "logout/"+envID)
}

// RecordAuthorizeRefusal audits a refused authorization request.
func (s *Service) RecordAuthorizeRefusal(ctx context.Context, envID string, actor Actor, clientID, reason string) {
	s.record(ctx, s.event(envID, actor, Change{Action: "AUTHORIZATION_REFUSED", TargetType: "APPLICATION",
		TargetID: truncateText(clientID, 200), Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"reason": truncateText(reason, 300)}}))
}

// RestartLogin goes back to the identifier step.
func (s *Service) RestartLogin(ctx context.Context, f *gatehouse.LoginFlow) error {
	f.Step, f.Username, f.UserID, f.Upstream = gatehouse.StepIdentifier, "", "", nil
	return s.Store.UpdateLoginFlow(ctx, f)
}

// PolicyDescription lists the password policy's rules in words, for the
// change-password page.
func (s *Service) PolicyDescription(ctx context.Context, envID string) []string {
	p, err := s.Store.GetPasswordPolicy(ctx, envID)
	if err != nil {
		return nil
	}
	var rules []string
	add := func(n int, one, many string) {
		switch {
		case n == 1 && one != "":
			rules = append(rules, one)
		case n > 1:
			rules = append(rules, strings.ReplaceAll(many, "N", strconv.Itoa(n)))
		}
	}
	add(p.MinLength, "", "at least N characters")
	add(p.MinLowercase, "a lowercase letter", "at least N lowercase letters")
	add(p.MinUppercase, "an uppercase letter", "at least N uppercase letters")
	add(p.MinDigits, "a digit", "at least N digits")
	add(p.MinSpecial, "a character that is not a letter or digit", "at least N characters that are not letters or digits")
	add(p.MaxRepeatedCharacters, "no character twice in a row", "no character more than N times in a row")
	add(p.MinUniqueCharacters, "", "at least N different characters")
	if p.NotCommon {
		rules = append(rules, "not a commonly used password")
	}
	if p.NotUserAttributes {
		rules = append(rules, "not containing your name or username")
	}
	add(p.HistoryCount, "different from your last password", "different from your last N passwords")
	return rules
}

// RandomToken is a fresh 256-bit random value, base64url (43 characters).
func RandomToken() string { return randomToken(32) }
