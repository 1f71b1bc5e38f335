package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/otp"
	"github.com/gatehouse/gatehouse/service"
)

// The self-service account page, end to end: a browser signs in to it
// with the hosted sign-in and uses every form on it.

var accountCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// accountPost posts a form of the account page with the token that page p
// carries.
func (b *browser) accountPost(p page, path string, fields ...string) page {
	b.t.Helper()
	m := accountCSRF.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no form token on the page:\n%s", p.body)
	}
	form := url.Values{"csrf": {m[1]}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	return b.do(http.MethodPost, path, form)
}

// signInToAccount opens the account page without a session, signs in with
// username and password (and a TOTP code of secret when one is asked
// for), and returns the account page it comes back to.
func signInToAccount(t *testing.T, b *browser, env, username, password string, totp func() string) page {
	t.Helper()
	start := b.do("GET", "/"+env+"/account", nil)
	loginURL := start.header.Get("Location")
	if start.status != http.StatusSeeOther || !strings.HasPrefix(loginURL, "/"+env+"/login/") {
		t.Fatalf("the account page without a session: %d %s", start.status, loginURL)
	}
	b.submit(loginURL, b.do("GET", loginURL, nil), "username", username)
	done := b.submit(loginURL, b.do("GET", loginURL, nil), "password", password)
	if done.header.Get("Location") == loginURL && totp != nil {
		challenge := b.do("GET", loginURL, nil)
		done = b.submit(loginURL, challenge, "method", "TOTP", "code", totp())
	}
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "/"+env+"/account" {
		t.Fatalf("the sign-in did not come back to the account page: %d %s\n%s", done.status, done.header.Get("Location"), done.body)
	}
	p := b.do("GET", "/"+env+"/account", nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `<h1 id="title">Your account</h1>`) {
		t.Fatalf("account page: %d\n%s", p.status, p.body)
	}
	return p
}

// sessionCookieOf is the browser's session cookie for env.
func (b *browser) sessionCookieOf(env string) string {
	u, _ := url.Parse(b.h.ts.URL + "/" + env + "/account")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "gh_session" {
			return c.Value
		}
	}
	return ""
}

// followTo follows p's redirect and returns the page there.
func (b *browser) follow(p page) page {
	b.t.Helper()
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("not a redirect: %d\n%s", p.status, p.body)
	}
	return b.do("GET", p.header.Get("Location"), nil)
}

