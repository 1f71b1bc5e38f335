package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// resetCookie holds the reset page's CSRF secret: the forms repeat it, and
// a page of another site can neither read nor set it.
const resetCookie = "gh_reset"

// resetPage is "forgot your password": a code by email, then a new
// password under the policy (/{env}/reset). The same page serves the
// sign-in's link and the email an administrator sends.
func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is nothing here.")
		return
	}
	csrf := cookieValue(r, resetCookie)
	if len(csrf) != 43 {
		csrf = service.RandomToken()
		s.setCookie(w, resetCookie, csrf, "/"+envID+"/reset", 3600)
	}
	q := r.URL.Query()
	s.renderReset(w, r, http.StatusOK, "", page{Username: truncate(q.Get("username"), 250), Link: s.resetReturn(envID, q.Get("return")), CSRF: csrf})
}

// resetReturn is where the reset page leads back to: a sign-in of this
// environment, never elsewhere.
func (s *Server) resetReturn(envID, v string) string {
	if strings.HasPrefix(v, "/"+envID+"/login/") && !strings.ContainsAny(v, "\\?#") && len(v) < 200 {
		return v
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) renderReset(w http.ResponseWriter, r *http.Request, status int, step string, p page) {
	p.Title, p.Step, p.Action = "Reset your password", step, "/"+r.PathValue("env")+"/reset"
	if step == "code" {
		p.Policy = s.svc.PolicyDescription(r.Context(), r.PathValue("env"))
	}
	if step == "done" {
		p.Title = "Password changed"
	}
	s.renderPage(w, r, status, "reset", "", p)
}

func (s *Server) resetSubmit(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is nothing here.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	csrf := cookieValue(r, resetCookie)
	if r.ParseForm() != nil || len(csrf) != 43 || subtle.ConstantTimeCompare([]byte(csrf), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.message(w, r, http.StatusForbidden, "Request refused", "This form was not sent by the password reset page. Open the page again.")
		return
	}
	p := page{Username: truncate(strings.TrimSpace(r.PostForm.Get("username")), 250), Link: s.resetReturn(envID, r.PostForm.Get("return")), CSRF: csrf}
	actor := actorOf(r, gatehouse.ActorUser, p.Username)
	switch r.PostForm.Get("action") {
	case "send":
		err := s.svc.SendPasswordReset(r.Context(), actor, envID, p.Username)
		switch gatehouse.ErrorCode(err) {
		case "":
			s.renderReset(w, r, http.StatusOK, "code", p)
		case gatehouse.EINVALID, gatehouse.EUNAVAILABLE:
			p.Error = gatehouse.ErrorMessage(err)
			s.renderReset(w, r, http.StatusOK, "", p)
		default:
			s.writeError(w, r, err)
		}
	case "reset":
		if r.PostForm.Get("new") != r.PostForm.Get("confirm") {
			p.Error = "The two new passwords differ."
			s.renderReset(w, r, http.StatusOK, "code", p)
			return
		}
		err := s.svc.ResetPassword(r.Context(), actor, envID, p.Username, r.PostForm.Get("code"), r.PostForm.Get("new"))
		switch gatehouse.ErrorCode(err) {
		case "":
			s.setCookie(w, resetCookie, "", "/"+envID+"/reset", -1)
			s.renderReset(w, r, http.StatusOK, "done", p)
		case gatehouse.EUNAUTHORIZED, gatehouse.EINVALID:
			p.Error = gatehouse.ErrorMessage(err)
			s.renderReset(w, r, http.StatusOK, "code", p)
		case gatehouse.ETOOMANY:
			w.Header().Set("Retry-After", "5")
			p.Error = gatehouse.ErrorMessage(err)
			s.renderReset(w, r, http.StatusTooManyRequests, "code", p)
		default:
			s.writeError(w, r, err)
		}
	default:
		s.message(w, r, http.StatusBadRequest, "Request refused", "This form could not be read. Open the page again.")
	}
}
