package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// consoleEnvironmentsPage is how many environments a page of the
// operators' list shows: the list pages with the service's cursor and never
// loads every environment.
const consoleEnvironmentsPage = 25

// mountConsoleOperators registers the operators' pages of the system
// environment's console: list, create, disable, enable and delete
// environments, through the same service calls as the operator API.
func (s *Server) mountConsoleOperators() {
	s.operatorRoute("GET /console/{env}/environments", opsRead, s.consoleEnvironments)
	s.operatorRoute("GET /console/{env}/environments/new", opsWrite, s.consoleNewEnvironment)
	s.operatorRoute("POST /console/{env}/environments/new", opsWrite, s.consoleCreateEnvironment)
	s.operatorRoute("GET /console/{env}/environments/{id}/delete", opsWrite, s.consoleConfirmDeleteEnvironment)
	s.operatorRoute("POST /console/{env}/environments/{id}/{action}", opsWrite, s.consoleEnvironmentAction)
}

// operatorRoute is a console page of the system environment only: in any
// other environment the administrator roles have the same names but do not
// make an operator, so the page does not exist there.
func (s *Server) operatorRoute(pattern string, a access, handle func(http.ResponseWriter, *http.Request, *console)) {
	s.consoleRoute(pattern, a, func(w http.ResponseWriter, r *http.Request, c *console) {
		if c.envID != gatehouse.SystemEnvironmentID {
			s.renderConsole(w, r, http.StatusNotFound, "denied", c.page("Not found", "", nil))
			return
		}
		handle(w, r, c)
	})
}

// canOperate reports whether this operator may change environments.
func (c *console) canOperate() bool { return slices.ContainsFunc(opsWrite.roles, c.has) }

// consoleEnvironmentNotices are the messages shown after an action, by key.
var consoleEnvironmentNotices = map[string]string{
	"disabled": "is disabled: its sign-in, tokens, discovery and API answer not found until it is enabled again.",
	"enabled":  "is enabled again.",
	"deleted":  "is deleted, with all its users, applications and keys.",
}

func (s *Server) consoleEnvironments(w http.ResponseWriter, r *http.Request, c *console) {
	p := c.page("Environments", "environments", nil)
	q := r.URL.Query()
	if id := q.Get("id"); gatehouse.ValidateEnvironmentID(id) == nil && consoleEnvironmentNotices[q.Get("done")] != "" {
		p.Notice = "The environment " + id + " " + consoleEnvironmentNotices[q.Get("done")]
	}
	s.renderEnvironments(w, r, c, p, http.StatusOK)
}

