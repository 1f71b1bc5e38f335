package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// consoleUserFilter is the users page's search: one box for username,
// email or names (a % is a wildcard), type, status and page size.
type consoleUserFilter struct {
	Query, Field, Type, Status string
	Limit                      int
}

var consolePageSizes = []int{10, 25, 100}

func (s *Server) consoleUsers(w http.ResponseWriter, r *http.Request, c *console) {
	q := r.URL.Query()
	f := consoleUserFilter{Query: strings.TrimSpace(q.Get("q")), Field: q.Get("field"), Type: q.Get("type"), Status: q.Get("status"), Limit: 25}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil {
		for _, size := range consolePageSizes {
			if n == size {
				f.Limit = n
			}
		}
	}
	filter := gatehouse.UserFilter{Type: f.Type, Status: f.Status, Limit: f.Limit}
	if f.Query != "" {
		switch f.Field {
		case "email":
			filter.PrimaryEmail = f.Query
		case "firstName":
			filter.FirstName = f.Query
		case "lastName":
			filter.LastName = f.Query
		default:
			f.Field, filter.Username = "username", f.Query
		}
	}
	p := c.page("Users", "users", nil)
	page, err := s.svc.ListUsers(r.Context(), c.envID, filter, q.Get("cursor"))
	status := http.StatusOK
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			s.writeError(w, r, err)
			return
		}
		p.Error, page, status = gatehouse.ErrorMessage(err), &service.UserPage{}, http.StatusBadRequest
	}
	next := ""
	if page.NextCursor != "" {
		nq := url.Values{"q": {f.Query}, "field": {f.Field}, "type": {f.Type}, "status": {f.Status}, "limit": {strconv.Itoa(f.Limit)},
			"cursor": {page.NextCursor}}
		next = "/console/" + c.envID + "/users?" + nq.Encode()
	}
	p.Data = map[string]any{"Filter": f, "Users": page.Items, "Next": next, "Sizes": consolePageSizes}
	s.renderConsole(w, r, status, "users", p)
}

func (s *Server) consoleUser(w http.ResponseWriter, r *http.Request, c *console) {
	u, err := s.svc.GetUser(r.Context(), c.envID, r.PathValue("id"))
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			s.renderConsole(w, r, http.StatusNotFound, "denied", c.page("User not found", "users", nil))
			return
		}
		s.writeError(w, r, err)
		return
	}
	mfa, err := s.svc.UserMFA(r.Context(), c.envID, u.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := c.page(u.Username, "users", map[string]any{"User": u, "MFA": mfa,
		"CanManage": c.CanWriteUser(u)})
	p.Notice = consoleNotices[r.URL.Query().Get("done")]
	s.renderConsole(w, r, http.StatusOK, "user", p)
}

// CanWriteUser reports whether this administrator may change u: a
// USER_ADMIN never changes administrators.
func (c *console) CanWriteUser(u *gatehouse.User) bool {
	if !c.has(gatehouse.RoleEnvironmentAdmin) && !c.has(gatehouse.RoleUserAdmin) {
		return false
	}
	return c.has(gatehouse.RoleEnvironmentAdmin) || !grantsAdminRole(u.Roles)
}

// consoleNotices are the messages shown after an action, by key: the
// redirect never carries text of the request.
var consoleNotices = map[string]string{
	"created": "The user is created.", "disabled": "The user is disabled: their sessions and tokens have ended.",
	"enabled": "The user is enabled.", "unlocked": "The lockout is over.",
	"force-change": "The user must choose a new password at their next sign-in.",
}

// consoleUserAction changes a user: enable, disable, unlock, force-change.
func (s *Server) consoleUserAction(w http.ResponseWriter, r *http.Request, c *console) {
	u, err := s.svc.GetUser(r.Context(), c.envID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.guardEscalation(c.principal, u, nil); err != nil {
		s.renderConsole(w, r, http.StatusForbidden, "denied", c.page("Not allowed", "users", []string{gatehouse.RoleEnvironmentAdmin}))
		return
	}
	action := r.PathValue("action")
	switch action {
	case "disable", "enable":
		status := gatehouse.UserInactive
		if action == "enable" {
			status = gatehouse.UserActive
		}
		_, err = s.svc.UpdateUser(r.Context(), c.actor, c.envID, u.ID, service.UserPatch{Status: &status})
		action += "d"
	case "unlock":
		_, err = s.svc.Unlock(r.Context(), c.actor, c.envID, u.ID)
		action = "unlocked"
	case "force-change":
		_, err = s.svc.ForcePasswordChange(r.Context(), c.actor, c.envID, u.ID)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		mfa, _ := s.svc.UserMFA(r.Context(), c.envID, u.ID)
		p := c.page(u.Username, "users", map[string]any{"User": u, "MFA": mfa, "CanManage": c.CanWriteUser(u)})
		p.Error = gatehouse.ErrorMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "user", p)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/users/"+u.ID+"?done="+action, http.StatusSeeOther)
}

func (s *Server) consoleNewUser(w http.ResponseWriter, r *http.Request, c *console) {
	idps, err := s.svc.ListIdentityProviders(r.Context(), c.envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.renderConsole(w, r, http.StatusOK, "user-new", c.page("New user", "users", map[string]any{"IdPs": idps, "Form": url.Values{"kind": {"local"}}}))
}

// consoleCreateUser creates a local user (an initial password they must
// change), a corporate user (an IdP, never a password) or an API user.
func (s *Server) consoleCreateUser(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	nu := service.NewUser{User: gatehouse.User{Username: strings.TrimSpace(f.Get("username")), FirstName: f.Get("firstName"),
		LastName: f.Get("lastName"), PrimaryEmail: strings.TrimSpace(f.Get("email"))}}
	switch f.Get("kind") {
	case "corporate":
		nu.IdentityProvider = f.Get("identityProvider")
	case "api":
		nu.Type, nu.Password, nu.KeepPassword = gatehouse.UserTypeAPI, f.Get("password"), true
	default:
		nu.Password = f.Get("password")
	}
	u, err := s.svc.CreateUser(r.Context(), c.actor, c.envID, nu)
	if err != nil {
		idps, _ := s.svc.ListIdentityProviders(r.Context(), c.envID)
		form := url.Values{}
		for k, v := range f {
			if k != "password" && k != "csrf" {
				form[k] = v
			}
		}
		p := c.page("New user", "users", map[string]any{"IdPs": idps, "Form": form})
		p.Error = gatehouse.ErrorMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "user-new", p)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/users/"+u.ID+"?done=created", http.StatusSeeOther)
}
