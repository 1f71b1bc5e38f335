package server_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

const consolePassword = "Console-Pass-123"

// consoleAdmin makes a user of env with the given roles and a final
// password.
func consoleAdmin(t *testing.T, h *apiHarness, env, username string, roles ...string) *gatehouse.User {
	t.Helper()
	var as []gatehouse.RoleAssignment
	for _, r := range roles {
		as = append(as, gatehouse.RoleAssignment{Role: r})
	}
	u, err := h.svc.CreateUser(context.Background(), service.OperatorActor(), env, service.NewUser{
		User: gatehouse.User{Username: username, Roles: as}, Password: consolePassword, KeepPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// consoleSignIn opens path in the console and signs in through the
// environment's own sign-in pages, returning the page the console then
// shows.
func consoleSignIn(t *testing.T, b *browser, env, path, username string) page {
	t.Helper()
	start := b.do("GET", path, nil)
	auth, _ := url.Parse(start.header.Get("Location"))
	if start.status != http.StatusSeeOther || auth.Path != "/"+env+"/oauth2/authorize" || auth.Query().Get("client_id") != service.ConsoleClientID ||
		auth.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("the console without a session: %d %s", start.status, auth)
	}
	login := b.do("GET", start.header.Get("Location"), nil).header.Get("Location")
	b.submit(login, b.do("GET", login, nil), "username", username)
	back := b.submit(login, b.do("GET", login, nil), "password", consolePassword)
	callback := back.header.Get("Location")
	if !strings.Contains(callback, "/console/"+env+"/callback?") {
		t.Fatalf("sign-in did not return to the console: %d %s\n%s", back.status, callback, back.body)
	}
	landed := b.do("GET", callback, nil)
	if landed.status != http.StatusSeeOther || landed.header.Get("Location") != path {
		t.Fatalf("console callback: %d %s", landed.status, landed.header.Get("Location"))
	}
	return b.do("GET", path, nil)
}

var consoleCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func consoleCSRFOf(t *testing.T, p page) string {
	t.Helper()
	m := consoleCSRFField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token on the console page:\n%s", p.body)
	}
	return m[1]
}

// TestConsoleSignInAndUsers: an administrator signs in to the console
// through the environment's own sign-in, searches and pages the users,
// creates local, corporate and API users, and disables and enables one;
// the roles held now decide what is allowed, on the server.
func TestConsoleSignInAndUsers(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	for i := range 30 {
		h.newUser("acme", nil, "")
		_ = i
	}
	b := newBrowser(t, h)
	users := consoleSignIn(t, b, "acme", "/console/acme/users", "eve@acme.example")
	if users.status != 200 || !strings.Contains(users.body, "<h1>Users</h1>") || !strings.Contains(users.body, "eve@acme.example") {
		t.Fatalf("users page: %d\n%s", users.status, users.body)
	}
	if csp := users.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("console CSP %q", csp)
	}
	rows := func(p page) int { return strings.Count(p.body, `<td><a href="/console/acme/users/`) }
	first := b.do("GET", "/console/acme/users?limit=10", nil)
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(first.body)
	if rows(first) != 10 || next == nil {
		t.Fatalf("a page of 10: %d rows, next %v", rows(first), next)
	}
	second := b.do("GET", strings.ReplaceAll(next[1], "&amp;", "&"), nil)
	if rows(second) != 10 || second.body == first.body {
		t.Fatalf("the next page: %d rows", rows(second))
	}
	if p := b.do("GET", "/console/acme/users?q=eve%25&limit=100", nil); rows(p) != 1 {
		t.Fatalf("search eve%%: %d rows", rows(p))
	}
	if p := b.do("GET", "/console/acme/users?q=nobody%25", nil); rows(p) != 0 || !strings.Contains(p.body, "No users match") {
		t.Fatalf("search with no match: %d rows", rows(p))
	}
	today := time.Now().UTC().Format("2006-01-02")
	if p := b.do("GET", "/console/acme/users?limit=100&dates=created&from="+today+"&to="+today, nil); rows(p) < 31 {
		t.Fatalf("users created today: %d rows", rows(p))
	}
	if p := b.do("GET", "/console/acme/users?dates=updated&from=2001-01-01&to=2001-12-31", nil); rows(p) != 0 {
		t.Fatalf("users updated in 2001: %d rows", rows(p))
	}
	if p := b.do("GET", "/console/acme/users?from=yesterday", nil); p.status != 400 || !strings.Contains(p.body, "dates are days") {
		t.Fatalf("a bad date: %d", p.status)
	}
	if p := b.do("GET", "/console/acme/users?limit=7", nil); rows(p) != 25 {
		t.Fatalf("an odd page size falls back to 25: %d rows", rows(p))
	}
	// A search that no index narrows reads a bounded number of users per
	// page and offers to go on; one that an index narrows pages as usual.
	h.svc.UserSearchScan = 8
	p := b.do("GET", "/console/acme/users?q=%25ev%25", nil)
	if rows(p) != 1 || !strings.Contains(p.body, "reads at most 8 users per page, and it reached that limit with 1 match") ||
		!strings.Contains(p.body, ">Continue searching<") {
		t.Fatalf("a short substring, first page: %d rows\n%s", rows(p), p.body)
	}
	pages := 1
	for next := nextLink.FindStringSubmatch(p.body); next != nil; next = nextLink.FindStringSubmatch(p.body) {
		if pages++; pages > 6 {
			t.Fatalf("continuing the search does not end")
		}
		if p = b.do("GET", html.UnescapeString(next[1]), nil); rows(p) != 0 {
			t.Fatalf("page %d of %%ev%%: %d rows", pages, rows(p))
		}
		if strings.Contains(p.body, "Continue searching") && !strings.Contains(p.body, "No matches yet") {
			t.Fatalf("page %d of %%ev%%:\n%s", pages, p.body)
		}
	}
	if pages != 4 || !strings.Contains(p.body, "No more users match") {
		t.Fatalf("%%ev%% over 31 users, 8 a page: %d pages, the last:\n%s", pages, p.body)
	}
	if p := b.do("GET", "/console/acme/users?q=acme-user-%25", nil); rows(p) != 25 || !strings.Contains(p.body, ">Next page<") ||
		strings.Contains(p.body, "Continue searching") {
		t.Fatalf("a prefix that an index narrows: %d rows\n%s", rows(p), p.body)
	}
	h.svc.UserSearchScan = 0

	// Create users of each kind.
	form := b.do("GET", "/console/acme/users/new", nil)
	csrf := consoleCSRFOf(t, form)
	create := func(kv ...string) page {
		v := url.Values{"csrf": {csrf}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return b.do("POST", "/console/acme/users/new", v)
	}
	local := create("kind", "local", "username", "new.hire@acme.example", "firstName", "New", "password", "Initial-Pass-1")
	if local.status != http.StatusSeeOther {
		t.Fatalf("create local: %d\n%s", local.status, local.body)
	}
	u, err := h.svc.Store.GetUserByUsername(ctx, "acme", "new.hire@acme.example")
	if err != nil || u.PasswordState != gatehouse.PasswordMustChange || u.FirstName != "New" {
		t.Fatalf("created local user %+v %v", u, err)
	}
	if p := b.do("GET", local.header.Get("Location"), nil); !strings.Contains(p.body, "The user is created.") {
		t.Fatalf("after create: %s", p.body)
	}
	if p := create("kind", "corporate", "username", "x@corp.example", "identityProvider", "nope"); p.status != 400 || !strings.Contains(p.body, "no identity provider") ||
		!strings.Contains(p.body, `value="x@corp.example"`) {
		t.Fatalf("corporate user of an unknown IdP: %d\n%s", p.status, p.body)
	}
	idp := h.newIdentityProvider("acme")
	if p := create("kind", "corporate", "username", "x@corp.example", "identityProvider", idp.ID); p.status != http.StatusSeeOther {
		t.Fatalf("corporate user: %d\n%s", p.status, p.body)
	}
	if c, _ := h.svc.Store.GetUserByUsername(ctx, "acme", "x@corp.example"); c.PasswordState != gatehouse.PasswordExternal {
		t.Fatalf("corporate user state %s", c.PasswordState)
	}
	if p := create("kind", "api", "username", "sync-bot", "password", "Api-Secret-12345"); p.status != http.StatusSeeOther {
		t.Fatalf("API user: %d\n%s", p.status, p.body)
	}
	if a, _ := h.svc.Store.GetUserByUsername(ctx, "acme", "sync-bot"); a.Type != gatehouse.UserTypeAPI || a.PasswordState != gatehouse.PasswordOK {
		t.Fatalf("API user %+v", a)
	}
	if p := create("kind", "local", "username", "", "password", "x"); p.status != 400 {
		t.Fatalf("a user without a username: %d", p.status)
	}
	if p := b.do("POST", "/console/acme/users/new", url.Values{"username": {"no-csrf"}}); p.status != http.StatusForbidden {
		t.Fatalf("a console form without its CSRF token: %d", p.status)
	}

	// Disable, then enable.
	detail := b.do("GET", "/console/acme/users/"+u.ID, nil)
	if !strings.Contains(detail.body, "MUST_CHANGE_PASSWORD") || !strings.Contains(detail.body, "/disable") {
		t.Fatalf("user page:\n%s", detail.body)
	}
	if p := b.do("POST", "/console/acme/users/"+u.ID+"/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", p.status)
	}
	if d, _ := h.svc.Store.GetUser(ctx, "acme", u.ID); d.Status != gatehouse.UserInactive {
		t.Fatal("not disabled")
	}
	b.do("POST", "/console/acme/users/"+u.ID+"/enable", url.Values{"csrf": {csrf}})
	if d, _ := h.svc.Store.GetUser(ctx, "acme", u.ID); d.Status != gatehouse.UserActive {
		t.Fatal("not enabled")
	}
	events, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: u.ID, Limit: 10})
	if len(events) < 3 || events[0].ActorType != gatehouse.ActorUser {
		t.Fatalf("console changes are audited as the administrator: %+v", events)
	}

	// Another environment: acme's console session is not globex's.
	if p := b.do("GET", "/console/globex/users", nil); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/globex/oauth2/authorize") {
		t.Fatalf("globex's console with acme's session: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.do("GET", "/console/nope/users", nil); p.status != http.StatusNotFound {
		t.Fatalf("an unknown environment's console: %d", p.status)
	}
}