func userAfter(t *testing.T, h *apiHarness, id string) *gatehouse.User {
	t.Helper()
	u, err := h.svc.Store.GetUser(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAccountSignIn: without a session the page sends the browser to a
// sign-in that has no client, and that sign-in comes back to the page
// (no code, no client redirect), sets the session cookie for the
// environment only, and is audited.
func TestAccountSignIn(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	b := newBrowser(t, f.h)
	start := b.do("GET", "/acme/account", nil)
	loginURL := start.header.Get("Location")
	b.submit(loginURL, b.do("GET", loginURL, nil), "username", f.user.Username)
	done := b.submit(loginURL, b.do("GET", loginURL, nil), "password", mfaPassword)
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "/acme/account" {
		t.Fatalf("after the password: %d %q", done.status, done.header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: done.header}).Cookies() {
		if c.Name == "gh_session" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Path != "/acme/" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", cookie)
	}
	p := b.do("GET", "/acme/account", nil)
	if p.status != 200 || !strings.Contains(p.body, "Signed in as <strong>mia@acme.example</strong>") || !strings.Contains(p.body, `id="firstName"`) {
		t.Fatalf("account page: %d\n%s", p.status, p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		p.header.Get("Cache-Control") != "no-store" || strings.Contains(p.body, "<script") || strings.Contains(p.body, "style=") {
		t.Fatalf("account page headers %v", p.header)
	}
	events, _ := f.h.svc.Store.ListAuditEvents(context.Background(), "acme", gatehouse.AuditFilter{TargetID: f.user.ID, Action: service.ActionAuthenticated, Limit: 5})
	if len(events) != 1 || events[0].Details["clientId"] != "" {
		t.Fatalf("sign-in audit events: %+v", events)
	}
	// The page lists the sign-in as activity.
	if !strings.Contains(p.body, "Signed in</span>") {
		t.Errorf("activity does not show the sign-in:\n%s", p.body)
	}

	// The page's Sign out button ends the session.
	logout := regexp.MustCompile(`action="/acme/oauth2/logout" class="signout">\s*<input type="hidden" name="confirm" value="([^"]+)">`).FindStringSubmatch(p.body)
	if logout == nil {
		t.Fatalf("no sign-out form:\n%s", p.body)
	}
	if out := b.do("POST", "/acme/oauth2/logout", url.Values{"confirm": {logout[1]}}); out.status != 200 || !strings.Contains(out.body, "You are signed out") {
		t.Fatalf("signing out from the account page: %d\n%s", out.status, out.body)
	}
	if r := b.do("GET", "/acme/account", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/acme/login/") {
		t.Fatalf("the account page after signing out: %d", r.status)
	}

	// A sign-in page of the account left open too long starts again from
	// the account page, not from an application.
	b2 := newBrowser(t, f.h)
	loginURL = b2.do("GET", "/acme/account", nil).header.Get("Location")
	f.h.svc.Now = func() time.Time { return time.Now().Add(service.LoginFlowTTL + time.Minute) }
	expired := b2.do("GET", loginURL, nil)
	f.h.svc.Now = nil
	if expired.status != http.StatusNotFound || !strings.Contains(expired.body, `href="/acme/account"`) {
		t.Fatalf("expired account sign-in: %d\n%s", expired.status, expired.body)
	}
}

// TestAccountRedirectTarget: a sign-in without a client ends only on the
// environment's account page.
func TestAccountRedirectTarget(t *testing.T) {
	for target, ok := range map[string]bool{
		"/acme/account": true, "/acme/account/enrol/x": true, "/acme/account?done=profile": true,
		"/acme/accounts": false, "/globex/account": false, "https://evil.example/acme/account": false, "//evil.example": false,
		"/acme/account//evil.example": false, "/acme/account/../../x": false, "/acme/account\\x": false, "": false,
	} {
		if got := service.IsAccountPath("acme", target); got != ok {
			t.Errorf("IsAccountPath(%q) = %v", target, got)
		}
	}
}

// TestAccountProfile: the user edits the fields that are theirs; a bad
// value is refused with the rule, and nothing changes; the fields that
// are the administrator's cannot be changed from the page.
func TestAccountProfile(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	b := newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	saved := b.accountPost(p, "/acme/account/profile", "firstName", " Mia ", "lastName", "Wong", "primaryPhone", "+61 2 5550 1234",
		"timezone", "Australia/Sydney", "language", "en-AU", "username", "someone-else", "primaryEmail", "x@evil.example")
	if saved.status != http.StatusSeeOther || !strings.HasPrefix(saved.header.Get("Location"), "/acme/account?done=profile") {
		t.Fatalf("saving the profile: %d %s\n%s", saved.status, saved.header.Get("Location"), saved.body)
	}
	p = b.follow(saved)
	if !strings.Contains(p.body, "Your profile is saved.") || !strings.Contains(p.body, `value="Wong"`) ||
		(!strings.Contains(p.body, "AEST") && !strings.Contains(p.body, "AEDT")) {
		t.Fatalf("page after saving:\n%s", p.body)
	}
	u := userAfter(t, f.h, f.user.ID)
	if u.FirstName != "Mia" || u.LastName != "Wong" || u.PrimaryPhone != "+61 2 5550 1234" || u.Timezone != "Australia/Sydney" || u.Language != "en-AU" ||
		u.Username != "mia@acme.example" || u.PrimaryEmail != "mia@acme.example" {
		t.Fatalf("user after a profile edit: %+v", u)
	}
	events, _ := f.h.svc.Store.ListAuditEvents(context.Background(), "acme", gatehouse.AuditFilter{TargetID: f.user.ID, Action: service.ActionUserUpdated, Limit: 5})
	if len(events) != 1 || events[0].ActorType != gatehouse.ActorUser || events[0].ActorID != f.user.ID ||
		events[0].Details["fields"] != "firstName,lastName,primaryPhone,timezone,language" {
		t.Fatalf("profile audit: %+v", events)
	}

	bad := b.accountPost(p, "/acme/account/profile", "firstName", "Changed", "lastName", "Wong", "timezone", "Mars/Olympus", "language", "en-AU")
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "not an IANA time zone") {
		t.Fatalf("a bad time zone: %d\n%s", bad.status, bad.body)
	}
	if u := userAfter(t, f.h, f.user.ID); u.FirstName != "Mia" || u.Timezone != "Australia/Sydney" || u.PrimaryPhone != "+61 2 5550 1234" {
		t.Fatalf("a refused edit changed the user: %+v", u)
	}
}

// TestAccountPassword: the current password is checked, the policy names
// the rule broken, and a change ends every other session while this
// browser stays signed in; the old password works nowhere afterwards.
func TestAccountPassword(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	ctx := context.Background()
	app, _ := apiUserSetup(t, f.h)
	pol, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetBasic)
	pol.MinLength = 14
	if _, err := f.h.svc.PutPasswordPolicy(ctx, service.OperatorActor(), "acme", pol); err != nil {
		t.Fatal(err)
	}
	b, other := newBrowser(t, f.h), newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	signInToAccount(t, other, "acme", f.user.Username, mfaPassword, nil)
	if !strings.Contains(p.body, "at least 14 characters") {
		t.Fatalf("the password section does not list the rules:\n%s", p.body)
	}

	wrong := b.accountPost(p, "/acme/account/password", "current", "not-my-password", "new", "A-Much-Longer-Pass-1", "confirm", "A-Much-Longer-Pass-1")
	if wrong.status != http.StatusBadRequest || !strings.Contains(wrong.body, "The current password is not right.") {
		t.Fatalf("a wrong current password: %d\n%s", wrong.status, wrong.body)
	}
	short := b.accountPost(p, "/acme/account/password", "current", mfaPassword, "new", "Short-1", "confirm", "Short-1")
	if short.status != http.StatusBadRequest || !strings.Contains(short.body, "14") {
		t.Fatalf("a password the policy refuses: %d\n%s", short.status, short.body)
	}
	differ := b.accountPost(p, "/acme/account/password", "current", mfaPassword, "new", "A-Much-Longer-Pass-1", "confirm", "A-Much-Longer-Pass-2")
	if differ.status != http.StatusBadRequest || !strings.Contains(differ.body, "differ") {
		t.Fatalf("new passwords that differ: %d\n%s", differ.status, differ.body)
	}
	before := b.sessionCookieOf("acme")
	changed := b.accountPost(p, "/acme/account/password", "current", mfaPassword, "new", "A-Much-Longer-Pass-1", "confirm", "A-Much-Longer-Pass-1")
	if changed.status != http.StatusSeeOther {
		t.Fatalf("changing the password: %d\n%s", changed.status, changed.body)
	}
	if after := b.sessionCookieOf("acme"); after == "" || after == before {
		t.Fatal("this browser did not get a new session with the password change")
	}
	if p := b.follow(changed); p.status != 200 || !strings.Contains(p.body, "Your password is changed") {
		t.Fatalf("this browser after the change: %d\n%s", p.status, p.body)
	}
	if r := other.do("GET", "/acme/account", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/acme/login/") {
		t.Fatalf("the other browser's session survived the password change: %d %s", r.status, r.header.Get("Location"))
	}
	sessions, _ := f.h.svc.Store.ListUserSessions(ctx, "acme", f.user.ID)
	if len(sessions) != 1 {
		t.Fatalf("%d sessions after the change, want this browser's only", len(sessions))
	}

	// The old password: refused at the sign-in and at the token endpoint
	// (which tells a right password of a non-API user apart).
	start := newBrowser(t, f.h)
	loginURL := start.do("GET", "/acme/account", nil).header.Get("Location")
	start.submit(loginURL, start.do("GET", loginURL, nil), "username", f.user.Username)
	if r := start.submit(loginURL, start.do("GET", loginURL, nil), "password", mfaPassword); !strings.Contains(r.body, "not right") {
		t.Fatalf("the old password at the sign-in: %d\n%s", r.status, r.body)
	}
	if r, reply := f.h.passwordGrant(app, f.user.Username, mfaPassword); r.status != 400 || !strings.Contains(reply.ErrorDescription, "not right") {
		t.Fatalf("the old password at the password grant: %s", r)
	}
	if r, reply := f.h.passwordGrant(app, f.user.Username, "A-Much-Longer-Pass-1"); r.status != 400 || !strings.Contains(reply.ErrorDescription, "API users only") {
		t.Fatalf("the new password at the password grant: %s", r)
	}
	signInToAccount(t, newBrowser(t, f.h), "acme", f.user.Username, "A-Much-Longer-Pass-1", nil)
}

// TestAccountCorporateUser: a corporate user signs in to the page through
// their IdP, sees no password section, and the server refuses a password
// change anyway.
func TestAccountCorporateUser(t *testing.T) {
	f := newFederation(t)
	b := newBrowser(t, f.h)
	loginURL := b.do("GET", "/acme/account", nil).header.Get("Location")
	next := b.submit(loginURL, b.do("GET", loginURL, nil), "username", "alice@corp.example")
	upstream, _ := url.Parse(upstreamLink(next))
	accepted, done := f.callback(b, f.idp.ID, answer(upstream, "sub", "okta-00u1", "username", "alice@corp.example",
		"authTime", strconv.FormatInt(time.Now().Unix(), 10)))
	if accepted.status != http.StatusSeeOther || accepted.header.Get("Location") != loginURL {
		t.Fatalf("the IdP's answer: %d %s", accepted.status, accepted.header.Get("Location"))
	}
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "/acme/account" {
		t.Fatalf("a federated sign-in to the account page: %d %s\n%s", done.status, done.header.Get("Location"), done.body)
	}
	p := b.do("GET", "/acme/account", nil)
	if p.status != 200 || strings.Contains(p.body, `id="password"`) || strings.Contains(p.body, "Change password") ||
		!strings.Contains(p.body, "Signed in as <strong>alice@corp.example</strong>") || !strings.Contains(p.body, "organisation's sign-in service") {
		t.Fatalf("a corporate user's account page: %d\n%s", p.status, p.body)
	}
	refused := b.accountPost(p, "/acme/account/password", "current", "x", "new", "Some-Password-123", "confirm", "Some-Password-123")
	if refused.status != http.StatusBadRequest || !strings.Contains(refused.body, "corporate user") {
		t.Fatalf("a corporate user's password change: %d\n%s", refused.status, refused.body)
	}
	if u := userAfter(t, f.h, f.alice.ID); u.PasswordHash != "" || u.PasswordState != gatehouse.PasswordExternal {
		t.Fatalf("corporate user after a refused change: %+v", u)
	}
}

var (
	deviceAction  = regexp.MustCompile(`action="/acme/account/devices/([^/"]+)/remove"`)
	enrolLocation = regexp.MustCompile(`^/acme/account/enrol/[A-Za-z0-9_-]+$`)
)

// enrolTOTP adds an authenticator app from the account page and returns
// its key and the page the confirmation answered.
func enrolTOTP(t *testing.T, b *browser, p page, name string) ([]byte, page) {
	t.Helper()
	start := b.accountPost(p, "/acme/account/enrol", "method", "TOTP")
	at := start.header.Get("Location")
	if start.status != http.StatusSeeOther || !enrolLocation.MatchString(at) {
		t.Fatalf("adding an app: %d %s\n%s", start.status, at, start.body)
	}
	enrol := b.do("GET", at, nil)
	secret := totpSecret(t, enrol)
	if !strings.Contains(enrol.body, `src="data:image/png;base64,`) || !strings.Contains(enrol.body, `href="/acme/account#factors">Cancel</a>`) {
		t.Fatalf("enrolment page:\n%s", enrol.body)
	}
	if again := b.do("GET", at, nil); string(totpSecret(t, again)) != string(secret) {
		t.Fatal("showing the enrolment page again changed the key")
	}
	if elsewhere := newBrowser(t, b.h).do("GET", at, nil); elsewhere.status != http.StatusSeeOther {
		t.Fatalf("another browser without a session opened the enrolment: %d", elsewhere.status)
	}
	wrong := b.accountPost(enrol, at, "method", "TOTP", "code", "000000", "name", name)
	if wrong.status != http.StatusBadRequest || !strings.Contains(wrong.body, "not right") {
		t.Fatalf("a wrong code at enrolment: %d\n%s", wrong.status, wrong.body)
	}
	return secret, b.accountPost(enrol, at, "method", "TOTP", "code", otp.TOTPCode(secret, time.Now()), "name", name)
}

// TestAccountSecondFactors: an authenticator app added on the page works
// at the next sign-in; devices are renamed and removed, but not the last
// one while the policy blocks sign-ins without one; new recovery codes
// replace the old.
func TestAccountSecondFactors(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.AllowedMethods, pol.WhenNotEnrolled = []string{gatehouse.MethodTOTP, gatehouse.MethodRecoveryCode}, gatehouse.NotEnrolledBlock
	f := newMFAFixture(t, pol)
	ctx := context.Background()
	b := newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	if !strings.Contains(p.body, "You have no second factor yet") || !strings.Contains(p.body, "Add an authenticator app") ||
		strings.Contains(p.body, "Add codes by email") {
		t.Fatalf("second factors before any:\n%s", p.body)
	}
	secret, codesPage := enrolTOTP(t, b, p, "Mia's phone")
	oldCodes := recoveryCode.FindAllStringSubmatch(codesPage.body, -1)
	if codesPage.status != 200 || len(oldCodes) != service.RecoveryCodeCount || !strings.Contains(codesPage.body, `href="/acme/account#factors"`) {
		t.Fatalf("recovery codes after the first factor: %d\n%s", codesPage.status, codesPage.body)
	}
	p = b.do("GET", "/acme/account", nil)
	if !strings.Contains(p.body, "Mia&#39;s phone") || !strings.Contains(p.body, "Authenticator app · added") || !strings.Contains(p.body, "10 unused recovery codes left") {
		t.Fatalf("devices after adding one:\n%s", p.body)
	}

	// The policy turns on: the app added on the page answers a sign-in.
	pol.Enabled = true
	if _, err := f.h.svc.SetMFAPolicy(ctx, service.OperatorActor(), "acme", pol); err != nil {
		t.Fatal(err)
	}
	b2 := newBrowser(t, f.h)
	loginURL, challenge := f.password(t, b2)
	if amr := f.amr(t, b2.submit(loginURL, challenge, "method", "TOTP", "code", otp.TOTPCode(secret, time.Now().Add(30*time.Second)))); strings.Join(amr, " ") != "pwd otp mfa" {
		t.Fatalf("amr with the app added on the account page: %v", amr)
	}

	// Rename, and a name that is refused.
	m := deviceAction.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no remove form:\n%s", p.body)
	}
	first := m[1]
	renamed := b.accountPost(p, "/acme/account/devices/"+first+"/rename", "name", "Work phone")
	if p = b.follow(renamed); !strings.Contains(p.body, "<strong>Work phone</strong>") {
		t.Fatalf("after renaming:\n%s", p.body)
	}
	if r := b.accountPost(p, "/acme/account/devices/"+first+"/rename", "name", "bad\x01name"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "printable") {
		t.Fatalf("a bad name: %d\n%s", r.status, r.body)
	}

	// The last device, under BLOCK: removing it would lock the user out.
	last := b.accountPost(p, "/acme/account/devices/"+first+"/remove")
	if last.status != http.StatusBadRequest || !strings.Contains(last.body, "last second factor") {
		t.Fatalf("removing the last device under BLOCK: %d\n%s", last.status, last.body)
	}
	if st, _ := f.h.svc.UserMFA(ctx, "acme", f.user.ID); len(st.Devices) != 1 {
		t.Fatalf("the refused removal removed: %+v", st.Devices)
	}
	// With a second app, the first may go.
	_, added := enrolTOTP(t, b, p, "Tablet")
	if added.status != http.StatusSeeOther || !strings.HasPrefix(added.header.Get("Location"), "/acme/account?done=added") {
		t.Fatalf("a second app (recovery codes exist, none shown): %d\n%s", added.status, added.body)
	}
	p = b.follow(added)
	if removed := b.accountPost(p, "/acme/account/devices/"+first+"/remove"); removed.status != http.StatusSeeOther {
		t.Fatalf("removing a device: %d\n%s", removed.status, removed.body)
	}
	st, _ := f.h.svc.UserMFA(ctx, "acme", f.user.ID)
	if len(st.Devices) != 1 || st.Devices[0].Name != "Tablet" {
		t.Fatalf("devices after removing one: %+v", st.Devices)
	}
	if r := b.accountPost(p, "/acme/account/devices/"+first+"/remove"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "device not found") {
		t.Fatalf("removing a device again: %d\n%s", r.status, r.body)
	}

	// New recovery codes replace the old ones.
	p = b.do("GET", "/acme/account", nil)
	fresh := b.accountPost(p, "/acme/account/recovery-codes")
	newCodes := recoveryCode.FindAllStringSubmatch(fresh.body, -1)
	if fresh.status != 200 || len(newCodes) != service.RecoveryCodeCount || newCodes[0][1] == oldCodes[0][1] {
		t.Fatalf("new recovery codes: %d\n%s", fresh.status, fresh.body)
	}
	useCode := func(code string) page {
		b := newBrowser(t, f.h)
		loginURL, _ := f.password(t, b)
		return b.submit(loginURL, b.do("GET", loginURL+"?method=RECOVERY_CODE", nil), "method", "RECOVERY_CODE", "code", code)
	}
	if r := useCode(oldCodes[0][1]); !strings.Contains(r.body, "not right") {
		t.Fatalf("an old recovery code after new ones: %d\n%s", r.status, r.body)
	}
	if amr := f.amr(t, useCode(newCodes[0][1])); strings.Join(amr, " ") != "pwd kba mfa" {
		t.Fatalf("a new recovery code: %v", amr)
	}
	events, _ := f.h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: f.user.ID, Limit: 200})
	seen := map[string]int{}
	for _, e := range events {
		if e.ActorType == gatehouse.ActorUser && e.ActorID == f.user.ID {
			seen[e.Action]++
		}
	}
	if seen[service.ActionMFAEnrolled] != 2 || seen[service.ActionMFADeviceRenamed] != 1 || seen[service.ActionMFADeviceRemoved] != 1 ||
		seen[service.ActionRecoveryCodesCreated] != 2 {
		t.Fatalf("audit events by the user: %v", seen)
	}
}

