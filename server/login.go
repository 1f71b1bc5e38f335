package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// loginPage shows the current step of a sign-in.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	f, secret, ok := s.loginFlow(w, r)
	if !ok {
		return
	}
	s.showStep(w, r, http.StatusOK, f, secret, "")
}

// loginFlow finds the sign-in of the URL that this browser started, or
// explains that the page has expired.
func (s *Server) loginFlow(w http.ResponseWriter, r *http.Request) (*gatehouse.LoginFlow, string, bool) {
	envID := r.PathValue("env")
	secret := cookieValue(r, loginCookie)
	f, err := s.svc.LoginFlow(r.Context(), envID, r.PathValue("flow"), secret)
	var expired *service.ExpiredLogin
	if errors.As(err, &expired) {
		s.renderPage(w, r, http.StatusNotFound, "expired", "", page{Title: "This page has expired", Action: expired.RestartURL})
		return nil, "", false
	}
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			s.message(w, r, http.StatusNotFound, "This page has expired", "This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.")
		} else {
			s.writeError(w, r, err)
		}
		return nil, "", false
	}
	return f, secret, true
}

func (s *Server) showStep(w http.ResponseWriter, r *http.Request, status int, f *gatehouse.LoginFlow, secret, problem string) {
	p := page{Action: "/" + f.EnvironmentID + "/login/" + f.ID, CSRF: service.CSRFToken(f, secret), Username: f.Username, Error: problem,
		Restart: "/" + f.EnvironmentID + "/login/" + f.ID + "/restart"}
	switch f.Step {
	case gatehouse.StepIdentifier:
		p.Title = "Sign in"
		if b, err := s.svc.Branding(r.Context(), f.EnvironmentID); err == nil && b.SignInTitle != "" {
			p.Title = b.SignInTitle
		}
		s.renderPage(w, r, status, "identifier", f.Request.RedirectURI, p)
	case gatehouse.StepPassword:
		p.Title = "Enter your password"
		if s.svc.Mail != nil {
			p.ResetURL = "/" + f.EnvironmentID + "/reset?" + url.Values{"username": {f.Username}, "return": {"/" + f.EnvironmentID + "/login/" + f.ID}}.Encode()
		}
		s.renderPage(w, r, status, "password", f.Request.RedirectURI, p)
	case gatehouse.StepChangePassword:
		p.Title = "Change your password"
		p.Policy = s.svc.PolicyDescription(r.Context(), f.EnvironmentID)
		s.renderPage(w, r, status, "change", f.Request.RedirectURI, p)
	case gatehouse.StepMFA, gatehouse.StepMFAEnrol:
		s.showMFA(w, r, status, f, secret, problem)
	case gatehouse.StepRecoveryCodes:
		// The codes were shown once, in the answer to the form that made
		// them; a reload cannot show them again.
		p.Title = "Recovery codes"
		p.Message = "Your recovery codes were shown when you set up your second factor. You can make new ones on your account page."
		s.renderPage(w, r, status, "recovery", f.Request.RedirectURI, p)
	case gatehouse.StepUpstream:
		s.sendUpstream(w, r, f)
	case gatehouse.StepUpstreamDone:
		result, err := s.svc.CompleteUpstream(r.Context(), actorOf(r, gatehouse.ActorUser, f.Username), f)
		switch {
		case err != nil:
			s.federationError(w, r, err)
		case result == nil:
			// The IdP requires a second factor here too: on to that step.
			http.Redirect(w, r, "/"+f.EnvironmentID+"/login/"+f.ID, http.StatusSeeOther)
		default:
			s.signedIn(w, r, f, result)
		}
	}
}

// maxLoginForm bounds a sign-in form.
const maxLoginForm = 16 << 10

// loginSubmit advances a sign-in by one step.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	f, secret, ok := s.loginFlow(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.showStep(w, r, http.StatusBadRequest, f, secret, "The form could not be read. Try again.")
		return
	}
	if !service.CheckCSRF(f, secret, r.PostForm.Get("csrf")) {
		s.svc.RecordAuthorizeRefusal(r.Context(), f.EnvironmentID, actorOf(r, gatehouse.ActorAnonymous, ""), f.Request.ClientID, "sign-in form without a valid CSRF token")
		s.message(w, r, http.StatusForbidden, "Request refused", "This form was not sent by the sign-in page. Go back to the application and sign in again.")
		return
	}
	actor := actorOf(r, gatehouse.ActorUser, f.Username)
	var result *service.LoginResult
	var err error
	switch f.Step {
	case gatehouse.StepIdentifier:
		err = s.svc.SubmitIdentifier(r.Context(), f, r.PostForm.Get("username"))
	case gatehouse.StepPassword:
		result, err = s.svc.SubmitPassword(r.Context(), actor, f, r.PostForm.Get("password"))
	case gatehouse.StepChangePassword:
		result, err = s.svc.SubmitPasswordChange(r.Context(), actor, f, r.PostForm.Get("current"), r.PostForm.Get("new"), r.PostForm.Get("confirm"))
	case gatehouse.StepMFA, gatehouse.StepMFAEnrol:
		s.submitMFA(w, r, f, secret)
		return
	case gatehouse.StepRecoveryCodes:
		result, err = s.svc.KeptRecoveryCodes(r.Context(), actor, f)
	}
	switch code := gatehouse.ErrorCode(err); {
	case err == nil && f.Step == gatehouse.StepUpstream:
		s.sendUpstream(w, r, f)
	case err == nil && result == nil:
		http.Redirect(w, r, "/"+f.EnvironmentID+"/login/"+f.ID, http.StatusSeeOther)
	case err == nil:
		s.signedIn(w, r, f, result)
	case errors.As(err, new(*service.Refusal)):
		s.federationError(w, r, err)
	case code == gatehouse.EUNAUTHORIZED && f.Step == gatehouse.StepChangePassword:
		s.showStep(w, r, http.StatusOK, f, secret, "The current password is not right.")
	case code == gatehouse.EUNAUTHORIZED:
		// The same words for an unknown user, a wrong password, a locked
		// or disabled account: nothing tells them apart.
		s.showStep(w, r, http.StatusOK, f, secret, "The username or password is not right, or this account cannot sign in now.")
	case code == gatehouse.EINVALID:
		s.showStep(w, r, http.StatusOK, f, secret, gatehouse.ErrorMessage(err))
	case code == gatehouse.ETOOMANY:
		w.Header().Set("Retry-After", "5")
		s.showStep(w, r, http.StatusTooManyRequests, f, secret, "Too many failed sign-ins from your network. Wait a few seconds and try again.")
	case code == gatehouse.EUNAVAILABLE:
		w.Header().Set("Retry-After", "1")
		s.showStep(w, r, http.StatusServiceUnavailable, f, secret, "Too many sign-ins at once. Try again in a moment.")
	default:
		s.writeError(w, r, err)
	}
}

