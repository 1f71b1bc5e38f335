package server_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/otp"
	"github.com/gatehouse/gatehouse/service"
)

// mfaFixture is acme with MFA on (TOTP and recovery codes), a web
// application and a local user with a final password.
type mfaFixture struct {
	h        *apiHarness
	web      *service.CreatedApplication
	user     *gatehouse.User
	redirect string
}

const mfaPassword = "Correct-Horse-12"

func newMFAFixture(t *testing.T, policy gatehouse.MFAPolicy) *mfaFixture {
	h := newAPI(t)
	ctx := context.Background()
	f := &mfaFixture{h: h, redirect: "https://app.example/callback"}
	var err error
	f.web, err = h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "Store app", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{f.redirect}})
	if err != nil {
		t.Fatal(err)
	}
	f.user, err = h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "mia@acme.example",
		PrimaryEmail: "mia@acme.example"}, Password: mfaPassword, KeepPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SetMFAPolicy(ctx, service.OperatorActor(), "acme", policy); err != nil {
		t.Fatal(err)
	}
	return f
}

// password signs in up to the step after the password and returns the
// sign-in page's URL and what it shows.
func (f *mfaFixture) password(t *testing.T, b *browser, extra ...string) (string, page) {
	t.Helper()
	_, challenge := pkcePair()
	start := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge, extra...), nil)
	loginURL := start.header.Get("Location")
	if !strings.HasPrefix(loginURL, "/acme/login/") {
		t.Fatalf("authorize: %d %s", start.status, loginURL)
	}
	b.submit(loginURL, b.do("GET", loginURL, nil), "username", f.user.Username)
	next := b.submit(loginURL, b.do("GET", loginURL, nil), "password", mfaPassword)
	if next.status != http.StatusSeeOther {
		return loginURL, next
	}
	if loc := next.header.Get("Location"); loc != loginURL {
		return loginURL, next
	}
	return loginURL, b.do("GET", loginURL, nil)
}

var totpKeyText = regexp.MustCompile(`<code id="totp-key">([A-Z2-7 ]+)</code>`)

func totpSecret(t *testing.T, p page) []byte {
	t.Helper()
	m := totpKeyText.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no TOTP key on the enrolment page:\n%s", p.body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

var recoveryCode = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)

func (f *mfaFixture) amr(t *testing.T, p page) []string {
	t.Helper()
	back, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || back.Query().Get("code") == "" {
		t.Fatalf("not back at the application: %d %s\n%s", p.status, back, p.body)
	}
	ff := &fedFixture{h: f.h, web: f.web, redirect: f.redirect}
	idClaims, _ := ff.tokens(t, back.Query().Get("code"))
	var amr []string
	for _, m := range idClaims["amr"].([]any) {
		amr = append(amr, m.(string))
	}
	return amr
}