var sessionEnd = regexp.MustCompile(`action="/acme/account/sessions/([0-9a-f]+)/end"`)

// TestAccountSessions: the page lists the user's sessions, marks this
// browser's, and signs out one or all the others.
func TestAccountSessions(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	a, b, c := newBrowser(t, f.h), newBrowser(t, f.h), newBrowser(t, f.h)
	signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	p := signInToAccount(t, a, "acme", f.user.Username, mfaPassword, nil)
	if n := strings.Count(p.body, `<li class="item"><div class="item-text"><span><strong>Go-http-client/1.1</strong>`); n != 2 ||
		strings.Count(p.body, "This browser") != 1 || !strings.Contains(p.body, "127.0.0.1 · signed in") {
		t.Fatalf("sessions list (%d):\n%s", n, p.body)
	}
	ends := sessionEnd.FindAllStringSubmatch(p.body, -1)
	bSession := sha256.Sum256([]byte(b.sessionCookieOf("acme")))
	if len(ends) != 1 || ends[0][1] != hex.EncodeToString(bSession[:]) {
		t.Fatalf("sign-out buttons %v", ends)
	}
	// Not this browser's own session, nor another user's.
	aSession := sha256.Sum256([]byte(a.sessionCookieOf("acme")))
	if r := a.accountPost(p, "/acme/account/sessions/"+hex.EncodeToString(aSession[:])+"/end"); r.status != http.StatusBadRequest {
		t.Fatalf("ending this browser's session from the list: %d", r.status)
	}
	stranger := f.h.newUser("acme", nil, "")
	strangerSession := &gatehouse.Session{EnvironmentID: "acme", ID: strings.Repeat("ab", 32), UserID: stranger.ID, AuthTime: time.Now(),
		CreatedOn: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := f.h.svc.Store.CreateSession(context.Background(), strangerSession); err != nil {
		t.Fatal(err)
	}
	if r := a.accountPost(p, "/acme/account/sessions/"+strangerSession.ID+"/end"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "already ended") {
		t.Fatalf("ending another user's session: %d\n%s", r.status, r.body)
	}
	if _, err := f.h.svc.Store.GetSession(context.Background(), "acme", strangerSession.ID); err != nil {
		t.Fatal("another user's session was ended")
	}

	if r := a.accountPost(p, "/acme/account/sessions/"+ends[0][1]+"/end"); r.status != http.StatusSeeOther {
		t.Fatalf("ending b's session: %d\n%s", r.status, r.body)
	}
	if r := b.do("GET", "/acme/account", nil); r.status != http.StatusSeeOther {
		t.Fatalf("b still signed in: %d", r.status)
	}
	signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	signInToAccount(t, c, "acme", f.user.Username, mfaPassword, nil)
	p = a.do("GET", "/acme/account", nil)
	out := a.accountPost(p, "/acme/account/sessions/others")
	if p = a.follow(out); !strings.Contains(p.body, "You are signed out everywhere else.") || strings.Count(p.body, "Go-http-client/1.1</strong>") != 1 {
		t.Fatalf("after signing out everywhere else:\n%s", p.body)
	}
	for _, other := range []*browser{b, c} {
		if r := other.do("GET", "/acme/account", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/acme/login/") {
			t.Fatalf("a session survived sign out everywhere else: %d", r.status)
		}
	}
	if sessions, _ := f.h.svc.Store.ListUserSessions(context.Background(), "acme", f.user.ID); len(sessions) != 1 {
		t.Fatalf("%d sessions, want a's only", len(sessions))
	}
}

// TestAccountActivity: failed and successful sign-ins show, newest first,
// with the address and the outcome.
func TestAccountActivity(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	wrong := newBrowser(t, f.h)
	loginURL := wrong.do("GET", "/acme/account", nil).header.Get("Location")
	wrong.submit(loginURL, wrong.do("GET", loginURL, nil), "username", f.user.Username)
	wrong.submit(loginURL, wrong.do("GET", loginURL, nil), "password", "not-it")
	p := signInToAccount(t, newBrowser(t, f.h), "acme", f.user.Username, mfaPassword, nil)
	signedIn := strings.Index(p.body, "<span>Signed in</span>")
	refused := strings.Index(p.body, "<span>Sign-in refused</span>")
	if signedIn < 0 || refused < 0 || refused < signedIn || !strings.Contains(p.body, `<span class="badge failed">Failed</span>`) ||
		!strings.Contains(p.body, " · 127.0.0.1</span>") {
		t.Fatalf("activity:\n%s", p.body[strings.Index(p.body, `id="activity"`):])
	}
}

// TestAccountCSRF: every form is refused without the session's token or
// with another session's, and nothing changes.
func TestAccountCSRF(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.AllowedMethods = []string{gatehouse.MethodTOTP, gatehouse.MethodRecoveryCode}
	f := newMFAFixture(t, pol)
	b := newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	_, codes := enrolTOTP(t, b, p, "Phone")
	if codes.status != 200 {
		t.Fatalf("enrolment: %d", codes.status)
	}
	p = b.do("GET", "/acme/account", nil)
	device := deviceAction.FindStringSubmatch(p.body)[1]
	start := b.accountPost(p, "/acme/account/enrol", "method", "TOTP")
	enrolAt := start.header.Get("Location")
	otherToken := accountCSRF.FindStringSubmatch(signInToAccount(t, newBrowser(t, f.h), "acme", f.user.Username, mfaPassword, nil).body)[1]
	sessionsBefore, _ := f.h.svc.Store.ListUserSessions(context.Background(), "acme", f.user.ID)
	forms := map[string]url.Values{
		"/acme/account/profile":                                      {"firstName": {"Forged"}},
		"/acme/account/password":                                     {"current": {mfaPassword}, "new": {"Forged-Password-1"}, "confirm": {"Forged-Password-1"}},
		"/acme/account/devices/" + device + "/rename":                {"name": {"Forged"}},
		"/acme/account/devices/" + device + "/remove":                {},
		"/acme/account/recovery-codes":                               {},
		"/acme/account/sessions/others":                              {},
		"/acme/account/sessions/" + strings.Repeat("0", 64) + "/end": {},
		"/acme/account/enrol":                                        {"method": {"TOTP"}},
		"/acme/account/reauth":                                       {},
		enrolAt:                                                      {"method": {"TOTP"}, "code": {"123456"}},
	}
	for path, form := range forms {
		for _, token := range []string{"", "not-a-token", otherToken} {
			sent := url.Values{}
			for k, v := range form {
				sent[k] = v
			}
			if token != "" {
				sent.Set("csrf", token)
			}
			if r := b.do("POST", path, sent); r.status != http.StatusForbidden || !strings.Contains(r.body, "not sent by your account page") {
				t.Errorf("POST %s with token %q: %d", path, token, r.status)
			}
		}
	}
	u := userAfter(t, f.h, f.user.ID)
	st, _ := f.h.svc.UserMFA(context.Background(), "acme", f.user.ID)
	sessions, _ := f.h.svc.Store.ListUserSessions(context.Background(), "acme", f.user.ID)
	if u.FirstName == "Forged" || len(st.Devices) != 1 || st.Devices[0].Name != "Phone" || st.RecoveryCodesLeft != 10 || len(sessions) != len(sessionsBefore) {
		t.Fatalf("a forged form changed something: %+v %+v %d sessions", u, st, len(sessions))
	}
}

// TestAccountOtherEnvironment: a session is its environment's only: its
// cookie goes to that environment's paths, and presented elsewhere by
// hand it signs no one in.
func TestAccountOtherEnvironment(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	b := newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	if r := b.do("GET", "/globex/account", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/globex/login/") {
		t.Fatalf("globex's account page with acme's session: %d %s", r.status, r.header.Get("Location"))
	}
	// By hand, acme's cookie on globex's paths: no session there.
	cookie := b.sessionCookieOf("acme")
	if r := rawRequest(t, "GET", f.h.ts.URL+"/globex/account", cookie, nil); r.status != http.StatusSeeOther ||
		!strings.HasPrefix(r.header.Get("Location"), "/globex/login/") {
		t.Fatalf("acme's cookie sent to globex's account page: %d %s", r.status, r.header.Get("Location"))
	}
	token := accountCSRF.FindStringSubmatch(p.body)[1]
	r := rawRequest(t, "POST", f.h.ts.URL+"/globex/account/profile", cookie, url.Values{"csrf": {token}, "firstName": {"Cross"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/globex/account" || userAfter(t, f.h, f.user.ID).FirstName == "Cross" {
		t.Fatalf("acme's session posting to globex: %d %s", r.status, r.header.Get("Location"))
	}
}

// rawRequest sends one request with a session cookie set by hand, not by
// a cookie jar that would respect its path.
func rawRequest(t *testing.T, method, target, cookie string, form url.Values) page {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: "gh_session", Value: cookie})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return page{status: resp.StatusCode, header: resp.Header}
}

// TestAccountAPIUser: an API user cannot sign in to the page, and even a
// session of theirs is refused.
func TestAccountAPIUser(t *testing.T) {
	h := newAPI(t)
	_, apiUser := apiUserSetup(t, h)
	b := newBrowser(t, h)
	loginURL := b.do("GET", "/acme/account", nil).header.Get("Location")
	b.submit(loginURL, b.do("GET", loginURL, nil), "username", apiUser.Username)
	if r := b.submit(loginURL, b.do("GET", loginURL, nil), "password", "api-secret-1"); r.status != 200 || !strings.Contains(r.body, "not right") {
		t.Fatalf("an API user signing in to the account page: %d %s\n%s", r.status, r.header.Get("Location"), r.body)
	}
	cookie := "api-user-session-cookie-value-0123456789"
	sum := sha256.Sum256([]byte(cookie))
	now := time.Now()
	if err := h.svc.Store.CreateSession(context.Background(), &gatehouse.Session{EnvironmentID: "acme", ID: hex.EncodeToString(sum[:]), UserID: apiUser.ID,
		AuthTime: now, CreatedOn: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(h.ts.URL + "/acme/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "gh_session", Value: cookie, Path: "/acme/"}})
	if r := b.do("GET", "/acme/account", nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "API users have no account page") {
		t.Fatalf("an API user's session at the account page: %d\n%s", r.status, r.body)
	}
	form := url.Values{"csrf": {service.AccountToken("acme", cookie)}, "firstName": {"Robot"}}
	if r := b.do("POST", "/acme/account/profile", form); r.status != http.StatusForbidden || userAfter(t, h, apiUser.ID).FirstName == "Robot" {
		t.Fatalf("an API user's profile edit: %d", r.status)
	}
}

// TestAccountReauthentication: once the sign-in is older than ten
// minutes, the sensitive forms give way to "Confirm it's you", the server
// refuses them, and a new sign-in (password again, the username known)
// comes back with them.
func TestAccountReauthentication(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	b := newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	if !strings.Contains(p.body, `action="/acme/account/password"`) || !strings.Contains(p.body, "You signed in recently") {
		t.Fatalf("a fresh sign-in has no password form:\n%s", p.body)
	}
	hashBefore := userAfter(t, f.h, f.user.ID).PasswordHash
	later := time.Now().Add(service.AccountReauthAfter + time.Minute)
	f.h.svc.Now = func() time.Time { return later }
	defer func() { f.h.svc.Now = nil }()
	p = b.do("GET", "/acme/account", nil)
	if p.status != 200 || strings.Contains(p.body, `action="/acme/account/password"`) || strings.Contains(p.body, `action="/acme/account/enrol"`) ||
		!strings.Contains(p.body, "Confirm it's you") || !strings.Contains(p.body, "in the last 10 minutes") {
		t.Fatalf("an older sign-in still shows the sensitive forms:\n%s", p.body)
	}
	if !strings.Contains(p.body, `action="/acme/account/profile"`) {
		t.Fatal("the profile needs no recent sign-in")
	}
	for path, fields := range map[string][]string{
		"/acme/account/password":       {"current", mfaPassword, "new", "Another-Password-9", "confirm", "Another-Password-9"},
		"/acme/account/enrol":          {"method", "TOTP"},
		"/acme/account/recovery-codes": nil,
	} {
		if r := b.accountPost(p, path, fields...); r.status != http.StatusForbidden || !strings.Contains(r.body, "confirm it&#39;s you") {
			t.Errorf("POST %s on an older sign-in: %d\n%s", path, r.status, r.body)
		}
	}
	if u := userAfter(t, f.h, f.user.ID); u.PasswordHash != hashBefore {
		t.Fatal("the password changed without a recent sign-in")
	}
	reauth := b.accountPost(p, "/acme/account/reauth")
	loginURL := reauth.header.Get("Location")
	if reauth.status != http.StatusSeeOther || !strings.HasPrefix(loginURL, "/acme/login/") {
		t.Fatalf("confirm it's you: %d %s", reauth.status, loginURL)
	}
	ask := b.do("GET", loginURL, nil)
	if !strings.Contains(ask.body, "Signing in as <strong>mia@acme.example</strong>") || !strings.Contains(ask.body, `name="password"`) {
		t.Fatalf("re-authentication does not ask for the password:\n%s", ask.body)
	}
	done := b.submit(loginURL, ask, "password", mfaPassword)
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "/acme/account" {
		t.Fatalf("after re-authentication: %d %s", done.status, done.header.Get("Location"))
	}
	p = b.follow(done)
	if !strings.Contains(p.body, `action="/acme/account/password"`) {
		t.Fatalf("after re-authentication the password form is back:\n%s", p.body)
	}
	sessions, _ := f.h.svc.Store.ListUserSessions(context.Background(), "acme", f.user.ID)
	if len(sessions) != 1 {
		t.Fatalf("%d sessions after re-authentication: the replaced one should end", len(sessions))
	}
	if r := b.accountPost(p, "/acme/account/password", "current", mfaPassword, "new", "Another-Password-9", "confirm", "Another-Password-9"); r.status != http.StatusSeeOther {
		t.Fatalf("a password change after re-authentication: %d\n%s", r.status, r.body)
	}
}

// capturedMail keeps the messages the service sends.
type capturedMail struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (c *capturedMail) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return nil
}

func (c *capturedMail) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

func (c *capturedMail) last() mail.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sent) == 0 {
		return mail.Message{}
	}
	return c.sent[len(c.sent)-1]
}

var emailedCode = regexp.MustCompile(`code is ([0-9]{6})\.`)

// TestAccountEmailFactor: codes by email are added with a code sent to
// the user's address, once.
func TestAccountEmailFactor(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.AllowedMethods = []string{gatehouse.MethodEmail, gatehouse.MethodTOTP}
	f := newMFAFixture(t, pol)
	sent := &capturedMail{}
	f.h.svc.Mail = sent
	b := newBrowser(t, f.h)
	p := signInToAccount(t, b, "acme", f.user.Username, mfaPassword, nil)
	start := b.accountPost(p, "/acme/account/enrol", "method", "EMAIL")
	at := start.header.Get("Location")
	enrol := b.do("GET", at, nil)
	m := emailedCode.FindStringSubmatch(sent.last().Text)
	if enrol.status != 200 || !strings.Contains(enrol.body, "We sent a six-digit code to m") || m == nil || sent.last().To != f.user.PrimaryEmail {
		t.Fatalf("email enrolment: %d %+v\n%s", enrol.status, sent.last(), enrol.body)
	}
	if again := b.do("GET", at, nil); again.status != 200 || sent.count() != 1 {
		t.Fatalf("showing the page again sent another email (%d)", sent.count())
	}
	if wrong := b.accountPost(enrol, at, "method", "EMAIL", "code", "000000"); wrong.status != http.StatusBadRequest || !strings.Contains(wrong.body, "not right") {
		t.Fatalf("a wrong emailed code: %d\n%s", wrong.status, wrong.body)
	}
	done := b.accountPost(enrol, at, "method", "EMAIL", "code", m[1])
	if done.status != http.StatusSeeOther {
		t.Fatalf("confirming the emailed code: %d\n%s", done.status, done.body)
	}
	p = b.follow(done)
	if !strings.Contains(p.body, "Codes by email · added") || strings.Contains(p.body, "Add codes by email") || !strings.Contains(p.body, "Add an authenticator app") {
		t.Fatalf("after adding email codes:\n%s", p.body)
	}
	if r := b.accountPost(enrol, at, "method", "EMAIL", "code", m[1]); r.status != http.StatusNotFound {
		t.Fatalf("the finished enrolment again: %d", r.status)
	}
}
