package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

var consoleSecretField = regexp.MustCompile(`id="client-secret" type="text" readonly value="([^"]+)"`)

// appByName finds an application of env by name in the store.
func appByName(t *testing.T, h *apiHarness, env, name string) *gatehouse.Application {
	t.Helper()
	apps, err := h.svc.Store.ListApplications(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// TestConsoleApplications: an environment administrator lists, creates,
// edits, rotates and deletes applications; a secret is shown once, on the
// answer to the POST, never stored in clear nor shown again; bad input is
// refused with its message and the values kept; the console's own
// application and another environment's are out of reach.
func TestConsoleApplications(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	b := newBrowser(t, h)
	list := consoleSignIn(t, b, "acme", "/console/acme/applications", "eve@acme.example")
	if list.status != 200 || !strings.Contains(list.body, "<h1>Applications</h1>") || !strings.Contains(list.body, "gatehouse-console") ||
		!strings.Contains(list.body, "built in") || !strings.Contains(list.body, `href="/console/acme/applications/new"`) {
		t.Fatalf("applications page: %d\n%s", list.status, list.body)
	}
	csrf := consoleCSRFOf(t, list)
	post := func(path string, kv ...string) page {
		v := url.Values{"csrf": {csrf}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return b.do("POST", path, v)
	}
	count := func() int {
		apps, _ := h.svc.Store.ListApplications(ctx, "acme")
		return len(apps)
	}

	// The type first, then its form with the type's default grants.
	if p := b.do("GET", "/console/acme/applications/new", nil); !strings.Contains(p.body, `value="api-user"`) || !strings.Contains(p.body, "password grant") {
		t.Fatalf("type chooser:\n%s", p.body)
	}
	form := b.do("GET", "/console/acme/applications/new?type=web", nil)
	if !strings.Contains(form.body, `value="authorization_code" checked`) || strings.Contains(form.body, `value="client_credentials" checked`) ||
		strings.Contains(form.body, `value="password"`) || !strings.Contains(form.body, `id="redirectUris"`) {
		t.Fatalf("web form defaults:\n%s", form.body)
	}
	if p := b.do("GET", "/console/acme/applications/new?type=service", nil); !strings.Contains(p.body, `value="client_credentials" checked`) ||
		strings.Contains(p.body, `id="redirectUris"`) || !strings.Contains(p.body, `name="roles" value="USER_ADMIN"`) {
		t.Fatalf("service form:\n%s", p.body)
	}

	// Create a web application: its secret is on the answer, once.
	before := count()
	created := post("/console/acme/applications/new", "type", "web", "name", "Acme shop",
		"redirectUris", "https://shop.acme.example/callback\r\n\r\n  http://localhost:3000/cb  ", "postLogoutRedirectUris", "https://shop.acme.example/",
		"grantTypes", "authorization_code", "grantTypes", "refresh_token", "refreshTokens", "on", "accessTokenSeconds", "600",
		"refreshTokenSeconds", "86400", "signingAlgorithm", "RS256", "mfaRequired", "on", "scopes", "openid", "scopes", "profile", "scopes", "offline_access")
	m := consoleSecretField.FindStringSubmatch(created.body)
	if created.status != 200 || m == nil || created.header.Get("Location") != "" || created.header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(created.body, "cannot be shown again") {
		t.Fatalf("create a web app: %d %v\n%s", created.status, created.header, created.body)
	}
	shop := appByName(t, h, "acme", "Acme shop")
	if shop == nil || count() != before+1 || shop.Type != gatehouse.AppTypeWeb || !slices.Equal(shop.RedirectURIs, []string{"https://shop.acme.example/callback", "http://localhost:3000/cb"}) ||
		!slices.Equal(shop.GrantTypes, []string{"authorization_code", "refresh_token"}) || !shop.RefreshTokens || shop.AccessTokenSeconds != 600 ||
		shop.RefreshTokenSeconds != 86400 || shop.SigningAlgorithm != "RS256" || !shop.MFARequired || len(shop.Roles) != 0 ||
		!slices.Equal(shop.Scopes, []string{"openid", "profile", "offline_access"}) {
		t.Fatalf("created web app %+v", shop)
	}
	secret := m[1]
	if _, err := h.svc.ClientAuthenticated(ctx, "acme", shop.ClientID, secret); err != nil {
		t.Fatalf("the secret shown does not authenticate the client: %v", err)
	}
	detail := b.do("GET", "/console/acme/applications/"+shop.ID, nil)
	if detail.status != 200 || strings.Contains(detail.body, secret) || !strings.Contains(detail.body, shop.ClientID) ||
		!strings.Contains(detail.body, "https://shop.acme.example/callback") || !strings.Contains(detail.body, "/edit") {
		t.Fatalf("application page: %d\n%s", detail.status, detail.body)
	}
	if p := b.do("GET", "/console/acme/applications", nil); !strings.Contains(p.body, "Acme shop") || strings.Contains(p.body, secret) {
		t.Fatalf("list after create:\n%s", p.body)
	}

	// Bad input: refused with its message, the values kept, nothing made.
	before = count()
	for _, c := range []struct{ name, want string }{
		{"http://evil.example/cb", "must use https"},
		{"not a uri", "not an absolute URI"},
	} {
		p := post("/console/acme/applications/new", "type", "web", "name", "Broken app", "redirectUris", c.name, "grantTypes", "authorization_code")
		if p.status != 400 || !strings.Contains(p.body, c.want) || !strings.Contains(p.body, `value="Broken app"`) || !strings.Contains(p.body, c.name) {
			t.Fatalf("redirect URI %q: %d\n%s", c.name, p.status, p.body)
		}
	}
	if p := post("/console/acme/applications/new", "type", "web", "name", "Broken app", "accessTokenSeconds", "an hour"); p.status != 400 ||
		!strings.Contains(p.body, "whole number of seconds") || !strings.Contains(p.body, `value="an hour"`) {
		t.Fatalf("a lifetime in words: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/applications/new", "type", "web", "name", "Broken app", "accessTokenSeconds", "9999999"); p.status != 400 ||
		!strings.Contains(p.body, "604800") {
		t.Fatalf("a lifetime too long: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/applications/new", "type", "web", "name", "  "); p.status != 400 || !strings.Contains(p.body, "name is required") {
		t.Fatalf("no name: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/applications/new", "type", "mainframe", "name", "x"); p.status != 400 || !strings.Contains(p.body, "Choose the kind") {
		t.Fatalf("an unknown type: %d\n%s", p.status, p.body)
	}
	if p := b.do("POST", "/console/acme/applications/new", url.Values{"type": {"web"}, "name": {"No CSRF"}}); p.status != http.StatusForbidden {
		t.Fatalf("create without the CSRF token: %d", p.status)
	}
	if count() != before || appByName(t, h, "acme", "No CSRF") != nil {
		t.Fatal("refused creations made applications")
	}

	// A public client has no secret: the answer is a redirect to its page.
	spa := post("/console/acme/applications/new", "type", "spa", "name", "Acme SPA", "redirectUris", "https://spa.acme.example/cb",
		"grantTypes", "authorization_code")
	single := appByName(t, h, "acme", "Acme SPA")
	if spa.status != http.StatusSeeOther || single == nil || spa.header.Get("Location") != "/console/acme/applications/"+single.ID+"?done=created" {
		t.Fatalf("create an SPA: %d %s", spa.status, spa.header.Get("Location"))
	}
	if p := b.do("GET", spa.header.Get("Location"), nil); !strings.Contains(p.body, "The application is created.") || strings.Contains(p.body, "Rotate") {
		t.Fatalf("SPA page:\n%s", p.body)
	}
	// A service with an administrator role.
	post("/console/acme/applications/new", "type", "service", "name", "Provisioning", "grantTypes", "client_credentials", "roles", "USER_ADMIN")
	if svc := appByName(t, h, "acme", "Provisioning"); svc == nil || !slices.Equal(svc.Roles, []string{"USER_ADMIN"}) || !svc.Confidential() {
		t.Fatalf("service app %+v", svc)
	}

	// Edit: the form shows the values; the type cannot change.
	edit := b.do("GET", "/console/acme/applications/"+shop.ID+"/edit", nil)
	if edit.status != 200 || !strings.Contains(edit.body, `value="Acme shop"`) || !strings.Contains(edit.body, `value="600"`) ||
		!strings.Contains(edit.body, `<option value="RS256" selected>`) || strings.Contains(edit.body, `name="type"`) ||
		!strings.Contains(edit.body, `name="scopes" value="profile" checked>`) || strings.Contains(edit.body, `name="scopes" value="api" checked>`) {
		t.Fatalf("edit form: %d\n%s", edit.status, edit.body)
	}
	saved := post("/console/acme/applications/"+shop.ID+"/edit", "type", "spa", "name", "Acme store", "redirectUris", "https://store.acme.example/cb",
		"grantTypes", "authorization_code", "accessTokenSeconds", "", "signingAlgorithm", "ES256")
	if saved.status != http.StatusSeeOther || saved.header.Get("Location") != "/console/acme/applications/"+shop.ID+"?done=updated" {
		t.Fatalf("save: %d\n%s", saved.status, saved.body)
	}
	got, _ := h.svc.Store.GetApplication(ctx, "acme", shop.ID)
	if got.Name != "Acme store" || got.Type != gatehouse.AppTypeWeb || !slices.Equal(got.RedirectURIs, []string{"https://store.acme.example/cb"}) ||
		!slices.Equal(got.GrantTypes, []string{"authorization_code"}) || got.RefreshTokens || got.AccessTokenSeconds != 0 || got.SigningAlgorithm != "ES256" || got.MFARequired ||
		len(got.Scopes) != 0 {
		t.Fatalf("after edit %+v", got)
	}
	if p := post("/console/acme/applications/"+shop.ID+"/edit", "name", "Acme store", "grantTypes", "authorization_code", "scopes", "admin:all"); p.status != 400 ||
		!strings.Contains(p.body, `scope &#34;admin:all&#34; is not one Gatehouse knows`) {
		t.Fatalf("an unknown scope: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/applications/"+shop.ID+"/edit", "name", "Acme store", "grantTypes", "password"); p.status != 400 ||
		!strings.Contains(p.body, `grant type &#34;password&#34; is not allowed`) {
		t.Fatalf("a grant the type does not allow: %d\n%s", p.status, p.body)
	}
	if again, _ := h.svc.Store.GetApplication(ctx, "acme", shop.ID); !slices.Equal(again.GrantTypes, []string{"authorization_code"}) {
		t.Fatalf("a refused edit changed the grants: %v", again.GrantTypes)
	}

	// Rotate: the new secret is shown once; the old one stops working.
	rotated := post("/console/acme/applications/" + shop.ID + "/secret")
	m = consoleSecretField.FindStringSubmatch(rotated.body)
	if rotated.status != 200 || m == nil || m[1] == secret || rotated.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotate: %d\n%s", rotated.status, rotated.body)
	}
	if _, err := h.svc.ClientAuthenticated(ctx, "acme", shop.ClientID, secret); err == nil {
		t.Fatal("the old secret still works")
	}
	if _, err := h.svc.ClientAuthenticated(ctx, "acme", shop.ClientID, m[1]); err != nil {
		t.Fatalf("the new secret: %v", err)
	}
	if p := post("/console/acme/applications/" + single.ID + "/secret"); p.status != 400 || !strings.Contains(p.body, "public clients") {
		t.Fatalf("rotate a public client: %d\n%s", p.status, p.body)
	}

	// Delete needs the confirmation.
	if p := post("/console/acme/applications/" + shop.ID + "/delete"); p.status != 400 || !strings.Contains(p.body, "confirm") {
		t.Fatalf("delete unconfirmed: %d\n%s", p.status, p.body)
	}
	if _, err := h.svc.Store.GetApplication(ctx, "acme", shop.ID); err != nil {
		t.Fatal("deleted without the confirmation")
	}
	if p := post("/console/acme/applications/"+shop.ID+"/delete", "confirmDelete", "yes"); p.status != http.StatusSeeOther ||
		p.header.Get("Location") != "/console/acme/applications?done=deleted" {
		t.Fatalf("delete: %d %s", p.status, p.header.Get("Location"))
	}
	if _, err := h.svc.Store.GetApplication(ctx, "acme", shop.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("still there: %v", err)
	}
	if p := b.do("GET", "/console/acme/applications/"+shop.ID, nil); p.status != http.StatusNotFound {
		t.Fatalf("a deleted application's page: %d", p.status)
	}

	// The console's own application: read-only.
	consoleApp, err := h.svc.Store.GetApplicationByClientID(ctx, "acme", service.ConsoleClientID)
	if err != nil {
		t.Fatal(err)
	}
	if p := b.do("GET", "/console/acme/applications/"+consoleApp.ID, nil); p.status != 200 || !strings.Contains(p.body, "built in") ||
		strings.Contains(p.body, "/edit") || strings.Contains(p.body, "/delete") {
		t.Fatalf("the console application's page: %d\n%s", p.status, p.body)
	}
	for _, action := range []string{"edit", "delete", "secret"} {
		if p := post("/console/acme/applications/"+consoleApp.ID+"/"+action, "name", "Mine now", "confirmDelete", "yes"); p.status != http.StatusForbidden {
			t.Fatalf("%s the console application: %d", action, p.status)
		}
	}
	if p := b.do("GET", "/console/acme/applications/"+consoleApp.ID+"/edit", nil); p.status != http.StatusForbidden {
		t.Fatalf("the console application's edit form: %d", p.status)
	}
	if still, err := h.svc.Store.GetApplication(ctx, "acme", consoleApp.ID); err != nil || still.Name != consoleApp.Name {
		t.Fatalf("the console application changed: %+v %v", still, err)
	}

	// Another environment's application answers 404, and nothing changes.
	other := h.newApp("globex", gatehouse.AppTypeWeb, nil)
	if p := b.do("GET", "/console/acme/applications/"+other.ID, nil); p.status != http.StatusNotFound {
		t.Fatalf("globex's application in acme's console: %d", p.status)
	}
	for _, action := range []string{"edit", "delete", "secret"} {
		if p := post("/console/acme/applications/"+other.ID+"/"+action, "name", "Stolen", "confirmDelete", "yes"); p.status != http.StatusNotFound {
			t.Fatalf("%s globex's application: %d", action, p.status)
		}
	}
	if o, err := h.svc.Store.GetApplication(ctx, "globex", other.ID); err != nil || o.Name != other.Name {
		t.Fatalf("globex's application changed: %+v %v", o, err)
	}
	if _, err := h.svc.ClientAuthenticated(ctx, "globex", other.ClientID, other.ClientSecret); err != nil {
		t.Fatalf("globex's secret was rotated: %v", err)
	}

	// The changes are audited as the administrator.
	events, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: shop.ID, Limit: 10})
	if len(events) < 4 || slices.ContainsFunc(events, func(e *gatehouse.AuditEvent) bool { return e.ActorType != gatehouse.ActorUser }) {
		t.Fatalf("application changes audited as the administrator: %+v", events)
	}
}

// TestConsoleApplicationsRoles: READ_ONLY reads applications but gets no
// forms and its POSTs are refused with nothing changed; a USER_ADMIN does
// not manage applications.
func TestConsoleApplicationsRoles(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	consoleAdmin(t, h, "acme", "hal@acme.example", gatehouse.RoleUserAdmin)
	app := h.newApp("acme", gatehouse.AppTypeWeb, nil)

	ro := newBrowser(t, h)
	list := consoleSignIn(t, ro, "acme", "/console/acme/applications", "rita@acme.example")
	if list.status != 200 || !strings.Contains(list.body, app.Name) || strings.Contains(list.body, "New application") {
		t.Fatalf("READ_ONLY's list: %d\n%s", list.status, list.body)
	}
	detail := ro.do("GET", "/console/acme/applications/"+app.ID, nil)
	if detail.status != 200 || !strings.Contains(detail.body, app.ClientID) || strings.Contains(detail.body, "/edit") ||
		strings.Contains(detail.body, "/secret") || strings.Contains(detail.body, "/delete") {
		t.Fatalf("READ_ONLY's application page: %d\n%s", detail.status, detail.body)
	}
	csrf := consoleCSRFOf(t, list)
	if p := ro.do("GET", "/console/acme/applications/new", nil); p.status != http.StatusForbidden {
		t.Fatalf("READ_ONLY opens the new-application form: %d", p.status)
	}
	if p := ro.do("GET", "/console/acme/applications/"+app.ID+"/edit", nil); p.status != http.StatusForbidden {
		t.Fatalf("READ_ONLY opens the edit form: %d", p.status)
	}
	for path, form := range map[string]url.Values{
		"/console/acme/applications/new":                   {"type": {"web"}, "name": {"Sneaky"}},
		"/console/acme/applications/" + app.ID + "/edit":   {"name": {"Renamed"}},
		"/console/acme/applications/" + app.ID + "/secret": {},
		"/console/acme/applications/" + app.ID + "/delete": {"confirmDelete": {"yes"}},
	} {
		form.Set("csrf", csrf)
		if p := ro.do("POST", path, form); p.status != http.StatusForbidden {
			t.Fatalf("READ_ONLY POST %s: %d", path, p.status)
		}
	}
	if got, err := h.svc.Store.GetApplication(ctx, "acme", app.ID); err != nil || got.Name != app.Name {
		t.Fatalf("READ_ONLY changed the application: %+v %v", got, err)
	}
	if _, err := h.svc.ClientAuthenticated(ctx, "acme", app.ClientID, app.ClientSecret); err != nil {
		t.Fatalf("READ_ONLY rotated the secret: %v", err)
	}
	if appByName(t, h, "acme", "Sneaky") != nil {
		t.Fatal("READ_ONLY created an application")
	}

	ua := newBrowser(t, h)
	if p := consoleSignIn(t, ua, "acme", "/console/acme/applications", "hal@acme.example"); p.status != http.StatusForbidden ||
		strings.Contains(p.body, `href="/console/acme/applications"`) {
		t.Fatalf("a USER_ADMIN opens applications: %d\n%s", p.status, p.body)
	}
}
