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
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/mail/mailpittest"
	"github.com/gatehouse/gatehouse/service"
)

// withMailpit sends the harness's email to a real SMTP server.
func withMailpit(t *testing.T, h *apiHarness) *mailpittest.Server {
	t.Helper()
	mp := mailpittest.Start(t)
	sender, err := mail.NewSMTP(mp.SMTPURL, "Acme sign-in <signin@acme.example>")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Mail = sender
	return mp
}

var (
	resetCode = regexp.MustCompile(`Your code is ([0-9]{8})\.`)
	mfaCode   = regexp.MustCompile(`Your sign-in code is ([0-9]{6})\.`)
)

// TestForgotPassword: the password page links to the reset page; a code
// by email (the same answer whether or not the user exists) sets a new
// password under the policy; the code works once, and not after another
// password change.
func TestForgotPassword(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	f := newMFAFixture(t, pol)
	mp := withMailpit(t, f.h)
	ctx := context.Background()
	standard, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetStandard)
	if err := f.h.svc.Store.PutPasswordPolicy(ctx, "acme", &standard); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.h)
	_, challenge := pkcePair()
	loginURL := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil).header.Get("Location")
	b.submit(loginURL, b.do("GET", loginURL, nil), "username", f.user.Username)
	passwordPage := b.do("GET", loginURL, nil)
	m := regexp.MustCompile(`<a id="forgot" href="([^"]+)">`).FindStringSubmatch(passwordPage.body)
	if m == nil {
		t.Fatalf("no reset link on the password page:\n%s", passwordPage.body)
	}
	resetURL := strings.ReplaceAll(m[1], "&amp;", "&")
	form := b.do("GET", resetURL, nil)
	if form.status != 200 || !strings.Contains(form.body, `value="`+f.user.Username+`"`) {
		t.Fatalf("reset page: %d\n%s", form.status, form.body)
	}
	if r := b.do("POST", "/acme/reset", url.Values{"action": {"send"}, "username": {f.user.Username}}); r.status != http.StatusForbidden {
		t.Fatalf("a reset form without its CSRF token: %d", r.status)
	}
	sent := b.submit("/acme/reset", form, "action", "send", "username", f.user.Username, "return", loginURL)
	unknown := b.submit("/acme/reset", form, "action", "send", "username", "nobody@acme.example", "return", loginURL)
	strip := func(p page, name string) string {
		return strings.ReplaceAll(strings.ReplaceAll(p.body, name, ""), url.QueryEscape(name), "")
	}
	if sent.status != 200 || unknown.status != 200 || strip(sent, f.user.Username) != strip(unknown, "nobody@acme.example") {
		t.Fatalf("the reset page tells users apart:\n%s\n----\n%s", sent.body, unknown.body)
	}
	msg := mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second)
	code := resetCode.FindStringSubmatch(msg.Text)
	if msg.Subject != "Reset your password" || code == nil || !strings.Contains(msg.Text, f.h.ts.URL+"/acme/reset") {
		t.Fatalf("reset email: %q\n%s", msg.Subject, msg.Text)
	}
	// A second request within the minute sends no second email.
	b.submit("/acme/reset", form, "action", "send", "username", f.user.Username)
	time.Sleep(300 * time.Millisecond)
	if again := mp.WaitFor(t, f.user.PrimaryEmail, time.Second); again.ID != msg.ID {
		t.Fatal("a second reset email went out within the minute")
	}

	weak := b.submit("/acme/reset", sent, "action", "reset", "username", f.user.Username, "code", code[1], "new", "abc", "confirm", "abc")
	if !strings.Contains(weak.body, "at least") {
		t.Fatalf("a password under the policy: %d\n%s", weak.status, weak.body)
	}
	wrong := b.submit("/acme/reset", sent, "action", "reset", "username", f.user.Username, "code", "12345678", "new", "Brand-New-Pass-77", "confirm", "Brand-New-Pass-77")
	if !strings.Contains(wrong.body, "not right") {
		t.Fatalf("a wrong code: %d\n%s", wrong.status, wrong.body)
	}
	done := b.submit("/acme/reset", sent, "action", "reset", "username", f.user.Username, "code", code[1], "new", "Brand-New-Pass-77",
		"confirm", "Brand-New-Pass-77", "return", loginURL)
	if done.status != 200 || !strings.Contains(done.body, "Your password is changed") || !strings.Contains(done.body, `href="`+loginURL+`"`) {
		t.Fatalf("reset done: %d\n%s", done.status, done.body)
	}
	if _, err := f.h.svc.Authenticate(ctx, service.Actor{ClientIP: "192.0.2.1"}, "acme", f.user.Username, mfaPassword); err == nil {
		t.Fatal("the old password still works")
	}
	if _, err := f.h.svc.Authenticate(ctx, service.Actor{ClientIP: "192.0.2.1"}, "acme", f.user.Username, "Brand-New-Pass-77"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	// The code worked once (and the finished form's token went with it).
	if r := b.submit("/acme/reset", sent, "action", "reset", "username", f.user.Username, "code", code[1], "new", "x", "confirm", "x"); r.status != http.StatusForbidden {
		t.Fatalf("the finished form again: %d", r.status)
	}
	reused := b.submit("/acme/reset", b.do("GET", "/acme/reset", nil), "action", "reset", "username", f.user.Username, "code", code[1], "new", "Other-New-Pass-88", "confirm", "Other-New-Pass-88")
	if !strings.Contains(reused.body, "not right") {
		t.Fatalf("a reset code used twice: %d\n%s", reused.status, reused.body)
	}

	// A code sent before another password change no longer works.
	f.h.svc.Store.DeleteOneTimeCodes(ctx, "acme", f.user.ID) // lift the one-a-minute throttle for the test
	if err := f.h.svc.SendPasswordResetFor(ctx, service.OperatorActor(), "acme", f.user.ID); err != nil {
		t.Fatal(err)
	}
	later := resetCode.FindStringSubmatch(mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second).Text)
	if _, err := f.h.svc.SetPassword(ctx, service.OperatorActor(), "acme", f.user.ID, "Third-New-Pass-99", false); err != nil {
		t.Fatal(err)
	}
	if err := f.h.svc.ResetPassword(ctx, service.Actor{ClientIP: "192.0.2.2"}, "acme", f.user.Username, later[1], "Fourth-New-Pass-11"); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
		t.Fatalf("a reset code after a password change: %v", err)
	}

	// The administrator's email, by the API; refused for corporate users.
	token := f.h.tokens["acme"][userAdmin]
	mp.Clear(t)
	f.h.svc.Store.DeleteOneTimeCodes(ctx, "acme", f.user.ID)
	wantStatus(t, "admin reset email", f.h.do("POST", "/environments/acme/users/"+f.user.ID+"/password/reset-email", token, ""), 204)
	if m := mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second); resetCode.FindStringSubmatch(m.Text) == nil {
		t.Fatalf("admin-sent email: %s", m.Text)
	}
	noEmail := f.h.newUser("acme", nil, "Initial-pass-1")
	wantProblem(t, "reset email to a user without email", f.h.do("POST", "/environments/acme/users/"+noEmail.ID+"/password/reset-email", token, ""),
		400, gatehouse.EINVALID, "no email address")
}

