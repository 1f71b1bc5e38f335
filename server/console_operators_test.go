package server_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

var consoleEnvironmentRow = regexp.MustCompile(`<td><a href="/console/([^/"]+)/" title=`)

// TestConsoleOperatorsEnvironments: an operator of the system environment
// creates an environment in the console (its first administrator's
// temporary password shown once, and it works at the new environment's
// sign-in, which forces a change), disables and enables it, and deletes it
// after typing its id; an environment administrator has no such pages.
func TestConsoleOperatorsEnvironments(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, gatehouse.SystemEnvironmentID, "op@example", gatehouse.RoleEnvironmentAdmin)
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)

	op := newBrowser(t, h)
	home := op.do("GET", "/console/system/", nil)
	if home.status != http.StatusSeeOther {
		t.Fatalf("/console/system/: %d", home.status)
	}
	landing := consoleSignIn(t, op, "system", home.header.Get("Location"), "op@example")
	if !strings.Contains(landing.body, `<a href="/console/system/environments">Environments</a>`) {
		t.Fatalf("the operator's menu has no Environments:\n%s", landing.body)
	}
	list := op.do("GET", "/console/system/environments", nil)
	if list.status != 200 || !strings.Contains(list.body, "<h1>Environments</h1>") || !strings.Contains(list.body, "New environment") {
		t.Fatalf("environments page: %d\n%s", list.status, list.body)
	}
	for _, id := range []string{"acme", "globex", "system"} {
		if !strings.Contains(list.body, `<td><a href="/console/`+id+`/"`) {
			t.Errorf("%s is not listed", id)
		}
	}
	if strings.Contains(list.body, "/environments/system/delete") || strings.Contains(list.body, "/environments/system/disable") {
		t.Error("the system environment is offered for deletion or disabling")
	}
	csrf := consoleCSRFOf(t, list)

	// An environment administrator: no menu entry, no page, no action.
	eve := newBrowser(t, h)
	acme := consoleSignIn(t, eve, "acme", "/console/acme/users", "eve@acme.example")
	if strings.Contains(acme.body, "/environments") {
		t.Fatalf("an acme administrator sees the environments menu:\n%s", acme.body)
	}
	if p := eve.do("GET", "/console/acme/environments", nil); p.status != http.StatusNotFound {
		t.Fatalf("/console/acme/environments: %d", p.status)
	}
	if p := eve.do("POST", "/console/acme/environments/globex/delete", url.Values{"csrf": {consoleCSRFOf(t, acme)}, "confirmID": {"globex"}}); p.status != http.StatusNotFound {
		t.Fatalf("an acme administrator deletes an environment: %d", p.status)
	}
	if _, err := h.svc.GetEnvironment(ctx, "globex"); err != nil {
		t.Fatalf("globex after an acme administrator's attempt: %v", err)
	}

	// Create: refusals keep the values and create nothing.
	create := func(kv ...string) page {
		v := url.Values{"csrf": {csrf}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return op.do("POST", "/console/system/environments/new", v)
	}
	if p := op.do("GET", "/console/system/environments/new", nil); p.status != 200 || !strings.Contains(p.body, `<label for="id">`) {
		t.Fatalf("new environment form: %d\n%s", p.status, p.body)
	}
	for _, tc := range []struct {
		id, message string
		status      int
	}{
		{"Init_Tech", "must be lowercase letters", 400},
		{"console", "is reserved", 400},
		{"acme", "exists", 409},
	} {
		p := create("id", tc.id, "displayName", "Initech & Co")
		if p.status != tc.status || !strings.Contains(p.body, tc.message) || !strings.Contains(p.body, `value="`+tc.id+`"`) ||
			!strings.Contains(p.body, `value="Initech &amp; Co"`) {
			t.Fatalf("create %q: %d\n%s", tc.id, p.status, p.body)
		}
		if tc.id != "acme" {
			if _, err := h.svc.GetEnvironment(ctx, tc.id); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
				t.Fatalf("a refused %q was created: %v", tc.id, err)
			}
		}
	}
	if p := op.do("POST", "/console/system/environments/new", url.Values{"id": {"initech"}}); p.status != http.StatusForbidden {
		t.Fatalf("create without the CSRF token: %d", p.status)
	}
	if _, err := h.svc.GetEnvironment(ctx, "initech"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("created without a CSRF token: %v", err)
	}

	made := create("id", "initech", "displayName", "Initech Inc")
	secret := regexp.MustCompile(`<code class="secret">([^<]+)</code>`).FindStringSubmatch(made.body)
	if made.status != http.StatusCreated || secret == nil || made.header.Get("Location") != "" || made.header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(made.body, h.ts.URL+"/console/initech/") || !strings.Contains(made.body, "<code>admin</code>") {
		t.Fatalf("created: %d %v\n%s", made.status, made.header, made.body)
	}
	temporary := html.UnescapeString(secret[1])
	env, err := h.svc.GetEnvironment(ctx, "initech")
	if err != nil || env.DisplayName != "Initech Inc" {
		t.Fatalf("initech %+v %v", env, err)
	}
	events, _ := h.svc.Store.ListAuditEvents(ctx, gatehouse.SystemEnvironmentID, gatehouse.AuditFilter{TargetID: "initech", Limit: 10})
	if len(events) != 1 || events[0].Action != service.ActionEnvironmentCreated || events[0].ActorType != gatehouse.ActorUser {
		t.Fatalf("the creation is audited as the operator: %+v", events)
	}

	// The first administrator signs in with the temporary password and must change it.
	admin := newBrowser(t, h)
	start := admin.do("GET", "/console/initech/users", nil)
	loginURL := admin.do("GET", start.header.Get("Location"), nil).header.Get("Location")
	admin.submit(loginURL, admin.do("GET", loginURL, nil), "username", "admin")
	changing := admin.submit(loginURL, admin.do("GET", loginURL, nil), "password", temporary)
	change := admin.do("GET", changing.header.Get("Location"), nil)
	if !strings.Contains(change.body, "Change your password") {
		t.Fatalf("the first administrator is not asked to change the temporary password: %d %s\n%s", changing.status, changing.header.Get("Location"), change.body)
	}
	done := admin.submit(loginURL, change, "current", temporary, "new", "Initech-Admin-Pass-1", "confirm", "Initech-Admin-Pass-1")
	if cb := done.header.Get("Location"); !strings.Contains(cb, "/console/initech/callback?") {
		t.Fatalf("after the change: %d %s\n%s", done.status, cb, done.body)
	}
	if p := admin.do("GET", admin.do("GET", done.header.Get("Location"), nil).header.Get("Location"), nil); p.status != 200 || !strings.Contains(p.body, "<h1>Users</h1>") {
		t.Fatalf("initech's console: %d\n%s", p.status, p.body)
	}

	// Disable: the environment's sign-in, discovery and console answer not found.
	discovery := "/initech/.well-known/openid-configuration"
	if p := op.do("GET", discovery, nil); p.status != 200 {
		t.Fatalf("discovery before disabling: %d", p.status)
	}
	disabled := op.do("POST", "/console/system/environments/initech/disable", url.Values{"csrf": {csrf}})
	if disabled.status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", disabled.status, disabled.body)
	}
	if e, _ := h.svc.GetEnvironment(ctx, "initech"); e.Status != gatehouse.EnvironmentDisabled {
		t.Fatalf("initech is %s", e.Status)
	}
	if p := op.do("GET", disabled.header.Get("Location"), nil); !strings.Contains(p.body, "The environment initech is disabled") ||
		!strings.Contains(p.body, "/environments/initech/enable") {
		t.Fatalf("after disabling:\n%s", p.body)
	}
	for _, path := range []string{discovery, "/initech/oauth2/jwks", "/console/initech/users"} {
		if p := newBrowser(t, h).do("GET", path, nil); p.status != http.StatusNotFound {
			t.Errorf("%s of a disabled environment: %d", path, p.status)
		}
	}
	if p := admin.do("GET", "/console/initech/users", nil); p.status != http.StatusNotFound {
		t.Errorf("the console session of a disabled environment: %d", p.status)
	}
	if p := op.do("POST", "/console/system/environments/system/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, "cannot be disabled") {
		t.Fatalf("disabling the system environment: %d\n%s", p.status, p.body)
	}

	// Enable.
	if p := op.do("POST", "/console/system/environments/initech/enable", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Fatalf("enable: %d", p.status)
	}
	if p := op.do("GET", discovery, nil); p.status != 200 {
		t.Fatalf("discovery after enabling: %d", p.status)
	}

	// Delete: the id must be typed.
	confirm := op.do("GET", "/console/system/environments/initech/delete", nil)
	if confirm.status != 200 || !strings.Contains(confirm.body, `<label for="confirmID">`) {
		t.Fatalf("delete confirmation: %d\n%s", confirm.status, confirm.body)
	}
	wrong := op.do("POST", "/console/system/environments/initech/delete", url.Values{"csrf": {csrf}, "confirmID": {"initec"}})
	if wrong.status != http.StatusBadRequest || !strings.Contains(wrong.body, "exactly") || !strings.Contains(wrong.body, `value="initec"`) {
		t.Fatalf("delete with the wrong id typed: %d\n%s", wrong.status, wrong.body)
	}
	if _, err := h.svc.GetEnvironment(ctx, "initech"); err != nil {
		t.Fatalf("deleted after a wrong confirmation: %v", err)
	}
	if p := op.do("POST", "/console/system/environments/initech/delete", url.Values{"confirmID": {"initech"}}); p.status != http.StatusForbidden {
		t.Fatalf("delete without the CSRF token: %d", p.status)
	}
	deleted := op.do("POST", "/console/system/environments/initech/delete", url.Values{"csrf": {csrf}, "confirmID": {"initech"}})
	if deleted.status != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", deleted.status, deleted.body)
	}
	if _, err := h.svc.GetEnvironment(ctx, "initech"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("initech after deletion: %v", err)
	}
	if p := op.do("GET", deleted.header.Get("Location"), nil); !strings.Contains(p.body, "The environment initech is deleted") ||
		strings.Contains(p.body, `<td><a href="/console/initech/"`) {
		t.Fatalf("after deleting:\n%s", p.body)
	}
	events, _ = h.svc.Store.ListAuditEvents(ctx, gatehouse.SystemEnvironmentID, gatehouse.AuditFilter{TargetID: "initech", Limit: 10})
	if len(events) != 4 || events[0].Action != service.ActionEnvironmentDeleted || events[0].ActorType != gatehouse.ActorUser {
		t.Fatalf("the operator's changes are audited: %+v", events)
	}
	if p := op.do("GET", "/console/system/environments/initech/delete", nil); p.status != http.StatusNotFound {
		t.Fatalf("deleting a deleted environment: %d", p.status)
	}
	if p := op.do("GET", "/console/system/environments/system/delete", nil); p.status != http.StatusBadRequest || strings.Contains(p.body, `name="confirmID"`) {
		t.Fatalf("the system environment's delete page: %d\n%s", p.status, p.body)
	}
	if p := op.do("POST", "/console/system/environments/system/delete", url.Values{"csrf": {csrf}, "confirmID": {"system"}}); p.status != http.StatusBadRequest {
		t.Fatalf("deleting the system environment: %d", p.status)
	}
	if _, err := h.svc.GetEnvironment(ctx, gatehouse.SystemEnvironmentID); err != nil {
		t.Fatalf("the system environment: %v", err)
	}
}

