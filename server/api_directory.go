package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, p *principal) error {
	roles, err := s.svc.ListRoles(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"items": roles})
}

func (s *Server) getRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	role, err := s.svc.GetRole(r.Context(), p.envID, r.PathValue("name"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, role)
}

type roleInput struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Permissions *[]string `json:"permissions"`
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in roleInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	role := gatehouse.Role{}
	if in.Name != nil {
		role.Name = *in.Name
	}
	if in.Description != nil {
		role.Description = *in.Description
	}
	if in.Permissions != nil {
		role.Permissions = *in.Permissions
	}
	role2, err := s.svc.CreateRole(r.Context(), p.actor, p.envID, role)
	if err != nil {
		return err
	}
	return created(w, "/api/v1/environments/"+p.envID+"/roles/"+role2.Name, role2)
}

func (s *Server) updateRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in roleInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Name != nil && *in.Name != r.PathValue("name") {
		return gatehouse.Errorf(gatehouse.EINVALID, "a role cannot be renamed")
	}
	role, err := s.svc.UpdateRole(r.Context(), p.actor, p.envID, r.PathValue("name"), in.Description, in.Permissions)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, role)
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteRole(r.Context(), p.actor, p.envID, r.PathValue("name")); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) getPasswordPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	pol, err := s.svc.GetPasswordPolicy(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, pol)
}

func (s *Server) putPasswordPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in gatehouse.PasswordPolicy
	if err := decode(w, r, &in); err != nil {
		return err
	}
	pol, err := s.svc.PutPasswordPolicy(r.Context(), p.actor, p.envID, in)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, pol)
}

func (s *Server) getBranding(w http.ResponseWriter, r *http.Request, p *principal) error {
	b, err := s.svc.Branding(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, b)
}

func (s *Server) putBranding(w http.ResponseWriter, r *http.Request, p *principal) error {
	in := gatehouse.DefaultBranding()
	if err := decode(w, r, &in); err != nil {
		return err
	}
	b, err := s.svc.PutBranding(r.Context(), p.actor, p.envID, in)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, b)
}

type applicationInput struct {
	Name                   *string   `json:"name"`
	Type                   *string   `json:"type"` // create only
	Description            *string   `json:"description"`
	RedirectURIs           *[]string `json:"redirectUris"`
	PostLogoutRedirectURIs *[]string `json:"postLogoutRedirectUris"`
	GrantTypes             *[]string `json:"grantTypes"`
	Roles                  *[]string `json:"roles"`
	RefreshTokens          *bool     `json:"refreshTokens"`
	MFARequired            *bool     `json:"mfaRequired"`
	AccessTokenSeconds     *int      `json:"accessTokenSeconds"`
	RefreshTokenSeconds    *int      `json:"refreshTokenSeconds"`
	SigningAlgorithm       *string   `json:"signingAlgorithm"`
	Scopes                 *[]string `json:"scopes"`
}

func (in *applicationInput) patch() service.ApplicationPatch {
	return service.ApplicationPatch{Name: in.Name, Description: in.Description, RedirectURIs: in.RedirectURIs,
		PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, GrantTypes: in.GrantTypes, Roles: in.Roles,
		RefreshTokens: in.RefreshTokens, MFARequired: in.MFARequired, AccessTokenSeconds: in.AccessTokenSeconds, RefreshTokenSeconds: in.RefreshTokenSeconds,
		SigningAlgorithm: in.SigningAlgorithm, Scopes: in.Scopes}
}

// newApplication is a new application of a type with a patch's settings;
// without grant types it gets its type's defaults. The API and the console
// create applications through it.
func newApplication(appType string, p service.ApplicationPatch) (gatehouse.Application, error) {
	app := gatehouse.Application{Type: appType}
	if p.GrantTypes == nil {
		grants := gatehouse.DefaultGrantTypes(appType)
		p.GrantTypes = &grants
	}
	err := service.ApplyApplicationPatch(&app, p)
	return app, err
}

func (s *Server) createApplication(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in applicationInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	appType := ""
	if in.Type != nil {
		appType = *in.Type
	}
	app, err := newApplication(appType, in.patch())
	if err != nil {
		return err
	}
	app2, err := s.svc.CreateApplication(r.Context(), p.actor, p.envID, app)
	if err != nil {
		return err
	}
	return created(w, "/api/v1/environments/"+p.envID+"/applications/"+app2.ID, app2)
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request, p *principal) error {
	apps, err := s.svc.ListApplications(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"items": apps})
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, err := s.svc.GetApplication(r.Context(), p.envID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, app)
}

func (s *Server) updateApplication(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in applicationInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Type != nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "an application's type cannot change: create another")
	}
	app, err := s.svc.UpdateApplication(r.Context(), p.actor, p.envID, r.PathValue("id"), in.patch())
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, app)
}

func (s *Server) rotateApplicationSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, err := s.svc.RotateSecret(r.Context(), p.actor, p.envID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, app)
}

func (s *Server) deleteApplication(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteApplication(r.Context(), p.actor, p.envID, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := strictQuery(r, "actor", "target", "action", "outcome", "from", "to", "limit", "cursor")
	if err != nil {
		return err
	}
	f := gatehouse.AuditFilter{ActorID: q.Get("actor"), TargetID: q.Get("target"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	for _, t := range []struct {
		name string
		to   **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return gatehouse.Errorf(gatehouse.EINVALID, "%s must be an RFC 3339 time", t.name)
			}
			*t.to = &at
		}
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return gatehouse.Errorf(gatehouse.EINVALID, "cursor is not one this server gave")
		}
		f.Before = n
	}
	if f.Limit, err = queryLimit(r); err != nil {
		return err
	}
	page, err := s.svc.ListAuditEvents(r.Context(), p.envID, f)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, page)
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, err := strictQuery(r, "limit", "cursor"); err != nil {
		return err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	page, err := s.svc.ListEnvironments(r.Context(), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, page)
}

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		ID            string `json:"id"`
		DisplayName   string `json:"displayName"`
		AdminUsername string `json:"adminUsername"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	env, err := s.svc.CreateEnvironment(r.Context(), p.actor, service.NewEnvironment{ID: in.ID, DisplayName: in.DisplayName, AdminUsername: in.AdminUsername})
	if err != nil {
		return err
	}
	return created(w, "/api/v1/environments/"+env.Environment.ID, env)
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request, p *principal) error {
	env, err := s.svc.GetEnvironment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, env)
}

func (s *Server) updateEnvironment(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		DisplayName *string `json:"displayName"`
		Status      *string `json:"status"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	env, err := s.svc.UpdateEnvironment(r.Context(), p.actor, r.PathValue("id"), service.EnvironmentChange{DisplayName: in.DisplayName, Status: in.Status})
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, env)
}

func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteEnvironment(r.Context(), p.actor, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}
