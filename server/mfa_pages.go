package server

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// showMFA asks for a second factor, or has the user enrol one.
func (s *Server) showMFA(w http.ResponseWriter, r *http.Request, status int, f *gatehouse.LoginFlow, secret, problem string) {
	method := r.URL.Query().Get("method")
	if r.Method == http.MethodPost {
		method = f.MFA.Method
	}
	prompt, err := s.svc.PrepareMFA(r.Context(), f, method)
	if err != nil {
		if errors.As(err, new(*service.Refusal)) {
			s.federationError(w, r, err)
			return
		}
		if gatehouse.ErrorCode(err) == gatehouse.EINVALID && method != "" {
			prompt, err = s.svc.PrepareMFA(r.Context(), f, "")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	p := page{Action: "/" + f.EnvironmentID + "/login/" + f.ID, CSRF: service.CSRFToken(f, secret), Username: f.Username, Error: problem,
		MFA: prompt, Enrol: f.Step == gatehouse.StepMFAEnrol, Title: "Confirm it's you"}
	if p.Enrol {
		p.Title = "Set up a second factor"
	}
	if prompt.BlockedUntil != nil && status == http.StatusOK {
		status = http.StatusTooManyRequests
	}
	s.renderPage(w, r, status, "mfa", f.Request.RedirectURI, p)
}

// submitMFA checks a second factor, enrols one, or sends another email code.
func (s *Server) submitMFA(w http.ResponseWriter, r *http.Request, f *gatehouse.LoginFlow, secret string) {
	if r.PostForm.Get("action") == "resend" {
		switch err := s.svc.ResendEmailCode(r.Context(), f); gatehouse.ErrorCode(err) {
		case "":
			http.Redirect(w, r, "/"+f.EnvironmentID+"/login/"+f.ID, http.StatusSeeOther)
		case gatehouse.ETOOMANY, gatehouse.EINVALID, gatehouse.EUNAVAILABLE:
			s.showMFA(w, r, http.StatusOK, f, secret, gatehouse.ErrorMessage(err))
		default:
			s.writeError(w, r, err)
		}
		return
	}
	in := service.MFAInput{Method: r.PostForm.Get("method"), Code: r.PostForm.Get("code"), Name: r.PostForm.Get("name"),
		Credential: []byte(r.PostForm.Get("credential"))}
	result, err := s.svc.SubmitMFA(r.Context(), actorOf(r, gatehouse.ActorUser, f.Username), f, in)
	switch code := gatehouse.ErrorCode(err); {
	case err == nil && len(result.RecoveryCodes) > 0:
		s.renderPage(w, r, http.StatusOK, "recovery", f.Request.RedirectURI, page{Title: "Save your recovery codes",
			Action: "/" + f.EnvironmentID + "/login/" + f.ID, CSRF: service.CSRFToken(f, secret), Codes: result.RecoveryCodes})
	case err == nil:
		s.signedIn(w, r, f, result.LoginResult)
	case errors.As(err, new(*service.Refusal)):
		s.federationError(w, r, err)
	case code == gatehouse.ETOOMANY:
		// The page itself says until when.
		s.showMFA(w, r, http.StatusTooManyRequests, f, secret, "")
	case code == gatehouse.EUNAUTHORIZED || code == gatehouse.EINVALID:
		s.showMFA(w, r, http.StatusOK, f, secret, gatehouse.ErrorMessage(err))
	case code == gatehouse.EUNAVAILABLE:
		s.showMFA(w, r, http.StatusServiceUnavailable, f, secret, gatehouse.ErrorMessage(err))
	default:
		s.writeError(w, r, err)
	}
}
