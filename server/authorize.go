package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// Cookie names. The session cookie is the single sign-on session; the login
// cookie binds a sign-in in progress to the browser that started it.
const (
	sessionCookie = "gh_session"
	loginCookie   = "gh_login"
)

func (s *Server) secureCookies() bool {
	u, err := url.Parse(s.svc.BaseURL)
	return err == nil && u.Scheme == "https"
}

func (s *Server) setCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// authorizeEndpoint is the authorization endpoint (RFC 6749 §4.1, OIDC Core
// §3.1.2): GET with a query or POST with a form.
func (s *Server) authorizeEndpoint(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is no such sign-in page.")
		return
	}
	form, terr := tokenForm(w, r)
	if terr != nil {
		s.svc.RecordAuthorizeRefusal(r.Context(), envID, actorOf(r, gatehouse.ActorAnonymous, ""), r.URL.Query().Get("client_id"), terr.Description)
		s.message(w, r, http.StatusBadRequest, "Sign-in request not valid", terr.Description)
		return
	}
	req := gatehouse.AuthorizationRequest{
		ClientID: form.Get("client_id"), RedirectURI: form.Get("redirect_uri"), Scope: form.Get("scope"), State: form.Get("state"),
		Nonce: form.Get("nonce"), CodeChallenge: form.Get("code_challenge"), CodeChallengeMethod: form.Get("code_challenge_method"),
		ResponseMode: form.Get("response_mode"), Prompt: form.Get("prompt"), LoginHint: form.Get("login_hint"),
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1
		}
		req.MaxAge = &n
	}
	actor := actorOf(r, gatehouse.ActorAnonymous, "")
	// The client and its redirect URI are checked first: until they are,
	// no error may be sent to the redirect URI.
	if _, err := s.svc.ValidateAuthorization(r.Context(), envID, form.Get("response_type"), &req); err != nil {
		s.authorizeError(w, r, &req, err)
		return
	}
	if form.Get("request") != "" {
		s.authorizeError(w, r, &req, &service.AuthorizeError{Code: "request_not_supported", Description: "request objects are not supported", Redirect: true})
		return
	}
	if form.Get("request_uri") != "" {
		s.authorizeError(w, r, &req, &service.AuthorizeError{Code: "request_uri_not_supported", Description: "request_uri is not supported", Redirect: true})
		return
	}
	sess := s.svc.SessionFor(r.Context(), envID, cookieValue(r, sessionCookie))
	if s.svc.SessionSatisfies(r.Context(), sess, &req) {
		code, err := s.svc.IssueCode(r.Context(), actor, envID, &req, sess)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.respondToClient(w, r, &req, url.Values{"code": {code}})
		return
	}
	if req.Prompt == "none" {
		s.authorizeError(w, r, &req, &service.AuthorizeError{Code: "login_required", Description: "the user is not signed in", Redirect: true})
		return
	}
	flow, secret, err := s.svc.StartLogin(r.Context(), envID, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setCookie(w, loginCookie, secret, "/"+envID+"/login/", int(service.LoginFlowTTL.Seconds()))
	http.Redirect(w, r, "/"+envID+"/login/"+flow.ID, http.StatusSeeOther)
}

// authorizeError answers a refusal: to the client when its redirect URI is
// known good, on a page of our own otherwise (never an open redirect).
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, req *gatehouse.AuthorizationRequest, err error) {
	var ae *service.AuthorizeError
	if !errors.As(err, &ae) {
		s.writeError(w, r, err)
		return
	}
	s.svc.RecordAuthorizeRefusal(r.Context(), r.PathValue("env"), actorOf(r, gatehouse.ActorAnonymous, ""), req.ClientID, ae.Code+": "+ae.Description)
	if !ae.Redirect {
		s.message(w, r, http.StatusBadRequest, "Sign-in request not valid", "The application sent a sign-in request Gatehouse cannot accept: "+ae.Description+".")
		return
	}
	s.respondToClient(w, r, req, url.Values{"error": {ae.Code}, "error_description": {ae.Description}})
}

// respondToClient sends the authorization response to the redirect URI, by
// query or by form post, with state and iss (RFC 9207).
func (s *Server) respondToClient(w http.ResponseWriter, r *http.Request, req *gatehouse.AuthorizationRequest, params url.Values) {
	if req.State != "" {
		params.Set("state", req.State)
	}
	params.Set("iss", s.svc.Issuer(r.PathValue("env")))
	if req.ResponseMode == "form_post" {
		fields := map[string]string{}
		for k := range params {
			fields[k] = params.Get(k)
		}
		s.renderPage(w, r, http.StatusOK, "formpost", req.RedirectURI, page{Title: "Signing in", Action: req.RedirectURI, Fields: fields})
		return
	}
	target, _ := url.Parse(req.RedirectURI)
	q := target.Query()
	for k := range params {
		q.Set(k, params.Get(k))
	}
	target.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}