// TestConsoleOperatorsReadOnly: a READ_ONLY operator lists environments but
// cannot create, disable or delete one, whatever the form says.
func TestConsoleOperatorsReadOnly(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, gatehouse.SystemEnvironmentID, "auditor@example", gatehouse.RoleReadOnly)
	ro := newBrowser(t, h)
	list := consoleSignIn(t, ro, "system", "/console/system/environments", "auditor@example")
	if list.status != 200 || !strings.Contains(list.body, `<td><a href="/console/acme/"`) {
		t.Fatalf("READ_ONLY operator's list: %d\n%s", list.status, list.body)
	}
	if strings.Contains(list.body, "New environment") || strings.Contains(list.body, "/disable") || strings.Contains(list.body, "/delete") {
		t.Fatal("a READ_ONLY operator is offered changes")
	}
	csrf := consoleCSRFOf(t, list)
	if p := ro.do("GET", "/console/system/environments/new", nil); p.status != http.StatusForbidden {
		t.Fatalf("READ_ONLY opens the new environment form: %d", p.status)
	}
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/console/system/environments/new", url.Values{"id": {"sneaky"}}},
		{"/console/system/environments/acme/delete", url.Values{"confirmID": {"acme"}}},
		{"/console/system/environments/acme/disable", nil},
	} {
		form := url.Values{"csrf": {csrf}}
		for k, v := range tc.form {
			form[k] = v
		}
		if p := ro.do("POST", tc.path, form); p.status != http.StatusForbidden {
			t.Errorf("READ_ONLY POST %s: %d", tc.path, p.status)
		}
	}
	if _, err := h.svc.GetEnvironment(ctx, "sneaky"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Errorf("READ_ONLY created an environment: %v", err)
	}
	if e, err := h.svc.GetEnvironment(ctx, "acme"); err != nil || e.Status != gatehouse.EnvironmentActive {
		t.Errorf("READ_ONLY changed acme: %+v %v", e, err)
	}
}

