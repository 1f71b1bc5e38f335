package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// mountConsoleApps registers the console's applications: list, create,
// edit, rotate the secret, delete.
func (s *Server) mountConsoleApps() {
	s.consoleRoute("GET /console/{env}/applications", envRead, s.consoleApps)
	s.consoleRoute("GET /console/{env}/applications/new", envWrite, s.consoleNewApp)
	s.consoleRoute("POST /console/{env}/applications/new", envWrite, s.consoleCreateApp)
	s.consoleRoute("GET /console/{env}/applications/{id}", envRead, s.consoleApp)
	s.consoleRoute("GET /console/{env}/applications/{id}/edit", envWrite, s.consoleEditApp)
	s.consoleRoute("POST /console/{env}/applications/{id}/edit", envWrite, s.consoleUpdateApp)
	s.consoleRoute("POST /console/{env}/applications/{id}/secret", envWrite, s.consoleRotateAppSecret)
	s.consoleRoute("POST /console/{env}/applications/{id}/delete", envWrite, s.consoleDeleteApp)
}

// consoleAppType is an application type as the console explains it.
type consoleAppType struct {
	Type, Title, About string
}

var consoleAppTypes = []consoleAppType{
	{gatehouse.AppTypeWeb, "Web application", "A website with its own server: users sign in through Gatehouse; the server keeps a client secret."},
	{gatehouse.AppTypeSPA, "Single-page application", "JavaScript in the browser: users sign in with PKCE; there is no secret."},
	{gatehouse.AppTypeNative, "Mobile or desktop app", "An installed app: users sign in with PKCE through the system browser; there is no secret."},
	{gatehouse.AppTypeService, "Service", "A machine client (client credentials), such as a back end or a provisioning job; may hold administrator roles for the management API."},
	{gatehouse.AppTypeAPIUser, "API-user client", "An integration that gets tokens with an API user's username and password (password grant)."},
}

func consoleAppTypeOf(t string) (consoleAppType, bool) {
	i := slices.IndexFunc(consoleAppTypes, func(a consoleAppType) bool { return a.Type == t })
	if i < 0 {
		return consoleAppType{}, false
	}
	return consoleAppTypes[i], true
}

// consoleAppNotices are the messages shown after an action, by key.
var consoleAppNotices = map[string]string{
	"updated": "The application is saved.", "deleted": "The application is deleted: its refresh tokens no longer work.",
	"created": "The application is created.",
}

// appForm is the create and edit form: the values shown, and which
// fields the application's type has.
type appForm struct {
	consoleAppType
	Name, Description, RedirectURIs, PostLogoutRedirectURIs   string
	AccessTokenSeconds, RefreshTokenSeconds, SigningAlgorithm string
	Grants, Roles, Scopes                                     map[string]bool
	RefreshTokens, MFARequired                                bool
	// AllowedGrants are the type's grants; AdminRoles the roles offered;
	// KnownScopes the scopes an application may be limited to.
	AllowedGrants, AdminRoles, KnownScopes []string
	// Which parts of the form the type has.
	SignsInUsers, HasRefresh, HasRoles bool
}

func newAppForm(t consoleAppType, hasRoles bool) appForm {
	f := appForm{consoleAppType: t, Grants: map[string]bool{}, Roles: map[string]bool{}, Scopes: map[string]bool{}, SigningAlgorithm: "ES256",
		AllowedGrants: gatehouse.AllowedGrantTypes(t.Type), AdminRoles: gatehouse.AdminRoles, KnownScopes: gatehouse.KnownScopes}
	f.SignsInUsers = slices.Contains(f.AllowedGrants, gatehouse.GrantAuthorizationCode)
	f.HasRefresh = slices.Contains(f.AllowedGrants, gatehouse.GrantRefreshToken)
	f.HasRoles = hasRoles || t.Type == gatehouse.AppTypeService
	return f
}

// appFormOf is the form showing an application's settings.
func appFormOf(t consoleAppType, a *gatehouse.Application) appForm {
	f := newAppForm(t, len(a.Roles) > 0)
	f.Name, f.Description, f.SigningAlgorithm = a.Name, a.Description, a.TokenAlgorithm()
	f.RedirectURIs, f.PostLogoutRedirectURIs = strings.Join(a.RedirectURIs, "\n"), strings.Join(a.PostLogoutRedirectURIs, "\n")
	f.RefreshTokens, f.MFARequired = a.RefreshTokens, a.MFARequired
	if a.AccessTokenSeconds > 0 {
		f.AccessTokenSeconds = strconv.Itoa(a.AccessTokenSeconds)
	}
	if a.RefreshTokenSeconds > 0 {
		f.RefreshTokenSeconds = strconv.Itoa(a.RefreshTokenSeconds)
	}
	f.Grants, f.Roles, f.Scopes = checked(a.GrantTypes), checked(a.Roles), checked(a.Scopes)
	return f
}

// checked is the set of a checkbox list's checked values.
func checked(values []string) map[string]bool {
	set := map[string]bool{}
	for _, v := range values {
		set[v] = true
	}
	return set
}