// TestTOTPEnrolAndSignIn: with MFA on, a user with nothing enrolled sets up
// an authenticator app at sign-in (QR code and key as text), keeps the
// recovery codes shown once, and signs in with a code next time; a code
// works once; a recovery code works once.
func TestTOTPEnrolAndSignIn(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.Enabled, pol.AllowedMethods = true, []string{gatehouse.MethodTOTP, gatehouse.MethodRecoveryCode}
	f := newMFAFixture(t, pol)
	b := newBrowser(t, f.h)
	loginURL, enrol := f.password(t, b)
	if !strings.Contains(enrol.body, "Set up a second factor") || !strings.Contains(enrol.body, `src="data:image/png;base64,`) {
		t.Fatalf("enrolment page:\n%s", enrol.body)
	}
	secret := totpSecret(t, enrol)
	// The same sign-in shows the same key again.
	if again := b.do("GET", loginURL, nil); string(totpSecret(t, again)) != string(secret) {
		t.Fatal("reloading the enrolment page changed the key")
	}
	wrong := b.submit(loginURL, enrol, "method", "TOTP", "code", "000000")
	if !strings.Contains(wrong.body, "not right") {
		t.Fatalf("a wrong code at enrolment: %d\n%s", wrong.status, wrong.body)
	}
	now := time.Now()
	codes := b.submit(loginURL, wrong, "method", "TOTP", "code", otp.TOTPCode(secret, now), "name", "Mia's phone")
	found := recoveryCode.FindAllStringSubmatch(codes.body, -1)
	if codes.status != 200 || len(found) != service.RecoveryCodeCount {
		t.Fatalf("recovery codes page: %d\n%s", codes.status, codes.body)
	}
	amr := f.amr(t, b.submit(loginURL, codes))
	if strings.Join(amr, " ") != "pwd otp mfa" {
		t.Fatalf("amr after enrolment: %v", amr)
	}
	state, err := f.h.svc.UserMFA(context.Background(), "acme", f.user.ID)
	if err != nil || len(state.Devices) != 1 || state.Devices[0].Name != "Mia's phone" || state.RecoveryCodesLeft != 10 {
		t.Fatalf("after enrolment: %+v %v", state, err)
	}

	// Next sign-in: the code of the step just used is refused (replay);
	// the next step's works.
	b2 := newBrowser(t, f.h)
	loginURL, challenge := f.password(t, b2)
	if !strings.Contains(challenge.body, "authenticator app") || strings.Contains(challenge.body, "totp-key") {
		t.Fatalf("challenge page:\n%s", challenge.body)
	}
	replay := b2.submit(loginURL, challenge, "method", "TOTP", "code", otp.TOTPCode(secret, now))
	if !strings.Contains(replay.body, "already used") {
		t.Fatalf("a TOTP code used twice: %d\n%s", replay.status, replay.body)
	}
	amr = f.amr(t, b2.submit(loginURL, replay, "method", "TOTP", "code", otp.TOTPCode(secret, now.Add(30*time.Second))))
	if strings.Join(amr, " ") != "pwd otp mfa" {
		t.Fatalf("amr: %v", amr)
	}

	// A recovery code, typed loosely, works once.
	code := strings.ToUpper(strings.ReplaceAll(found[3][1], "-", " "))
	b3 := newBrowser(t, f.h)
	loginURL, _ = f.password(t, b3)
	recovery := b3.do("GET", loginURL+"?method=RECOVERY_CODE", nil)
	amr = f.amr(t, b3.submit(loginURL, recovery, "method", "RECOVERY_CODE", "code", code))
	if strings.Join(amr, " ") != "pwd kba mfa" {
		t.Fatalf("amr with a recovery code: %v", amr)
	}
	b4 := newBrowser(t, f.h)
	loginURL, _ = f.password(t, b4)
	recovery = b4.do("GET", loginURL+"?method=RECOVERY_CODE", nil)
	if again := b4.submit(loginURL, recovery, "method", "RECOVERY_CODE", "code", code); !strings.Contains(again.body, "not right") {
		t.Fatalf("a recovery code used twice: %d\n%s", again.status, again.body)
	}
	if st, _ := f.h.svc.UserMFA(context.Background(), "acme", f.user.ID); st.RecoveryCodesLeft != 9 {
		t.Fatalf("%d recovery codes left", st.RecoveryCodesLeft)
	}
}

