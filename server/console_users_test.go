package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// consoleUserPost posts one of the user page's forms.
func consoleUserPost(b *browser, csrf, userID, action string, kv ...string) page {
	b.t.Helper()
	v := url.Values{}
	if csrf != "" {
		v.Set("csrf", csrf)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return b.do("POST", "/console/acme/users/"+userID+"/"+action, v)
}

func storedUser(t *testing.T, h *apiHarness, id string) *gatehouse.User {
	t.Helper()
	u, err := h.svc.Store.GetUser(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConsoleUserPage: an ENVIRONMENT_ADMIN edits a user's fields, adds
// and removes roles with contexts, sets a password, ends the sessions,
// removes a second factor, grants and ends a bypass, ends a block, reads
// the timeline and deletes the user; bad input is refused in the page
// with nothing changed.
func TestConsoleUserPage(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	admin := consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	u := h.newUser("acme", nil, "Initial-Pass-1")
	b := newBrowser(t, h)
	p := consoleSignIn(t, b, "acme", "/console/acme/users/"+u.ID, "eve@acme.example")
	csrf := consoleCSRFOf(t, p)
	for _, action := range []string{"edit", "add-role", "password", "end-sessions", "bypass", "delete", "disable"} {
		if !strings.Contains(p.body, `action="/console/acme/users/`+u.ID+`/`+action+`"`) {
			t.Errorf("the user page has no %s form", action)
		}
	}
	post := func(action string, kv ...string) page {
		t.Helper()
		return consoleUserPost(b, csrf, u.ID, action, kv...)
	}
	seeOther := func(p page, done string) {
		t.Helper()
		if p.status != http.StatusSeeOther || !strings.HasSuffix(p.header.Get("Location"), "?done="+done) {
			t.Fatalf("want a redirect with done=%s: %d %s\n%s", done, p.status, p.header.Get("Location"), p.body)
		}
	}
	refused := func(p page, message string) {
		t.Helper()
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, message) {
			t.Fatalf("want 400 with %q: %d\n%s", message, p.status, p.body)
		}
	}

	// Fields.
	edit := []string{"title", "Ms", "firstName", "Ada", "lastName", "Lovelace", "email", "ada@acme.example", "phone", "+61 2 9999 0000",
		"type", "LOCATION", "timezone", "Australia/Sydney", "language", "en-AU", "department", "Stores", "country", "AU",
		"primaryRetailer", "r-1", "primaryLocation", "loc-9", "promotionOptIn", "on"}
	seeOther(post("edit", edit...), "saved")
	got := storedUser(t, h, u.ID)
	if got.Title != "Ms" || got.FirstName != "Ada" || got.LastName != "Lovelace" || got.PrimaryEmail != "ada@acme.example" ||
		got.PrimaryPhone != "+61 2 9999 0000" || got.Type != "LOCATION" || got.Timezone != "Australia/Sydney" || got.Language != "en-AU" ||
		got.Department != "Stores" || got.Country != "AU" || got.PrimaryRetailer != "r-1" || got.PrimaryLocation != "loc-9" || !got.PromotionOptIn {
		t.Fatalf("edited user %+v", got)
	}
	if p := b.do("GET", "/console/acme/users/"+u.ID+"?done=saved", nil); !strings.Contains(p.body, "The changes are saved.") ||
		!strings.Contains(p.body, `value="Lovelace"`) || !strings.Contains(p.body, "Details changed:") {
		t.Fatalf("after saving:\n%s", p.body)
	}
	bad := append(append([]string{}, edit...), "email", "not-an-email", "firstName", "Augusta")
	bad[1] = "Dr"
	p = post("edit", bad...)
	refused(p, "is not an email address")
	if !strings.Contains(p.body, `value="not-an-email"`) || !strings.Contains(p.body, `value="Augusta"`) || !strings.Contains(p.body, `<details class="edit" open>`) {
		t.Fatalf("a refused edit keeps its values, its form open:\n%s", p.body)
	}
	if got := storedUser(t, h, u.ID); got.PrimaryEmail != "ada@acme.example" || got.FirstName != "Ada" || got.Title != "Ms" {
		t.Fatalf("a refused edit changed the user: %+v", got)
	}
	// The promotion checkbox unticked turns the opt-in off.
	seeOther(post("edit", edit[:len(edit)-2]...), "saved")
	if storedUser(t, h, u.ID).PromotionOptIn {
		t.Fatal("promotion opt-in still on")
	}

	// Roles with contexts.
	seeOther(post("add-role", "role", "STORE_ASSISTANT", "contextType", "retailer", "contextId", "r-1"), "role-added")
	seeOther(post("add-role", "role", "ADMIN"), "role-added")
	held := map[string]string{}
	for _, a := range storedUser(t, h, u.ID).Roles {
		held[a.Role] = "everywhere"
		if a.Context != nil {
			held[a.Role] = a.Context.Type + " " + a.Context.ID
		}
	}
	if len(held) != 2 || held["STORE_ASSISTANT"] != "RETAILER r-1" || held["ADMIN"] != "everywhere" {
		t.Fatalf("roles %v", held)
	}
	p = post("add-role", "role", "NOPE_ROLE", "contextType", "ACCOUNT", "contextId", "a-7")
	refused(p, "role NOPE_ROLE is not defined in this environment")
	if !strings.Contains(p.body, `value="a-7"`) {
		t.Fatal("a refused role keeps its context")
	}
	refused(post("add-role", "role", "ADMIN", "contextType", "ACCOUNT"), "has a context that needs a type")
	if got := storedUser(t, h, u.ID).Roles; len(got) != 2 {
		t.Fatalf("refused roles changed the user: %+v", got)
	}
	seeOther(post("remove-role", "role", "STORE_ASSISTANT", "contextType", "RETAILER", "contextId", "r-1"), "role-removed")
	if got := storedUser(t, h, u.ID).Roles; len(got) != 1 || got[0].Role != "ADMIN" {
		t.Fatalf("after removing STORE_ASSISTANT: %+v", got)
	}
	refused(post("remove-role", "role", "STORE_ASSISTANT", "contextType", "RETAILER", "contextId", "r-1"), "no longer holds that role")

	// Sessions end.
	now := time.Now()
	for range 2 {
		if err := h.svc.Store.CreateSession(ctx, &gatehouse.Session{EnvironmentID: "acme", ID: gatehouse.NewID(), UserID: u.ID, AuthTime: now,
			ClientIP: "203.0.113.9", UserAgent: "Mozilla/5.0 (Windows NT 10.0) Chrome/120", CreatedOn: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if p := b.do("GET", "/console/acme/users/"+u.ID, nil); !strings.Contains(p.body, "Chrome on Windows") || !strings.Contains(p.body, "203.0.113.9") {
		t.Fatalf("the sessions are not listed:\n%s", p.body)
	}
	seeOther(post("end-sessions"), "sessions-ended")
	if sessions, _ := h.svc.Store.ListUserSessions(ctx, "acme", u.ID); len(sessions) != 0 {
		t.Fatalf("%d sessions left", len(sessions))
	}
	ended, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: u.ID, Action: service.ActionSessionEnded, Limit: 5})
	if len(ended) != 1 || ended[0].ActorID != admin.ID || ended[0].Details["sessions"] != "2" {
		t.Fatalf("ending sessions is audited as the administrator: %+v", ended)
	}

	// A password: must change by default, final when unticked, refused
	// under STANDARD when weak.
	if p := b.do("GET", "/console/acme/users/"+u.ID, nil); !regexp.MustCompile(`<input type="checkbox" name="forceChange" checked>`).MatchString(p.body) {
		t.Fatal("must change at next sign-in is not ticked by default")
	}
	seeOther(post("password", "password", "Handed-Over-42", "forceChange", "on"), "password-set")
	if got := storedUser(t, h, u.ID); got.PasswordState != gatehouse.PasswordMustChange {
		t.Fatalf("password state %s", got.PasswordState)
	}
	seeOther(post("password", "password", "Final-Pass-42"), "password-set")
	before := storedUser(t, h, u.ID)
	if before.PasswordState != gatehouse.PasswordOK {
		t.Fatalf("password state %s", before.PasswordState)
	}
	standard, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetStandard)
	if _, err := h.svc.PutPasswordPolicy(ctx, service.OperatorActor(), "acme", standard); err != nil {
		t.Fatal(err)
	}
	p = post("password", "password", "weakling", "forceChange", "on")
	refused(p, "does not meet the password policy")
	if strings.Contains(p.body, "weakling") {
		t.Fatal("the page echoes the refused password")
	}
	refused(post("password", "password", ""), "enter the new password")
	if got := storedUser(t, h, u.ID); got.PasswordHash != before.PasswordHash || got.PasswordState != gatehouse.PasswordOK {
		t.Fatal("a refused password changed the user")
	}

	// Second factors: remove a device, grant and end a bypass, end a block.
	device := &gatehouse.MFADevice{EnvironmentID: "acme", ID: gatehouse.NewID(), UserID: u.ID, Type: gatehouse.MethodTOTP, Name: "Ada's phone",
		CreatedOn: now, Confirmed: true}
	if err := h.svc.Store.CreateMFADevice(ctx, device); err != nil {
		t.Fatal(err)
	}
	if p := b.do("GET", "/console/acme/users/"+u.ID, nil); !strings.Contains(p.body, "Ada&#39;s phone") || !strings.Contains(p.body, `value="`+device.ID+`"`) {
		t.Fatalf("the device is not listed:\n%s", p.body)
	}
	seeOther(post("remove-device", "device", device.ID), "device-removed")
	if _, err := h.svc.Store.GetMFADevice(ctx, "acme", device.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the device is still there: %v", err)
	}
	refused(post("remove-device", "device", "nope"), "device not found")
	seeOther(post("bypass", "bypass", "7d"), "bypass-set")
	st, _ := h.svc.Store.GetMFAState(ctx, "acme", u.ID)
	if st.BypassUntil == nil || st.BypassUntil.Sub(now) < 7*24*time.Hour-time.Minute || st.BypassUntil.Sub(now) > 7*24*time.Hour+time.Minute {
		t.Fatalf("bypass until %v", st.BypassUntil)
	}
	refused(post("bypass", "bypass", "30y"), "choose how long")
	seeOther(post("end-bypass"), "bypass-ended")
	if st, _ := h.svc.Store.GetMFAState(ctx, "acme", u.ID); st.BypassUntil != nil {
		t.Fatal("the bypass did not end")
	}
	if _, err := h.svc.Store.RegisterMFAFailure(ctx, "acme", u.ID, 1, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p := b.do("GET", "/console/acme/users/"+u.ID, nil); !strings.Contains(p.body, "/unblock-mfa") {
		t.Fatal("a blocked user's page has no unblock")
	}
	seeOther(post("unblock-mfa"), "mfa-unblocked")
	if st, _ := h.svc.Store.GetMFAState(ctx, "acme", u.ID); st.BlockedUntil != nil && st.BlockedUntil.After(time.Now()) {
		t.Fatal("still blocked")
	}

	// The timeline: newest first, in words, at most 50.
	timeline := b.do("GET", "/console/acme/users/"+u.ID, nil)
	first, last := strings.Index(timeline.body, "Second factor block ended"), strings.Index(timeline.body, "Created</td>")
	if first < 0 || last < 0 || first > last || !strings.Contains(timeline.body, "Signed out everywhere by an administrator") ||
		!strings.Contains(timeline.body, "Roles set to STORE_ASSISTANT in RETAILER r-1; ADMIN") || !strings.Contains(timeline.body, `<td><a href="/console/acme/users/`+admin.ID+`">eve@acme.example</a></td>`) {
		t.Fatalf("the timeline:\n%s", timeline.body)
	}
	for range 60 {
		h.svc.UnblockMFA(ctx, service.OperatorActor(), "acme", u.ID)
	}
	if p := b.do("GET", "/console/acme/users/"+u.ID, nil); strings.Count(p.body, "Second factor block ended") != 50 {
		t.Fatalf("the timeline holds %d events", strings.Count(p.body, "Second factor block ended"))
	}

	// Another environment's user is not found; a form without CSRF is
	// refused.
	other := h.newUser("globex", nil, "")
	if p := b.do("GET", "/console/acme/users/"+other.ID, nil); p.status != http.StatusNotFound {
		t.Fatalf("globex's user in acme's console: %d", p.status)
	}
	if p := consoleUserPost(b, csrf, other.ID, "edit", "firstName", "Hacked"); p.status != http.StatusNotFound {
		t.Fatalf("editing globex's user in acme's console: %d", p.status)
	}
	if got, _ := h.svc.Store.GetUser(ctx, "globex", other.ID); got.FirstName == "Hacked" {
		t.Fatal("acme's console changed globex's user")
	}
	if p := consoleUserPost(b, "", u.ID, "edit", "firstName", "NoCSRF"); p.status != http.StatusForbidden || storedUser(t, h, u.ID).FirstName == "NoCSRF" {
		t.Fatalf("an edit without CSRF: %d", p.status)
	}

	// Delete: confirmed only.
	refused(post("delete"), "tick the box")
	storedUser(t, h, u.ID)
	p = post("delete", "confirm", "yes")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/acme/users?done=deleted" {
		t.Fatalf("delete: %d %s", p.status, p.header.Get("Location"))
	}
	if _, err := h.svc.Store.GetUser(ctx, "acme", u.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("deleted user: %v", err)
	}
	if p := b.do("GET", "/console/acme/users?done=deleted", nil); !strings.Contains(p.body, "The user is deleted.") {
		t.Fatal("no notice after deleting")
	}
	if p := b.do("GET", "/console/acme/users/"+u.ID, nil); p.status != http.StatusNotFound {
		t.Fatalf("a deleted user's page: %d", p.status)
	}
}

// TestConsoleUserPageRoles: READ_ONLY sees no form and changes nothing; a
// USER_ADMIN manages ordinary users but never grants an administrator
// role nor acts on an administrator.
func TestConsoleUserPageRoles(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	boss := consoleAdmin(t, h, "acme", "boss@acme.example", gatehouse.RoleEnvironmentAdmin)
	consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	consoleAdmin(t, h, "acme", "hal@acme.example", gatehouse.RoleUserAdmin)
	plain := h.newUser("acme", []gatehouse.RoleAssignment{{Role: "STORE_ASSISTANT"}}, "Initial-Pass-1")
	snapshot := func(id string) string {
		u := storedUser(t, h, id)
		return u.UpdatedOn.String() + u.PasswordHash + u.Status
	}
	actions := [][]string{
		{"edit", "firstName", "Changed"}, {"add-role", "role", "ADMIN"}, {"remove-role", "role", "STORE_ASSISTANT"},
		{"password", "password", "Another-Pass-9"}, {"end-sessions"}, {"bypass", "bypass", "1h"}, {"end-bypass"},
		{"unblock-mfa"}, {"remove-device", "device", "x"}, {"disable"}, {"delete", "confirm", "yes"},
	}

	ro := newBrowser(t, h)
	p := consoleSignIn(t, ro, "acme", "/console/acme/users/"+plain.ID, "rita@acme.example")
	if p.status != 200 || strings.Contains(p.body, `action="/console/acme/users/`+plain.ID+`/`) || strings.Contains(p.body, "Edit details") {
		t.Fatalf("READ_ONLY sees forms on the user page:\n%s", p.body)
	}
	csrf := consoleCSRFOf(t, p)
	was := snapshot(plain.ID)
	for _, a := range actions {
		if p := consoleUserPost(ro, csrf, plain.ID, a[0], a[1:]...); p.status != http.StatusForbidden {
			t.Errorf("READ_ONLY %s: %d", a[0], p.status)
		}
	}
	if snapshot(plain.ID) != was {
		t.Fatal("READ_ONLY changed a user")
	}
	events, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: plain.ID, Limit: 10})
	if len(events) != 1 {
		t.Fatalf("READ_ONLY's attempts left events: %+v", events)
	}

	ua := newBrowser(t, h)
	p = consoleSignIn(t, ua, "acme", "/console/acme/users/"+plain.ID, "hal@acme.example")
	if !strings.Contains(p.body, `/add-role"`) || strings.Contains(p.body, `<option value="ENVIRONMENT_ADMIN"`) || strings.Contains(p.body, `<option value="USER_ADMIN"`) {
		t.Fatalf("a USER_ADMIN's role choice:\n%s", p.body)
	}
	csrf = consoleCSRFOf(t, p)
	for _, role := range gatehouse.AdminRoles {
		if p := consoleUserPost(ua, csrf, plain.ID, "add-role", "role", role); p.status != http.StatusForbidden {
			t.Errorf("a USER_ADMIN adds %s: %d", role, p.status)
		}
	}
	if got := storedUser(t, h, plain.ID).Roles; len(got) != 1 || got[0].Role != "STORE_ASSISTANT" {
		t.Fatalf("a USER_ADMIN granted an administrator role: %+v", got)
	}
	if p := ua.do("GET", "/console/acme/users/"+boss.ID, nil); strings.Contains(p.body, `action="/console/acme/users/`+boss.ID+`/`) {
		t.Fatal("a USER_ADMIN is offered forms on an administrator")
	}
	was = snapshot(boss.ID)
	for _, a := range actions {
		if p := consoleUserPost(ua, csrf, boss.ID, a[0], a[1:]...); p.status != http.StatusForbidden {
			t.Errorf("a USER_ADMIN %s on an ENVIRONMENT_ADMIN: %d", a[0], p.status)
		}
	}
	if snapshot(boss.ID) != was {
		t.Fatal("a USER_ADMIN changed an administrator")
	}
	// An ordinary user is theirs to manage, deletion included.
	if p := consoleUserPost(ua, csrf, plain.ID, "add-role", "role", "ADMIN", "contextType", "ACCOUNT", "contextId", "acc-1"); p.status != http.StatusSeeOther {
		t.Fatalf("a USER_ADMIN adds ADMIN in a context: %d\n%s", p.status, p.body)
	}
	if p := consoleUserPost(ua, csrf, plain.ID, "delete", "confirm", "yes"); p.status != http.StatusSeeOther {
		t.Fatalf("a USER_ADMIN deletes a user: %d", p.status)
	}
	if _, err := h.svc.Store.GetUser(ctx, "acme", plain.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatal("not deleted")
	}
}
