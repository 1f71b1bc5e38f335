package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/service"
)

// clock is a settable time for the password-state tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClockedService(t *testing.T) (*service.Service, *clock) {
	svc := newService(t)
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	svc.Now = c.now
	if _, err := svc.CreateEnvironment(context.Background(), service.OperatorActor(), service.NewEnvironment{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	return svc, c
}

var op = service.OperatorActor()

func state(t *testing.T, svc *service.Service, id string) string {
	t.Helper()
	u, err := svc.GetUser(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordState
}

func wantState(t *testing.T, svc *service.Service, id, want string) {
	t.Helper()
	if got := state(t, svc, id); got != want {
		t.Fatalf("password state %s, want %s", got, want)
	}
}

func wantErr(t *testing.T, err error, code, phrase string) {
	t.Helper()
	if gatehouse.ErrorCode(err) != code || !strings.Contains(gatehouse.ErrorMessage(err), phrase) {
		t.Fatalf("error %v (%s), want %s saying %q", err, gatehouse.ErrorCode(err), code, phrase)
	}
}

// TestPasswordStateMachine walks every transition of DESIGN.md §2's
// password states.
func TestPasswordStateMachine(t *testing.T) {
	ctx := context.Background()
	svc, clk := newClockedService(t)
	policy, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetBasic)
	policy.MaxAgeDays = 30
	if _, err := svc.PutPasswordPolicy(ctx, op, "acme", policy); err != nil {
		t.Fatal(err)
	}

	bare, err := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "bare"}})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, bare.ID, gatehouse.PasswordNone)
	wantErr(t, func() error { _, err := svc.ForcePasswordChange(ctx, op, "acme", bare.ID); return err }(), gatehouse.EINVALID, "no password")
	if _, err := svc.SetPassword(ctx, op, "acme", bare.ID, "first-pass", false); err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, bare.ID, gatehouse.PasswordOK) // NO_PASSWORD → OK (admin, no forced change)

	u, err := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "jane"}, Password: "initial-1"})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordMustChange) // created with a password → MUST_CHANGE
	if _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "wrong", "next-2"); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
		t.Fatalf("a wrong current password: %v", err)
	}
	if _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "initial-1", "next-2"); err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordOK) // MUST_CHANGE → OK by the user

	if _, err := svc.ForcePasswordChange(ctx, op, "acme", u.ID); err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordMustChange) // OK → MUST_CHANGE by an admin
	if _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "next-2", "next-3"); err != nil {
		t.Fatal(err)
	}

	clk.advance(30*24*time.Hour - time.Second)
	wantState(t, svc, u.ID, gatehouse.PasswordOK)
	clk.advance(time.Second)
	wantState(t, svc, u.ID, gatehouse.PasswordExpired) // OK → EXPIRED at exactly max age
	if _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "next-3", "next-4"); err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordOK) // EXPIRED → OK by the user

	// Lockout: the 5th failure locks for 15 minutes, then it unlocks itself.
	for i := 1; i <= 5; i++ {
		if _, err := svc.Authenticate(ctx, op, "acme", "jane", "bad"); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i, err)
		}
		if i < 5 {
			wantState(t, svc, u.ID, gatehouse.PasswordOK)
		}
	}
	wantState(t, svc, u.ID, gatehouse.PasswordLockedOut) // OK → LOCKED_OUT
	if _, err := svc.Authenticate(ctx, op, "acme", "jane", "next-4"); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
		t.Fatalf("the right password while locked: %v", err)
	}
	clk.advance(15*time.Minute - time.Second)
	wantState(t, svc, u.ID, gatehouse.PasswordLockedOut)
	clk.advance(time.Second)
	wantState(t, svc, u.ID, gatehouse.PasswordOK) // LOCKED_OUT → OK when the duration ends
	if _, err := svc.Authenticate(ctx, op, "acme", "jane", "next-4"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}

	for range 5 {
		svc.Authenticate(ctx, op, "acme", "jane", "bad")
	}
	wantState(t, svc, u.ID, gatehouse.PasswordLockedOut)
	if _, err := svc.Unlock(ctx, op, "acme", u.ID); err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordOK) // LOCKED_OUT → OK by an admin

	for range 5 {
		svc.Authenticate(ctx, op, "acme", "jane", "bad")
	}
	if _, err := svc.SetPassword(ctx, op, "acme", u.ID, "reset-5", true); err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordMustChange) // LOCKED_OUT → MUST_CHANGE by an admin reset
}