// TestConsoleOperatorsPaging: the list pages 25 at a time with the
// service's cursor, every environment once, and jumps to an id.
func TestConsoleOperatorsPaging(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	for i := range 60 {
		if _, err := h.svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: fmt.Sprintf("paged-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	consoleAdmin(t, h, gatehouse.SystemEnvironmentID, "op@example", gatehouse.RoleEnvironmentAdmin)
	b := newBrowser(t, h)
	p := consoleSignIn(t, b, "system", "/console/system/environments", "op@example")
	seen := map[string]bool{}
	var sizes []int
	for pages := 0; ; pages++ {
		rows := consoleEnvironmentRow.FindAllStringSubmatch(p.body, -1)
		sizes = append(sizes, len(rows))
		for _, row := range rows {
			if seen[row[1]] {
				t.Fatalf("%s shown twice", row[1])
			}
			seen[row[1]] = true
		}
		next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(p.body)
		if next == nil || pages > 5 {
			break
		}
		p = b.do("GET", html.UnescapeString(next[1]), nil)
	}
	if len(seen) != 63 || fmt.Sprint(sizes) != "[25 25 13]" {
		t.Fatalf("pages of %v, %d environments in all", sizes, len(seen))
	}
	jump := b.do("GET", "/console/system/environments?from=paged-4", nil)
	rows := consoleEnvironmentRow.FindAllStringSubmatch(jump.body, -1)
	if len(rows) != 21 || rows[0][1] != "paged-40" || rows[20][1] != "system" {
		t.Fatalf("from paged-4: %d rows, %v", len(rows), rows)
	}
	jump = b.do("GET", "/console/system/environments?from=paged-10", nil)
	rows = consoleEnvironmentRow.FindAllStringSubmatch(jump.body, -1)
	if len(rows) != 25 || rows[0][1] != "paged-10" || rows[24][1] != "paged-34" || !strings.Contains(jump.body, `rel="next"`) {
		t.Fatalf("from paged-10 (which exists): %d rows, first %v", len(rows), rows[0])
	}
}