// renderEnvironments shows one page of environments: after the cursor, or
// from the id to start at (that id first when it exists, then the ids after
// it in order, so the ids that begin with it come first).
func (s *Server) renderEnvironments(w http.ResponseWriter, r *http.Request, c *console, p consolePage, status int) {
	q := r.URL.Query()
	from := strings.ToLower(strings.TrimSpace(q.Get("from")))
	cursor := q.Get("cursor")
	var items []*gatehouse.Environment
	limit := consoleEnvironmentsPage
	if from != "" && cursor == "" {
		if e, err := s.svc.GetEnvironment(r.Context(), from); err == nil {
			items, limit = append(items, e), limit-1
		}
		cursor = from
	}
	page, err := s.svc.ListEnvironments(r.Context(), cursor, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items = append(items, page.Items...)
	next := ""
	if page.NextCursor != "" {
		next = "/console/" + c.envID + "/environments?" + url.Values{"cursor": {page.NextCursor}}.Encode()
	}
	p.Data = map[string]any{"Environments": items, "Next": next, "From": from, "Paged": q.Get("cursor") != "" || from != "",
		"Cursor": q.Get("cursor"), "CanManage": c.canOperate(), "System": gatehouse.SystemEnvironmentID}
	s.renderConsole(w, r, status, "environments", p)
}

func (s *Server) consoleNewEnvironment(w http.ResponseWriter, r *http.Request, c *console) {
	s.renderConsole(w, r, http.StatusOK, "environment-new", c.page("New environment", "environments", map[string]any{"Form": url.Values{}}))
}

// consoleCreateEnvironment creates an environment and answers, once and
// never through a redirect, with its first administrator's temporary
// password (the console's pages are never stored: Cache-Control no-store).
func (s *Server) consoleCreateEnvironment(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	in := service.NewEnvironment{ID: strings.TrimSpace(f.Get("id")), DisplayName: strings.TrimSpace(f.Get("displayName")),
		AdminUsername: strings.TrimSpace(f.Get("adminUsername"))}
	created, err := s.svc.CreateEnvironment(r.Context(), c.actor, in)
	if err != nil {
		code := gatehouse.ErrorCode(err)
		if code != gatehouse.EINVALID && code != gatehouse.ECONFLICT {
			s.writeError(w, r, err)
			return
		}
		form := url.Values{"id": {in.ID}, "displayName": {in.DisplayName}, "adminUsername": {in.AdminUsername}}
		p := c.page("New environment", "environments", map[string]any{"Form": form})
		p.Error = gatehouse.ErrorMessage(err)
		status := http.StatusBadRequest
		if code == gatehouse.ECONFLICT {
			status = http.StatusConflict
		}
		s.renderConsole(w, r, status, "environment-new", p)
		return
	}
	id := created.Environment.ID
	p := c.page("Environment created", "environments", map[string]any{"Created": created,
		"ConsoleURL": strings.TrimSuffix(s.svc.BaseURL, "/") + "/console/" + id + "/"})
	p.Notice = "The environment " + id + " is ready. Hand its administrator the console address, the username and the temporary password below: the password is shown only now."
	s.renderConsole(w, r, http.StatusCreated, "environment-created", p)
}

func (s *Server) consoleConfirmDeleteEnvironment(w http.ResponseWriter, r *http.Request, c *console) {
	env, ok := s.consoleEnvironment(w, r, c)
	if !ok {
		return
	}
	p := c.page("Delete "+env.ID, "environments", map[string]any{"Environment": env, "Confirm": ""})
	status := http.StatusOK
	if env.ID == gatehouse.SystemEnvironmentID {
		p.Error, status = "The system environment cannot be deleted: it holds the operators.", http.StatusBadRequest
	}
	s.renderConsole(w, r, status, "environment-delete", p)
}

// consoleEnvironment is the environment of the path's {id}; when there is
// none it answers not found.
func (s *Server) consoleEnvironment(w http.ResponseWriter, r *http.Request, c *console) (*gatehouse.Environment, bool) {
	env, err := s.svc.GetEnvironment(r.Context(), r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		s.renderConsole(w, r, http.StatusNotFound, "denied", c.page("Environment not found", "environments", nil))
		return nil, false
	} else if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return env, true
}

// consoleEnvironmentAction disables, enables or (after the operator typed
// its id) deletes an environment.
func (s *Server) consoleEnvironmentAction(w http.ResponseWriter, r *http.Request, c *console) {
	action := r.PathValue("action")
	if action != "disable" && action != "enable" && action != "delete" {
		http.NotFound(w, r)
		return
	}
	env, ok := s.consoleEnvironment(w, r, c)
	if !ok {
		return
	}
	var err error
	switch action {
	case "delete":
		confirm := strings.TrimSpace(r.PostForm.Get("confirmID"))
		if confirm != env.ID {
			p := c.page("Delete "+env.ID, "environments", map[string]any{"Environment": env, "Confirm": confirm})
			p.Error = "Type the environment id, " + env.ID + ", exactly to delete it."
			s.renderConsole(w, r, http.StatusBadRequest, "environment-delete", p)
			return
		}
		if err = s.svc.DeleteEnvironment(r.Context(), c.actor, env.ID); err != nil {
			p := c.page("Delete "+env.ID, "environments", map[string]any{"Environment": env, "Confirm": confirm})
			p.Error = gatehouse.ErrorMessage(err)
			s.renderConsole(w, r, http.StatusBadRequest, "environment-delete", p)
			return
		}
	default:
		status := gatehouse.EnvironmentDisabled
		if action == "enable" {
			status = gatehouse.EnvironmentActive
		}
		if _, err = s.svc.UpdateEnvironment(r.Context(), c.actor, env.ID, service.EnvironmentChange{Status: &status}); err != nil {
			p := c.page("Environments", "environments", nil)
			p.Error = gatehouse.ErrorMessage(err)
			s.renderEnvironments(w, r, c, p, http.StatusBadRequest)
			return
		}
	}
	back := url.Values{"done": {action + "d"}, "id": {env.ID}}
	if cursor := r.PostForm.Get("cursor"); cursor != "" && action != "delete" {
		back.Set("cursor", cursor)
	}
	http.Redirect(w, r, "/console/"+c.envID+"/environments?"+back.Encode(), http.StatusSeeOther)
}