// TestMFABlockAndAdminActions: wrong codes up to the limit block the
// second factor; an administrator sees the devices, unblocks, grants a
// temporary bypass and removes a device, by the API, all audited.
func TestMFABlockAndAdminActions(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.Enabled, pol.AllowedMethods, pol.FailureLimit, pol.BlockSeconds = true, []string{gatehouse.MethodTOTP}, 3, 600
	f := newMFAFixture(t, pol)
	ctx := context.Background()
	b := newBrowser(t, f.h)
	loginURL, enrol := f.password(t, b)
	secret := totpSecret(t, enrol)
	f.amr(t, b.submit(loginURL, enrol, "method", "TOTP", "code", otp.TOTPCode(secret, time.Now())))

	b = newBrowser(t, f.h)
	loginURL, challenge := f.password(t, b)
	p := challenge
	for i := 0; i < 2; i++ {
		if p = b.submit(loginURL, p, "method", "TOTP", "code", "123456"); !strings.Contains(p.body, "not right") {
			t.Fatalf("wrong code %d: %d\n%s", i+1, p.status, p.body)
		}
	}
	blocked := b.submit(loginURL, p, "method", "TOTP", "code", "123456")
	if blocked.status != http.StatusTooManyRequests || !strings.Contains(blocked.body, "blocked") {
		t.Fatalf("at the failure limit: %d\n%s", blocked.status, blocked.body)
	}
	if strings.Contains(blocked.body, `name="code"`) {
		t.Fatal("the blocked page still asks for a code")
	}
	// Blocked: even the right code is refused, in this sign-in and a new one.
	if p := b.submit(loginURL, p, "method", "TOTP", "code", otp.TOTPCode(secret, time.Now().Add(30*time.Second))); p.status != http.StatusTooManyRequests {
		t.Fatalf("the right code while blocked: %d", p.status)
	}
	if _, p := f.password(t, newBrowser(t, f.h)); p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "blocked until") {
		t.Fatalf("a new sign-in while blocked: %d\n%s", p.status, p.body)
	}

	token := f.h.tokens["acme"][userAdmin]
	base := "/environments/acme/users/" + f.user.ID + "/mfa"
	var st service.UserMFA
	f.h.do("GET", base, token, "").decode(t, &st)
	if len(st.Devices) != 1 || st.BlockedUntil == nil || strings.Contains(f.h.do("GET", base, token, "").body, "secret") {
		t.Fatalf("admin view of a blocked user: %+v", st)
	}
	wantStatus(t, "unblock", f.h.do("POST", base+"/unblock", token, ""), 204)
	b = newBrowser(t, f.h)
	loginURL, challenge = f.password(t, b)
	f.amr(t, b.submit(loginURL, challenge, "method", "TOTP", "code", otp.TOTPCode(secret, time.Now().Add(30*time.Second))))

	// A lost phone: a bypass until tomorrow, then a removed device.
	for _, bad := range []string{`{"until":"2001-01-01T00:00:00Z"}`, `{"until":"` + time.Now().Add(40*24*time.Hour).UTC().Format(time.RFC3339) + `"}`, `{}`} {
		wantProblem(t, "bypass "+bad, f.h.do("PUT", base+"/bypass", token, bad), 400, gatehouse.EINVALID)
	}
	wantStatus(t, "bypass", f.h.do("PUT", base+"/bypass", token, `{"until":"`+time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339)+`"}`), 200)
	b = newBrowser(t, f.h)
	_, done := f.password(t, b)
	if amr := f.amr(t, done); strings.Join(amr, " ") != "pwd" {
		t.Fatalf("a bypassed sign-in's amr: %v", amr)
	}
	wantStatus(t, "end bypass", f.h.do("DELETE", base+"/bypass", token, ""), 204)
	wantProblem(t, "another user's device", f.h.do("DELETE", "/environments/acme/users/"+f.h.newUser("acme", nil, "").ID+"/mfa/devices/"+st.Devices[0].ID, token, ""),
		404, gatehouse.ENOTFOUND)
	wantStatus(t, "remove device", f.h.do("DELETE", base+"/devices/"+st.Devices[0].ID, token, ""), 204)
	b = newBrowser(t, f.h)
	if _, p := f.password(t, b); !strings.Contains(p.body, "Set up a second factor") {
		t.Fatalf("with the device removed the user enrols again:\n%s", p.body)
	}
	events, _ := f.h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: f.user.ID, Limit: 200})
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Action]++
	}
	for _, a := range []string{service.ActionMFAEnrolled, service.ActionMFASucceeded, service.ActionMFAFailed, service.ActionMFABlocked,
		service.ActionMFABypassSet, service.ActionMFADeviceRemoved} {
		if seen[a] == 0 {
			t.Errorf("no %s audit event (%v)", a, seen)
		}
	}
	// The same routes on another environment's user answer not found.
	wantProblem(t, "globex admin on acme's user", f.h.do("GET", "/environments/globex/users/"+f.user.ID+"/mfa", f.h.tokens["globex"][envAdmin], ""),
		404, gatehouse.ENOTFOUND)
}