// signedIn sets the session cookie and answers the client with the code,
// or, for a sign-in without a client, goes back to the account page.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, f *gatehouse.LoginFlow, result *service.LoginResult) {
	s.setCookie(w, sessionCookie, result.Cookie, "/"+f.EnvironmentID+"/", int(time.Until(result.Session.ExpiresAt).Seconds()))
	s.setCookie(w, loginCookie, "", "/"+f.EnvironmentID+"/login/", -1)
	if f.Request.ClientID == "" {
		s.accountSignedIn(w, r, f, result)
		return
	}
	s.respondToClient(w, r, &f.Request, url.Values{"code": {result.Code}})
}

// loginRestart goes back to the identifier step ("not you?").
func (s *Server) loginRestart(w http.ResponseWriter, r *http.Request) {
	f, secret, ok := s.loginFlow(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if r.ParseForm() != nil || !service.CheckCSRF(f, secret, r.PostForm.Get("csrf")) {
		s.message(w, r, http.StatusForbidden, "Request refused", "This form was not sent by the sign-in page. Go back to the application and sign in again.")
		return
	}
	if err := s.svc.RestartLogin(r.Context(), f); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, "/"+f.EnvironmentID+"/login/"+f.ID, http.StatusSeeOther)
}

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636).
type authorizationCodeGrant struct{ s *Server }

func (g authorizationCodeGrant) Token(r *http.Request, envID string, form url.Values) (any, error) {
	app, err := g.s.authenticateClientOrPublic(r, envID, form)
	if err != nil {
		return nil, err
	}
	if form.Get("code") == "" {
		return nil, invalidRequest("code is required")
	}
	tokens, err := g.s.svc.ExchangeCode(r.Context(), actorOf(r, gatehouse.ActorApplication, app.ClientID), envID, app,
		form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier"))
	if err != nil {
		return nil, grantFailure(err)
	}
	return userTokenResponse(tokens), nil
}

// userinfo is OIDC Core §5.3.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	envID := r.PathValue("env")
	token := bearerToken(r)
	if token == "" && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
		if r.ParseForm() == nil {
			token = r.PostForm.Get("access_token")
		}
	}
	claims, err := s.svc.Userinfo(r.Context(), envID, token)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.EUNAUTHORIZED {
			s.svc.RecordBearerFailure(r.Context(), envID, actorOf(r, gatehouse.ActorAnonymous, ""), r.Method+" "+r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": gatehouse.ErrorMessage(err)})
			return
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

// logout is RP-initiated logout (OIDC RP-Initiated Logout 1.0). With a
// valid id_token_hint it signs out at once; without one it asks the user
// to confirm, so that a link on another site cannot sign anyone out.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	form, terr := tokenForm(w, r)
	if terr != nil {
		s.message(w, r, http.StatusBadRequest, "Sign-out request not valid", terr.Description)
		return
	}
	cookie := cookieValue(r, sessionCookie)
	target, hinted := s.svc.LogoutTarget(r.Context(), envID, form.Get("id_token_hint"), form.Get("post_logout_redirect_uri"))
	confirmed := r.Method == http.MethodPost && cookie != "" && form.Get("confirm") == service.LogoutToken(envID, cookie)
	if !hinted && !confirmed && s.svc.SessionFor(r.Context(), envID, cookie) != nil {
		s.renderPage(w, r, http.StatusOK, "logout", "", page{Title: "Sign out?", Action: "/" + envID + "/oauth2/logout",
			CSRF: service.LogoutToken(envID, cookie)})
		return
	}
	upstream := s.upstreamLogoutOffer(r, s.svc.SessionFor(r.Context(), envID, cookie))
	if err := s.svc.EndSession(r.Context(), actorOf(r, gatehouse.ActorUser, ""), envID, cookie); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setCookie(w, sessionCookie, "", "/"+envID+"/", -1)
	if target == "" {
		s.renderPage(w, r, http.StatusOK, "message", "", page{Title: "Signed out", Message: "You are signed out. You can close this window.",
			Link: upstream, LinkText: "Also sign out of your organisation's sign-in service"})
		return
	}
	if st := form.Get("state"); st != "" {
		u, _ := url.Parse(target)
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// bearerToken reads an Authorization: Bearer header, the scheme in any case.
func bearerToken(r *http.Request) string {
	var scheme, token string
	if _, err := fmt.Sscan(r.Header.Get("Authorization"), &scheme, &token); err != nil || !equalFoldASCII(scheme, "bearer") {
		return ""
	}
	return token
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}