// read takes the submitted values into the form and returns the patch
// they make: only the fields the form has, so a field the type lacks
// keeps its value.
func (f *appForm) read(v map[string][]string) (service.ApplicationPatch, error) {
	get := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return v[k][0]
	}
	f.Name, f.Description = strings.TrimSpace(get("name")), strings.TrimSpace(get("description"))
	f.AccessTokenSeconds, f.RefreshTokenSeconds = strings.TrimSpace(get("accessTokenSeconds")), strings.TrimSpace(get("refreshTokenSeconds"))
	f.SigningAlgorithm = get("signingAlgorithm")
	// Never nil: a patch's empty list clears the field.
	grants, roles, scopes := append([]string{}, v["grantTypes"]...), append([]string{}, v["roles"]...), append([]string{}, v["scopes"]...)
	f.Grants, f.Roles, f.Scopes = checked(grants), map[string]bool{}, checked(scopes)
	p := service.ApplicationPatch{Name: &f.Name, Description: &f.Description, GrantTypes: &grants, Scopes: &scopes,
		SigningAlgorithm: &f.SigningAlgorithm}
	if f.SignsInUsers {
		f.RedirectURIs, f.PostLogoutRedirectURIs = get("redirectUris"), get("postLogoutRedirectUris")
		redirects, logouts := nonBlankLines(f.RedirectURIs), nonBlankLines(f.PostLogoutRedirectURIs)
		f.MFARequired = get("mfaRequired") == "on"
		p.RedirectURIs, p.PostLogoutRedirectURIs, p.MFARequired = &redirects, &logouts, &f.MFARequired
	}
	if f.HasRoles {
		f.Roles, p.Roles = checked(roles), &roles
	}
	seconds := func(field, label string) (*int, error) {
		if field == "" {
			return new(int), nil
		}
		n, err := strconv.Atoi(field)
		if err != nil {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "%s must be a whole number of seconds (empty for the default)", label)
		}
		return &n, nil
	}
	var err error
	if p.AccessTokenSeconds, err = seconds(f.AccessTokenSeconds, "The access token lifetime"); err != nil {
		return p, err
	}
	if f.HasRefresh {
		f.RefreshTokens = get("refreshTokens") == "on"
		p.RefreshTokens = &f.RefreshTokens
		if p.RefreshTokenSeconds, err = seconds(f.RefreshTokenSeconds, "The refresh token lifetime"); err != nil {
			return p, err
		}
	}
	return p, nil
}