// TestWhoIsAskedForMFA: the policy's whenNotEnrolled, an application that
// requires MFA with the policy off, API users never, corporate users only
// when their IdP requires it, and re-authentication after N hours.
func TestWhoIsAskedForMFA(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.AllowedMethods = []string{gatehouse.MethodTOTP}
	f := newMFAFixture(t, pol)
	ctx := context.Background()
	b := newBrowser(t, f.h)
	if _, done := f.password(t, b); strings.Join(f.amr(t, done), " ") != "pwd" {
		t.Fatal("MFA off asked for a second factor")
	}
	// The application requires MFA: the existing session is not enough.
	if _, err := f.h.svc.UpdateApplication(ctx, service.OperatorActor(), "acme", f.web.ID, service.ApplicationPatch{MFARequired: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, challenge := pkcePair()
	sso := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil)
	if !strings.HasPrefix(sso.header.Get("Location"), "/acme/login/") {
		t.Fatalf("a session without MFA answered an application that requires it: %s", sso.header.Get("Location"))
	}
	if _, p := f.password(t, newBrowser(t, f.h)); !strings.Contains(p.body, "Set up a second factor") {
		t.Fatalf("mfaRequired application, policy off: not asked to enrol:\n%s", p.body)
	}
	for _, tc := range []struct {
		when, want string
	}{{gatehouse.NotEnrolledBypass, "bypass"}, {gatehouse.NotEnrolledBlock, "refused"}} {
		pol.WhenNotEnrolled = tc.when
		if _, err := f.h.svc.SetMFAPolicy(ctx, service.OperatorActor(), "acme", pol); err != nil {
			t.Fatal(err)
		}
		_, p := f.password(t, newBrowser(t, f.h))
		switch tc.want {
		case "bypass":
			if strings.Join(f.amr(t, p), " ") != "pwd" {
				t.Fatal("BYPASS asked for a factor")
			}
		case "refused":
			wantRefused(t, "BLOCK with nothing enrolled", p, "needs a second factor")
		}
	}
	// API users never, even when their application requires it.
	app, apiUser := apiUserSetup(t, f.h)
	if _, err := f.h.svc.UpdateApplication(ctx, service.OperatorActor(), "acme", app.ID, service.ApplicationPatch{MFARequired: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.h.passwordGrant(app, apiUser.Username, "api-secret-1"); r.status != 200 {
		t.Fatalf("an API user's password grant with MFA required: %s", r)
	}

	// Re-authentication: a session older than the policy's hours signs in again.
	if _, err := f.h.svc.UpdateApplication(ctx, service.OperatorActor(), "acme", f.web.ID, service.ApplicationPatch{MFARequired: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	pol.WhenNotEnrolled = gatehouse.NotEnrolledEnrol
	if _, err := f.h.svc.SetMFAPolicy(ctx, service.OperatorActor(), "acme", gatehouse.DefaultMFAPolicy()); err != nil {
		t.Fatal(err)
	}
	b = newBrowser(t, f.h)
	f.amr(t, func() page { _, p := f.password(t, b); return p }())
	if sso := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil); !strings.HasPrefix(sso.header.Get("Location"), f.redirect) {
		t.Fatalf("single sign-on: %s", sso.header.Get("Location"))
	}
	if _, err := f.h.svc.SetSignOnPolicy(ctx, service.OperatorActor(), "acme", gatehouse.SignOnPolicy{ReauthenticateAfterHours: 1}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	f.h.svc.Now = func() time.Time { return old.Add(2*time.Hour + time.Minute) }
	defer func() { f.h.svc.Now = nil }()
	sessions, _ := f.h.svc.Store.ListUserSessions(ctx, "acme", f.user.ID)
	for _, s := range sessions {
		s.AuthTime = old
		f.h.svc.Store.DeleteSession(ctx, "acme", s.ID)
		f.h.svc.Store.CreateSession(ctx, s)
	}
	if sso := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil); !strings.HasPrefix(sso.header.Get("Location"), "/acme/login/") {
		t.Fatalf("a session older than reauthenticateAfterHours answered: %s", sso.header.Get("Location"))
	}
}

func ptr[T any](v T) *T { return &v }

// TestForeignAndExpiredCodes: a recovery or email code is the user's own,
// in their own environment, and only while it lives.
func TestForeignAndExpiredCodes(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.Enabled, pol.AllowedMethods = true, []string{gatehouse.MethodEmail, gatehouse.MethodRecoveryCode, gatehouse.MethodTOTP}
	f := newMFAFixture(t, pol)
	mp := withMailpit(t, f.h)
	ctx := context.Background()
	other, err := f.h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "noah@acme.example",
		PrimaryEmail: "noah@acme.example"}, Password: mfaPassword, KeepPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	theirCodes, err := f.h.svc.NewRecoveryCodes(ctx, service.OperatorActor(), other)
	if err != nil {
		t.Fatal(err)
	}
	// Mia enrols email and keeps her recovery codes.
	b := newBrowser(t, f.h)
	loginURL, _ := f.password(t, b)
	enrol := b.do("GET", loginURL+"?method=EMAIL", nil)
	code := mfaCode.FindStringSubmatch(mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second).Text)
	kept := b.submit(loginURL, enrol, "method", "EMAIL", "code", code[1])
	f.amr(t, b.submit(loginURL, kept))

	// Noah's recovery code does nothing for Mia.
	b = newBrowser(t, f.h)
	loginURL, _ = f.password(t, b)
	page := b.do("GET", loginURL+"?method=RECOVERY_CODE", nil)
	if p := b.submit(loginURL, page, "method", "RECOVERY_CODE", "code", theirCodes[0]); !strings.Contains(p.body, "not right") {
		t.Fatalf("another user's recovery code: %d\n%s", p.status, p.body)
	}
	// An email code sent to Noah does nothing for Mia. (Her sign-in sent
	// her a code when it asked for her second factor.)
	page = b.do("GET", loginURL+"?method=EMAIL", nil)
	mine := mfaCode.FindStringSubmatch(mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second).Text)
	nb := newBrowser(t, f.h)
	noahURL := func() string {
		_, challenge := pkcePair()
		u := nb.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil).header.Get("Location")
		nb.submit(u, nb.do("GET", u, nil), "username", other.Username)
		nb.submit(u, nb.do("GET", u, nil), "password", mfaPassword)
		return u
	}()
	noahEnrol := nb.do("GET", noahURL+"?method=EMAIL", nil)
	theirs := mfaCode.FindStringSubmatch(mp.WaitFor(t, other.PrimaryEmail, 5*time.Second).Text)
	if p := b.submit(loginURL, page, "method", "EMAIL", "code", theirs[1]); theirs[1] != mine[1] && !strings.Contains(p.body, "not right") {
		t.Fatalf("another user's email code: %d\n%s", p.status, p.body)
	}
	if p := nb.submit(noahURL, noahEnrol, "method", "EMAIL", "code", mine[1]); mine[1] != theirs[1] && !strings.Contains(p.body, "not right") {
		t.Fatalf("Mia's email code for Noah: %d\n%s", p.status, p.body)
	}
	// Expired: ten minutes on, Mia's own code fails.
	f.h.svc.Now = func() time.Time { return time.Now().Add(service.EmailCodeTTL + time.Minute) }
	defer func() { f.h.svc.Now = nil }()
	if p := b.submit(loginURL, page, "method", "EMAIL", "code", mine[1]); !strings.Contains(p.body, "not right") && p.status != http.StatusNotFound {
		t.Fatalf("an expired email code: %d\n%s", p.status, p.body)
	}
}

