package server

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// maxUpstreamAnswer bounds what an IdP's answer may post (a SAML response
// with its certificates and attributes is a few tens of KiB).
const maxUpstreamAnswer = 512 << 10

// sendUpstream takes the browser to the corporate IdP: by a redirect, a
// page that posts a form (SAML HTTP-POST), or, answering a form, a page with
// a link it follows at once. Browsers hold a form's redirects to the form
// page's form-action, and the IdP may redirect straight back to us and on
// to the application, which no policy of this page can list; a link's
// redirects are free of it.
func (s *Server) sendUpstream(w http.ResponseWriter, r *http.Request, f *gatehouse.LoginFlow) {
	start, err := s.svc.BeginUpstream(r.Context(), f)
	if err != nil {
		s.upstreamUnavailable(w, r, f, err)
		return
	}
	target, err := url.Parse(start.URL)
	if err != nil || (target.Scheme != "https" && target.Scheme != "http") {
		s.upstreamUnavailable(w, r, f, gatehouse.Errorf(gatehouse.EUNAVAILABLE, "the identity provider's sign-in URL is not valid"))
		return
	}
	p := page{Title: "Continue to your organisation", Action: start.URL,
		Message: "You sign in at your organisation's sign-in page. If it does not open by itself, continue:"}
	switch {
	case len(start.Form) > 0:
		p.Fields = map[string]string{}
		for k := range start.Form {
			p.Fields[k] = start.Form.Get(k)
		}
		s.renderPage(w, r, http.StatusOK, "formpost", p.Action, p)
	case r.Method == http.MethodGet:
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, start.URL, http.StatusSeeOther)
	default:
		s.renderPage(w, r, http.StatusOK, "upstream", "", p)
	}
}

func (s *Server) upstreamUnavailable(w http.ResponseWriter, r *http.Request, f *gatehouse.LoginFlow, err error) {
	s.log.WarnContext(r.Context(), "corporate identity provider unavailable", "env", f.EnvironmentID, "err", err)
	w.Header().Set("Retry-After", "5")
	s.message(w, r, http.StatusServiceUnavailable, "Your organisation's sign-in is unavailable",
		"Your organisation's sign-in service cannot be reached right now. Try again in a few minutes, or ask your IT team.")
}

// upstreamCallback takes a corporate IdP's answer: the OIDC redirect URI
// (/{env}/oidc/{idp}/callback) and the SAML assertion consumer service
// (/{env}/saml/{idp}/acs). The sign-in then goes on at its own page, where
// the cookie of the browser that started it is checked.
func (s *Server) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is nothing here.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpstreamAnswer)
	if err := r.ParseForm(); err != nil {
		s.message(w, r, http.StatusBadRequest, "Sign-in refused", "The answer from your organisation's sign-in service could not be read.")
		return
	}
	answer := r.Form
	if r.Method == http.MethodPost {
		answer = r.PostForm
	}
	f, err := s.svc.FinishUpstream(r.Context(), actorOf(r, gatehouse.ActorUser, ""), envID, r.PathValue("idp"), answer)
	if err != nil {
		s.federationError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/"+envID+"/login/"+f.ID, http.StatusSeeOther)
}

// federationError explains a refused or failed federated sign-in.
func (s *Server) federationError(w http.ResponseWriter, r *http.Request, err error) {
	var refusal *service.Refusal
	var expired *service.ExpiredLogin
	switch {
	case errors.As(err, &refusal):
		s.message(w, r, http.StatusForbidden, "Sign-in refused", refusal.Message)
	case errors.As(err, &expired):
		s.renderPage(w, r, http.StatusNotFound, "expired", "", page{Title: "This page has expired", Action: expired.RestartURL})
	case gatehouse.ErrorCode(err) == gatehouse.ETOOMANY:
		w.Header().Set("Retry-After", "5")
		s.message(w, r, http.StatusTooManyRequests, "Too many attempts", "Too many refused sign-ins from your network. Wait a few seconds and try again.")
	case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
		s.message(w, r, http.StatusNotFound, "This page has expired", "This sign-in has expired or was finished in another window. Go back to the application and sign in again.")
	default:
		s.writeError(w, r, err)
	}
}

// serviceProviderMetadata publishes the SAML SP metadata an IdP reads.
func (s *Server) serviceProviderMetadata(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		http.NotFound(w, r)
		return
	}
	md, err := s.svc.ServiceProviderMetadata(r.Context(), envID, r.PathValue("idp"))
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			http.NotFound(w, r)
			return
		}
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(md)
}

// upstreamLogoutOffer is where a federated session's user may also sign
// out of their IdP, when it supports that.
func (s *Server) upstreamLogoutOffer(r *http.Request, sess *gatehouse.Session) string {
	if sess == nil || sess.IdentityProviderID == "" {
		return ""
	}
	target, err := s.svc.UpstreamLogoutURL(r.Context(), sess)
	if err != nil {
		return ""
	}
	return target
}