// nonBlankLines are the non-blank lines of a text box, trimmed.
func nonBlankLines(text string) []string {
	out := []string{}
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// canWriteApps reports whether this administrator may change applications.
func (c *console) canWriteApps() bool { return slices.ContainsFunc(envWrite.roles, c.has) }

func (s *Server) consoleApps(w http.ResponseWriter, r *http.Request, c *console) {
	apps, err := s.svc.ListApplications(r.Context(), c.envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := c.page("Applications", "apps", map[string]any{"Apps": apps, "CanWrite": c.canWriteApps(), "Console": service.ConsoleClientID})
	p.Notice = consoleAppNotices[r.URL.Query().Get("done")]
	s.renderConsole(w, r, http.StatusOK, "apps", p)
}

// consoleApplication reads the application of the request's {id} in the
// administrator's environment; another environment's answers 404.
func (s *Server) consoleApplication(w http.ResponseWriter, r *http.Request, c *console) (*gatehouse.Application, bool) {
	app, err := s.svc.GetApplication(r.Context(), c.envID, r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		s.renderConsole(w, r, http.StatusNotFound, "denied", c.page("Application not found", "apps", nil))
		return nil, false
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return app, true
}

// appPage is the application's page; secret, when set, is shown once.
func (s *Server) appPage(c *console, app *gatehouse.Application, secret string) consolePage {
	t, _ := consoleAppTypeOf(app.Type)
	builtIn := app.ClientID == service.ConsoleClientID
	return c.page(app.Name, "apps", map[string]any{"App": app, "Type": t, "Secret": secret, "BuiltIn": builtIn,
		"CanManage": c.canWriteApps() && !builtIn, "Issuer": strings.TrimSuffix(s.svc.BaseURL, "/") + "/" + c.envID})
}

func (s *Server) consoleApp(w http.ResponseWriter, r *http.Request, c *console) {
	app, ok := s.consoleApplication(w, r, c)
	if !ok {
		return
	}
	p := s.appPage(c, app, "")
	p.Notice = consoleAppNotices[r.URL.Query().Get("done")]
	s.renderConsole(w, r, http.StatusOK, "app", p)
}

// consoleNewApp asks for the type first, then shows the form of that type
// with its default grants.
func (s *Server) consoleNewApp(w http.ResponseWriter, r *http.Request, c *console) {
	t, ok := consoleAppTypeOf(r.URL.Query().Get("type"))
	if !ok {
		s.renderConsole(w, r, http.StatusOK, "app-new", c.page("New application", "apps", map[string]any{"Types": consoleAppTypes}))
		return
	}
	f := newAppForm(t, false)
	f.Grants = checked(gatehouse.DefaultGrantTypes(t.Type))
	f.RefreshTokens = f.Grants[gatehouse.GrantRefreshToken]
	s.renderConsole(w, r, http.StatusOK, "app-new", c.page("New "+strings.ToLower(t.Title), "apps", map[string]any{"Form": f}))
}

// consoleCreateApp creates an application and answers its page with the
// secret, once: the secret is never stored in clear nor put in a redirect.
func (s *Server) consoleCreateApp(w http.ResponseWriter, r *http.Request, c *console) {
	t, ok := consoleAppTypeOf(r.PostForm.Get("type"))
	if !ok {
		p := c.page("New application", "apps", map[string]any{"Types": consoleAppTypes})
		p.Error = "Choose the kind of application."
		s.renderConsole(w, r, http.StatusBadRequest, "app-new", p)
		return
	}
	f := newAppForm(t, false)
	patch, err := f.read(r.PostForm)
	var created *service.CreatedApplication
	if err == nil {
		var app gatehouse.Application
		if app, err = newApplication(t.Type, patch); err == nil {
			created, err = s.svc.CreateApplication(r.Context(), c.actor, c.envID, app)
		}
	}
	if err != nil {
		p := c.page("New "+strings.ToLower(t.Title), "apps", map[string]any{"Form": f})
		p.Error = gatehouse.ErrorMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "app-new", p)
		return
	}
	if created.ClientSecret == "" {
		http.Redirect(w, r, "/console/"+c.envID+"/applications/"+created.ID+"?done=created", http.StatusSeeOther)
		return
	}
	p := s.appPage(c, created.Application, created.ClientSecret)
	p.Notice = consoleAppNotices["created"]
	s.renderConsole(w, r, http.StatusOK, "app", p)
}

// consoleAppEditable answers a refusal for the built-in console
// application, which the console does not change.
func (s *Server) consoleAppEditable(w http.ResponseWriter, r *http.Request, c *console, app *gatehouse.Application) bool {
	if app.ClientID != service.ConsoleClientID {
		return true
	}
	p := s.appPage(c, app, "")
	p.Error = "The console's own application is built in: it cannot be changed or deleted here."
	s.renderConsole(w, r, http.StatusForbidden, "app", p)
	return false
}

func (s *Server) consoleEditApp(w http.ResponseWriter, r *http.Request, c *console) {
	app, ok := s.consoleApplication(w, r, c)
	if !ok || !s.consoleAppEditable(w, r, c, app) {
		return
	}
	t, _ := consoleAppTypeOf(app.Type)
	s.renderConsole(w, r, http.StatusOK, "app-new", c.page("Edit "+app.Name, "apps", map[string]any{"Form": appFormOf(t, app), "App": app}))
}

// consoleUpdateApp saves the edit form; the type never changes.
func (s *Server) consoleUpdateApp(w http.ResponseWriter, r *http.Request, c *console) {
	app, ok := s.consoleApplication(w, r, c)
	if !ok || !s.consoleAppEditable(w, r, c, app) {
		return
	}
	t, _ := consoleAppTypeOf(app.Type)
	f := newAppForm(t, len(app.Roles) > 0)
	patch, err := f.read(r.PostForm)
	if err == nil {
		_, err = s.svc.UpdateApplication(r.Context(), c.actor, c.envID, app.ID, patch)
	}
	if err != nil {
		p := c.page("Edit "+app.Name, "apps", map[string]any{"Form": f, "App": app})
		p.Error = gatehouse.ErrorMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "app-new", p)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/applications/"+app.ID+"?done=updated", http.StatusSeeOther)
}

// consoleRotateAppSecret replaces the secret and shows the new one once.
func (s *Server) consoleRotateAppSecret(w http.ResponseWriter, r *http.Request, c *console) {
	app, ok := s.consoleApplication(w, r, c)
	if !ok || !s.consoleAppEditable(w, r, c, app) {
		return
	}
	rotated, err := s.svc.RotateSecret(r.Context(), c.actor, c.envID, app.ID)
	if err != nil {
		p := s.appPage(c, app, "")
		p.Error = gatehouse.ErrorMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "app", p)
		return
	}
	p := s.appPage(c, rotated.Application, rotated.ClientSecret)
	p.Notice = "The secret is replaced: the old one no longer works."
	s.renderConsole(w, r, http.StatusOK, "app", p)
}

// consoleDeleteApp deletes an application once the administrator ticked
// the confirmation.
func (s *Server) consoleDeleteApp(w http.ResponseWriter, r *http.Request, c *console) {
	app, ok := s.consoleApplication(w, r, c)
	if !ok || !s.consoleAppEditable(w, r, c, app) {
		return
	}
	problem := "Tick the box to confirm the deletion."
	if r.PostForm.Get("confirmDelete") == "yes" {
		problem = gatehouse.ErrorMessage(s.svc.DeleteApplication(r.Context(), c.actor, c.envID, app.ID))
	}
	if problem != "" {
		p := s.appPage(c, app, "")
		p.Error = problem
		s.renderConsole(w, r, http.StatusBadRequest, "app", p)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/applications?done=deleted", http.StatusSeeOther)
}
