package server

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
)

func (s *Server) getMFAPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	pol, err := s.svc.MFAPolicy(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, pol)
}

func (s *Server) putMFAPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	in := gatehouse.DefaultMFAPolicy()
	if err := decode(w, r, &in); err != nil {
		return err
	}
	pol, err := s.svc.SetMFAPolicy(r.Context(), p.actor, p.envID, in)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, pol)
}

func (s *Server) getSignOnPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	pol, err := s.svc.SignOnPolicy(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, pol)
}

func (s *Server) putSignOnPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in gatehouse.SignOnPolicy
	if err := decode(w, r, &in); err != nil {
		return err
	}
	pol, err := s.svc.SetSignOnPolicy(r.Context(), p.actor, p.envID, in)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, pol)
}

// userMFATarget is the user of an MFA route, whom a USER_ADMIN may manage
// only when they are not an administrator.
func (s *Server) userMFATarget(r *http.Request, p *principal, write bool) (*gatehouse.User, error) {
	u, err := s.targetUser(r, p)
	if err != nil {
		return nil, err
	}
	if write {
		if err := s.guardEscalation(p, u, nil); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (s *Server) getUserMFA(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.userMFATarget(r, p, false)
	if err != nil {
		return err
	}
	m, err := s.svc.UserMFA(r.Context(), p.envID, u.ID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, m)
}

func (s *Server) deleteUserMFADevice(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.userMFATarget(r, p, true)
	if err != nil {
		return err
	}
	if err := s.svc.RemoveMFADevice(r.Context(), p.actor, p.envID, u.ID, r.PathValue("device")); err != nil {
		return err
	}
	return noContent(w)
}

// bypassInput grants a temporary MFA bypass.
type bypassInput struct {
	Until *time.Time `json:"until"`
}

func (s *Server) putUserMFABypass(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.userMFATarget(r, p, true)
	if err != nil {
		return err
	}
	var in bypassInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Until == nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "until is required: when the bypass ends (RFC 3339)")
	}
	if err := s.svc.SetMFABypass(r.Context(), p.actor, p.envID, u.ID, in.Until); err != nil {
		return err
	}
	m, err := s.svc.UserMFA(r.Context(), p.envID, u.ID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, m)
}

func (s *Server) deleteUserMFABypass(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.userMFATarget(r, p, true)
	if err != nil {
		return err
	}
	if err := s.svc.SetMFABypass(r.Context(), p.actor, p.envID, u.ID, nil); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) unblockUserMFA(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.userMFATarget(r, p, true)
	if err != nil {
		return err
	}
	if err := s.svc.UnblockMFA(r.Context(), p.actor, p.envID, u.ID); err != nil {
		return err
	}
	return noContent(w)
}

// sendPasswordResetEmail emails a user a code to choose a new password.
func (s *Server) sendPasswordResetEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.userMFATarget(r, p, true)
	if err != nil {
		return err
	}
	if err := s.svc.SendPasswordResetFor(r.Context(), p.actor, p.envID, u.ID); err != nil {
		return err
	}
	return noContent(w)
}