// TestSessionLifetime: the sign-on policy's sessionHours sets how long a
// new session and its cookie last.
func TestSessionLifetime(t *testing.T) {
	f := newMFAFixture(t, gatehouse.DefaultMFAPolicy())
	ctx := context.Background()
	if _, err := f.h.svc.SetSignOnPolicy(ctx, service.OperatorActor(), "acme", gatehouse.SignOnPolicy{SessionHours: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.svc.SetSignOnPolicy(ctx, service.OperatorActor(), "acme", gatehouse.SignOnPolicy{SessionHours: 721}); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Fatalf("a session of more than 30 days: %v", err)
	}
	_, done := f.password(t, newBrowser(t, f.h))
	cookie := ""
	for _, c := range done.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "gh_session=") {
			cookie = c
		}
	}
	if !strings.Contains(cookie, "Max-Age=7199") && !strings.Contains(cookie, "Max-Age=7200") {
		t.Fatalf("session cookie %q, want Max-Age 7200", cookie)
	}
	sessions, _ := f.h.svc.Store.ListUserSessions(ctx, "acme", f.user.ID)
	if len(sessions) != 1 || sessions[0].ExpiresAt.Sub(sessions[0].CreatedOn) != 2*time.Hour {
		t.Fatalf("sessions %+v", sessions)
	}
}
