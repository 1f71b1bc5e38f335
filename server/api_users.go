package server

import (
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// userInput is the writable part of a user, for POST (create) and PATCH
// (absent fields unchanged).
type userInput struct {
	Username         *string                     `json:"username"`
	Ref              *string                     `json:"ref"`
	Title            *string                     `json:"title"`
	FirstName        *string                     `json:"firstName"`
	LastName         *string                     `json:"lastName"`
	PrimaryEmail     *string                     `json:"primaryEmail"`
	PrimaryPhone     *string                     `json:"primaryPhone"`
	Type             *string                     `json:"type"`
	Status           *string                     `json:"status"`
	Timezone         *string                     `json:"timezone"`
	Language         *string                     `json:"language"`
	Department       *string                     `json:"department"`
	Country          *string                     `json:"country"`
	PromotionOptIn   *bool                       `json:"promotionOptIn"`
	PrimaryRetailer  *string                     `json:"primaryRetailer"`
	PrimaryLocation  *string                     `json:"primaryLocation"`
	Attributes       *[]gatehouse.Attribute      `json:"attributes"`
	Roles            *[]gatehouse.RoleAssignment `json:"roles"`
	IdentityProvider *string                     `json:"identityProvider"` // create only
	Password         *string                     `json:"password"`         // create only
	ForceChange      *bool                       `json:"forceChange"`      // create only, with password
}

func (in *userInput) patch() service.UserPatch {
	return service.UserPatch{
		Username: in.Username, Ref: in.Ref, Title: in.Title, FirstName: in.FirstName, LastName: in.LastName,
		PrimaryEmail: in.PrimaryEmail, PrimaryPhone: in.PrimaryPhone, Type: in.Type, Status: in.Status,
		Timezone: in.Timezone, Language: in.Language, Department: in.Department, Country: in.Country,
		PromotionOptIn: in.PromotionOptIn, PrimaryRetailer: in.PrimaryRetailer, PrimaryLocation: in.PrimaryLocation,
		Attributes: in.Attributes, Roles: in.Roles,
	}
}

// grantsAdminRole reports whether roles hold an administrator role.
func grantsAdminRole(roles []gatehouse.RoleAssignment) bool {
	return slices.ContainsFunc(roles, func(a gatehouse.RoleAssignment) bool { return slices.Contains(gatehouse.AdminRoles, a.Role) })
}

// guardEscalation keeps a USER_ADMIN from making or changing
// administrators: only an ENVIRONMENT_ADMIN assigns administrator roles or
// touches a user who holds one.
func (s *Server) guardEscalation(p *principal, target *gatehouse.User, newRoles *[]gatehouse.RoleAssignment) error {
	if p.has(gatehouse.RoleEnvironmentAdmin) {
		return nil
	}
	if (target != nil && grantsAdminRole(target.Roles)) || (newRoles != nil && grantsAdminRole(*newRoles)) {
		return gatehouse.Errorf(gatehouse.EFORBIDDEN, "only an ENVIRONMENT_ADMIN can manage administrators and administrator roles")
	}
	return nil
}

func (s *Server) targetUser(r *http.Request, p *principal) (*gatehouse.User, error) {
	return s.svc.GetUser(r.Context(), p.envID, r.PathValue("id"))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in userInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.guardEscalation(p, nil, in.Roles); err != nil {
		return err
	}
	var nu service.NewUser
	if in.Username == nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "username is required")
	}
	patch := in.patch()
	patch.Apply(&nu.User)
	if in.IdentityProvider != nil {
		nu.IdentityProvider = *in.IdentityProvider
	}
	if in.Password != nil {
		if *in.Password == "" {
			return gatehouse.Errorf(gatehouse.EINVALID, "password is empty: leave it out to create a user without one")
		}
		nu.Password = *in.Password
	}
	if in.ForceChange != nil {
		if in.Password == nil {
			return gatehouse.Errorf(gatehouse.EINVALID, "forceChange goes with password")
		}
		nu.KeepPassword = !*in.ForceChange
	}
	u, err := s.svc.CreateUser(r.Context(), p.actor, p.envID, nu)
	if err != nil {
		return err
	}
	return created(w, "/api/v1/environments/"+p.envID+"/users/"+u.ID, u)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, u)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := strictQuery(r, "username", "firstName", "lastName", "type", "status", "primaryEmail",
		"createdFrom", "createdTo", "updatedFrom", "updatedTo", "limit", "cursor")
	if err != nil {
		return err
	}
	f := gatehouse.UserFilter{
		Username: q.Get("username"), FirstName: q.Get("firstName"), LastName: q.Get("lastName"),
		Type: q.Get("type"), Status: q.Get("status"), PrimaryEmail: q.Get("primaryEmail"),
	}
	for _, t := range []struct {
		name string
		to   **time.Time
	}{{"createdFrom", &f.CreatedFrom}, {"createdTo", &f.CreatedTo}, {"updatedFrom", &f.UpdatedFrom}, {"updatedTo", &f.UpdatedTo}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return gatehouse.Errorf(gatehouse.EINVALID, "%s must be an RFC 3339 time such as 2026-01-31T00:00:00Z", t.name)
			}
			*t.to = &at
		}
	}
	if f.Limit, err = queryLimit(r); err != nil {
		return err
	}
	page, err := s.svc.ListUsers(r.Context(), p.envID, f, q.Get("cursor"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, page)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in userInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Password != nil || in.IdentityProvider != nil || in.ForceChange != nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "password, forceChange and identityProvider cannot be patched: use PUT …/password")
	}
	target, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	if err := s.guardEscalation(p, target, in.Roles); err != nil {
		return err
	}
	u, err := s.svc.UpdateUser(r.Context(), p.actor, p.envID, target.ID, in.patch())
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, u)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	target, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	if err := s.guardEscalation(p, target, nil); err != nil {
		return err
	}
	if err := s.svc.DeleteUser(r.Context(), p.actor, p.envID, target.ID); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Password    *string `json:"password"`
		ForceChange *bool   `json:"forceChange"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Password == nil || *in.Password == "" {
		return gatehouse.Errorf(gatehouse.EINVALID, "password is required")
	}
	force := in.ForceChange == nil || *in.ForceChange
	target, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	if err := s.guardEscalation(p, target, nil); err != nil {
		return err
	}
	u, err := s.svc.SetPassword(r.Context(), p.actor, p.envID, target.ID, *in.Password, force)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, u)
}

func (s *Server) forceChange(w http.ResponseWriter, r *http.Request, p *principal) error {
	target, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	if err := s.guardEscalation(p, target, nil); err != nil {
		return err
	}
	u, err := s.svc.ForcePasswordChange(r.Context(), p.actor, p.envID, target.ID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, u)
}

func (s *Server) unlockUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	target, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	if err := s.guardEscalation(p, target, nil); err != nil {
		return err
	}
	u, err := s.svc.Unlock(r.Context(), p.actor, p.envID, target.ID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, u)
}

func (s *Server) setUserRoles(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Roles *[]gatehouse.RoleAssignment `json:"roles"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Roles == nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "roles is required (an empty list removes every role)")
	}
	target, err := s.targetUser(r, p)
	if err != nil {
		return err
	}
	if err := s.guardEscalation(p, target, in.Roles); err != nil {
		return err
	}
	u, err := s.svc.SetRoles(r.Context(), p.actor, p.envID, target.ID, *in.Roles)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, u)
}