// TestEmailCodeSignIn: a second factor by email, enrolled with a code sent
// to the user's address and used at the next sign-in; a wrong, a reused
// and another user's code are refused.
func TestEmailCodeSignIn(t *testing.T) {
	pol := gatehouse.DefaultMFAPolicy()
	pol.Enabled, pol.AllowedMethods = true, []string{gatehouse.MethodEmail}
	f := newMFAFixture(t, pol)
	mp := withMailpit(t, f.h)
	b := newBrowser(t, f.h)
	loginURL, enrol := f.password(t, b)
	if !strings.Contains(enrol.body, "We sent a six-digit code to m") {
		t.Fatalf("email enrolment page:\n%s", enrol.body)
	}
	first := mfaCode.FindStringSubmatch(mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second).Text)
	if bad := b.submit(loginURL, enrol, "method", "EMAIL", "code", "000000"); !strings.Contains(bad.body, "not right") {
		t.Fatalf("a wrong email code: %s", bad.body)
	}
	if amr := f.amr(t, b.submit(loginURL, enrol, "method", "EMAIL", "code", first[1])); strings.Join(amr, " ") != "pwd otp mca mfa" {
		t.Fatalf("amr: %v", amr)
	}
	mp.Clear(t)
	b = newBrowser(t, f.h)
	loginURL, challenge := f.password(t, b)
	second := mfaCode.FindStringSubmatch(mp.WaitFor(t, f.user.PrimaryEmail, 5*time.Second).Text)
	if reuse := b.submit(loginURL, challenge, "method", "EMAIL", "code", first[1]); first[1] != second[1] && !strings.Contains(reuse.body, "not right") {
		t.Fatalf("the enrolment code at sign-in: %s", reuse.body)
	}
	f.amr(t, b.submit(loginURL, challenge, "method", "EMAIL", "code", second[1]))
}