// TestConsoleRoles: READ_ONLY reads but changes nothing; a USER_ADMIN
// cannot touch an administrator; a user with no administrator role is
// refused; a role removed takes effect at once.
func TestConsoleRoles(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	boss := consoleAdmin(t, h, "acme", "boss@acme.example", gatehouse.RoleEnvironmentAdmin)
	consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	helper := consoleAdmin(t, h, "acme", "hal@acme.example", gatehouse.RoleUserAdmin)
	consoleAdmin(t, h, "acme", "joe@acme.example")
	plain := h.newUser("acme", nil, "")

	ro := newBrowser(t, h)
	page := consoleSignIn(t, ro, "acme", "/console/acme/users", "rita@acme.example")
	if strings.Contains(page.body, "New user") {
		t.Fatal("READ_ONLY sees New user")
	}
	csrf := consoleCSRFOf(t, page)
	if p := ro.do("GET", "/console/acme/users/new", nil); p.status != http.StatusForbidden {
		t.Fatalf("READ_ONLY opens the new-user form: %d", p.status)
	}
	if p := ro.do("POST", "/console/acme/users/"+plain.ID+"/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusForbidden {
		t.Fatalf("READ_ONLY disables a user: %d", p.status)
	}
	if d, _ := h.svc.Store.GetUser(ctx, "acme", plain.ID); d.Status != gatehouse.UserActive {
		t.Fatal("READ_ONLY changed a user")
	}

	ua := newBrowser(t, h)
	page = consoleSignIn(t, ua, "acme", "/console/acme/users/"+boss.ID, "hal@acme.example")
	if strings.Contains(page.body, "/disable") {
		t.Fatal("a USER_ADMIN is offered to disable an administrator")
	}
	csrf = consoleCSRFOf(t, page)
	if p := ua.do("POST", "/console/acme/users/"+boss.ID+"/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusForbidden {
		t.Fatalf("a USER_ADMIN disables an ENVIRONMENT_ADMIN: %d", p.status)
	}
	if p := ua.do("POST", "/console/acme/users/"+plain.ID+"/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Fatalf("a USER_ADMIN disables a user: %d", p.status)
	}
	// The role goes; the next request knows.
	if _, err := h.svc.SetRoles(ctx, service.OperatorActor(), "acme", helper.ID, nil); err != nil {
		t.Fatal(err)
	}
	if p := ua.do("GET", "/console/acme/users", nil); p.status != http.StatusForbidden || !strings.Contains(p.body, "no administrator role") {
		t.Fatalf("after the role was removed: %d\n%s", p.status, p.body)
	}

	nobody := newBrowser(t, h)
	if p := consoleSignIn(t, nobody, "acme", "/console/acme/users", "joe@acme.example"); p.status != http.StatusForbidden {
		t.Fatalf("a user with no administrator role: %d", p.status)
	}

	// A forged state at the callback is refused.
	evil := newBrowser(t, h)
	evil.do("GET", "/console/acme/users", nil)
	if p := evil.do("GET", "/console/acme/callback?code=x&state=forged", nil); p.status != http.StatusBadRequest {
		t.Fatalf("a forged console callback: %d", p.status)
	}

}
