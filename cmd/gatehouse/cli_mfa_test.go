package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail/mailpittest"
	"github.com/gatehouse/gatehouse/service"
)

// TestCLIUserMFA: an operator lists and removes a user's second factors,
// grants and ends a bypass, and unblocks; bad input changes nothing.
func TestCLIUserMFA(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	mustGH(t, dir, nil, "env", "create", "beta")
	u := ghUser(t, dir, "user", "create", "mia@acme.example", "--env", "acme")
	st, svc := openStore(t, dir)
	ctx := context.Background()
	for _, id := range []string{"phone", "key"} {
		if err := st.CreateMFADevice(ctx, &gatehouse.MFADevice{EnvironmentID: "acme", ID: id, UserID: u.ID, Type: gatehouse.MethodTOTP,
			Name: "Mia's " + id, CreatedOn: time.Now(), Confirmed: true, Secret: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RegisterMFAFailure(ctx, "acme", u.ID, 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	show := mustGH(t, dir, nil, "user", "mfa", "show", "mia@acme.example", "--env", "acme")
	if !strings.Contains(show.stdout, "Mia's phone") || !strings.Contains(show.stdout, "Blocked until") {
		t.Fatalf("show:\n%s", show.stdout)
	}
	m := decodeJSON[service.UserMFA](t, mustGH(t, dir, nil, "user", "mfa", "show", u.ID, "--env", "acme", "--output", "json"))
	if len(m.Devices) != 2 || m.BlockedUntil == nil {
		t.Fatalf("show --output json: %+v", m)
	}
	mustGH(t, dir, nil, "user", "mfa", "unblock", "mia@acme.example", "--env", "acme")
	mustGH(t, dir, nil, "user", "mfa", "remove", "mia@acme.example", "phone", "--env", "acme")
	wantFail(t, gh(t, dir, nil, "user", "mfa", "remove", "mia@acme.example", "phone", "--env", "acme"), 1, "device not found")
	wantFail(t, gh(t, dir, nil, "user", "mfa", "remove", "mia@acme.example", "key", "--env", "beta"), 1, "not found")
	for _, bad := range [][]string{{"--for", "800h"}, {"--for", "-1h"}, {}, {"--for", "1h", "--end"}} {
		r := gh(t, dir, nil, append([]string{"user", "mfa", "bypass", "mia@acme.example", "--env", "acme"}, bad...)...)
		if r.code == 0 {
			t.Fatalf("bypass %v accepted", bad)
		}
	}
	b := decodeJSON[service.UserMFA](t, mustGH(t, dir, nil, "user", "mfa", "bypass", "mia@acme.example", "--env", "acme", "--for", "24h", "--output", "json"))
	if b.BypassUntil == nil || time.Until(*b.BypassUntil) < 23*time.Hour || len(b.Devices) != 1 || b.BlockedUntil != nil {
		t.Fatalf("after bypass: %+v", b)
	}
	mustGH(t, dir, nil, "user", "mfa", "bypass", "mia@acme.example", "--env", "acme", "--end")
	after, err := svc.UserMFA(ctx, "acme", u.ID)
	if err != nil || after.BypassUntil != nil {
		t.Fatalf("after --end: %+v %v", after, err)
	}
	events, _ := st.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: u.ID, Limit: 50})
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Action]++
	}
	if seen[service.ActionMFADeviceRemoved] != 1 || seen[service.ActionMFABypassSet] != 2 || seen[service.ActionUserUnlocked] != 1 {
		t.Fatalf("audit: %v", seen)
	}
}

// TestCLISendReset: an operator emails a user a reset code through the
// configured SMTP server; without one the command says so.
func TestCLISendReset(t *testing.T) {
	dir := t.TempDir()
	mp := mailpittest.Start(t)
	mustGH(t, dir, nil, "env", "create", "acme")
	mustGH(t, dir, nil, "user", "create", "mia@acme.example", "--env", "acme", "--email", "mia@acme.example")
	mustGH(t, dir, nil, "user", "create", "noemail", "--env", "acme")
	wantFail(t, gh(t, dir, nil, "user", "send-reset", "mia@acme.example", "--env", "acme"), 1, "email is not set up")
	smtp := []string{"GATEHOUSE_SMTP_URL=" + mp.SMTPURL, "GATEHOUSE_SMTP_FROM=signin@acme.example"}
	wantFail(t, gh(t, dir, []string{"GATEHOUSE_SMTP_URL=" + mp.SMTPURL}, "user", "send-reset", "mia@acme.example", "--env", "acme"), 2, "smtp-from")
	mustGH(t, dir, smtp, "user", "send-reset", "mia@acme.example", "--env", "acme")
	if m := mp.WaitFor(t, "mia@acme.example", 5*time.Second); m.Subject != "Reset your password" || !strings.Contains(m.Text, "Your code is ") {
		t.Fatalf("reset email %q:\n%s", m.Subject, m.Text)
	}
	wantFail(t, gh(t, dir, smtp, "user", "send-reset", "noemail", "--env", "acme"), 1, "no email address")
}