// TestCorporateUsersNeverHaveAPassword tries every password route on an
// EXTERNAL user.
func TestCorporateUsersNeverHaveAPassword(t *testing.T) {
	ctx := context.Background()
	svc, _ := newClockedService(t)
	_, err := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "bob@corp.example", IdentityProvider: "okta"}})
	wantErr(t, err, gatehouse.EINVALID, `no identity provider "okta" in this environment`)
	if err := svc.Store.CreateIdentityProvider(ctx, &gatehouse.IdentityProvider{EnvironmentID: "acme", ID: "okta", Name: "Okta",
		Type: gatehouse.IdentityProviderOIDC, OIDC: &gatehouse.OIDCSettings{Issuer: "https://okta.example", ClientID: "c"}}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "bob@corp.example", IdentityProvider: "okta"}, Password: "secret-1"})
	wantErr(t, err, gatehouse.EINVALID, "never have a password")
	u, err := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "bob@corp.example", IdentityProvider: "okta"}})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, svc, u.ID, gatehouse.PasswordExternal)
	for name, try := range map[string]func() error{
		"set":          func() error { _, err := svc.SetPassword(ctx, op, "acme", u.ID, "secret-1", false); return err },
		"force change": func() error { _, err := svc.ForcePasswordChange(ctx, op, "acme", u.ID); return err },
		"unlock":       func() error { _, err := svc.Unlock(ctx, op, "acme", u.ID); return err },
		"change own":   func() error { _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "", "secret-1"); return err },
	} {
		if err := try(); gatehouse.ErrorCode(err) != gatehouse.EINVALID || !strings.Contains(gatehouse.ErrorMessage(err), "corporate") {
			t.Errorf("%s: %v", name, err)
		}
	}
	stored, _ := svc.Store.GetUser(ctx, "acme", u.ID)
	if stored.PasswordHash != "" || stored.PasswordState != gatehouse.PasswordExternal {
		t.Fatalf("a corporate user got a password: %+v", stored)
	}
	if _, err := svc.Authenticate(ctx, op, "acme", "bob@corp.example", ""); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
		t.Fatalf("a corporate user authenticated locally: %v", err)
	}
}

// TestAuthenticateRefusesAlike: unknown, wrong, inactive and locked all get
// one message; an imported bcrypt hash is replaced by argon2id on success.
func TestAuthenticateRefusesAlike(t *testing.T) {
	ctx := context.Background()
	svc, _ := newClockedService(t)
	u, _ := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "jane"}, Password: "initial-1"})
	if _, err := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "gone", Status: gatehouse.UserInactive}, Password: "initial-1"}); err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, try := range []struct{ user, pass string }{{"nobody", "x"}, {"jane", "wrong"}, {"gone", "initial-1"}} {
		_, err := svc.Authenticate(ctx, op, "acme", try.user, try.pass)
		if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHORIZED {
			t.Fatalf("%s: %v", try.user, err)
		}
		messages = append(messages, gatehouse.ErrorMessage(err))
	}
	if messages[0] != messages[1] || messages[1] != messages[2] {
		t.Fatalf("refusals differ: %q", messages)
	}

	legacy, _ := bcrypt.GenerateFromPassword([]byte("legacy-pw"), 4)
	stored, _ := svc.Store.GetUser(ctx, "acme", u.ID)
	stored.PasswordHash = string(legacy)
	svc.Store.UpdateUser(ctx, stored)
	if _, err := svc.Authenticate(ctx, op, "acme", "JANE", "legacy-pw"); err != nil {
		t.Fatalf("bcrypt hash, username in other case: %v", err)
	}
	stored, _ = svc.Store.GetUser(ctx, "acme", u.ID)
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") || stored.LastSignOn == nil {
		t.Fatalf("after sign-in: hash %.12s, last sign-on %v", stored.PasswordHash, stored.LastSignOn)
	}
	if ok, _, _ := password.Verify(ctx, "legacy-pw", stored.PasswordHash); !ok {
		t.Fatal("the rehashed password does not verify")
	}
}

// TestPolicyRulesOnChange: minimum age and history apply when a user
// changes their own password, and violations name the rule.
func TestPolicyRulesOnChange(t *testing.T) {
	ctx := context.Background()
	svc, clk := newClockedService(t)
	p, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetBasic)
	p.MinAgeMinutes, p.HistoryCount, p.MinLength = 60, 2, 8
	if _, err := svc.PutPasswordPolicy(ctx, op, "acme", p); err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, op, "acme", service.NewUser{User: gatehouse.User{Username: "jane"}, Password: "initial-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "initial-1", "short")
	wantErr(t, err, gatehouse.EINVALID, "minLength")
	if _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "initial-1", "second-22"); err != nil {
		t.Fatalf("a forced change is never too soon: %v", err)
	}
	clk.advance(59 * time.Minute)
	_, err = svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "second-22", "third-333")
	wantErr(t, err, gatehouse.EINVALID, "minAgeMinutes")
	clk.advance(time.Minute)
	_, err = svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "second-22", "initial-1")
	wantErr(t, err, gatehouse.EINVALID, "historyCount")
	if _, err := svc.ChangeOwnPassword(ctx, op, "acme", u.ID, "second-22", "third-333"); err != nil {
		t.Fatal(err)
	}
}
