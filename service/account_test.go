package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// TestRemoveOwnLastDevice: a user may not remove the last second factor
// that works when a sign-in would then be blocked: the policy is on (or an
// application requires MFA) and whenNotEnrolled is BLOCK. A device of a
// type the policy no longer allows does not count.
func TestRemoveOwnLastDevice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		enabled  bool
		when     string
		appNeeds bool
		other    string // a second device's type, or ""
		refused  bool
	}{
		{name: "on, BLOCK, last device", enabled: true, when: gatehouse.NotEnrolledBlock, refused: true},
		{name: "on, ENROL, last device", enabled: true, when: gatehouse.NotEnrolledEnrol},
		{name: "on, BYPASS, last device", enabled: true, when: gatehouse.NotEnrolledBypass},
		{name: "off, BLOCK, no application requires MFA", when: gatehouse.NotEnrolledBlock},
		{name: "off, BLOCK, an application requires MFA", when: gatehouse.NotEnrolledBlock, appNeeds: true, refused: true},
		{name: "on, BLOCK, another app", enabled: true, when: gatehouse.NotEnrolledBlock, other: gatehouse.MethodTOTP},
		{name: "on, BLOCK, another device not allowed", enabled: true, when: gatehouse.NotEnrolledBlock, other: gatehouse.MethodEmail, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			svc := newService(t)
			if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: "acme"}); err != nil {
				t.Fatal(err)
			}
			u, err := svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "mia"}})
			if err != nil {
				t.Fatal(err)
			}
			pol := gatehouse.DefaultMFAPolicy()
			pol.Enabled, pol.WhenNotEnrolled, pol.AllowedMethods = tc.enabled, tc.when, []string{gatehouse.MethodTOTP}
			if _, err := svc.SetMFAPolicy(ctx, service.OperatorActor(), "acme", pol); err != nil {
				t.Fatal(err)
			}
			if tc.appNeeds {
				if _, err := svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "shop", Type: gatehouse.AppTypeWeb,
					RedirectURIs: []string{"https://shop.example/cb"}, ApplicationSettings: gatehouse.ApplicationSettings{MFARequired: true}}); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now()
			device := func(typ string) *gatehouse.MFADevice {
				d := &gatehouse.MFADevice{EnvironmentID: "acme", ID: gatehouse.NewID(), UserID: u.ID, Type: typ, Name: typ, CreatedOn: now, Confirmed: true}
				if err := svc.Store.CreateMFADevice(ctx, d); err != nil {
					t.Fatal(err)
				}
				return d
			}
			first := device(gatehouse.MethodTOTP)
			if tc.other != "" {
				device(tc.other)
			}
			sess := &gatehouse.Session{EnvironmentID: "acme", UserID: u.ID, AuthTime: now}
			err = svc.RemoveOwnMFADevice(ctx, service.Actor{Type: gatehouse.ActorUser}, sess, first.ID)
			_, getErr := svc.Store.GetMFADevice(ctx, "acme", first.ID)
			switch {
			case tc.refused && (gatehouse.ErrorCode(err) != gatehouse.EINVALID || getErr != nil):
				t.Fatalf("removal not refused: %v (device: %v)", err, getErr)
			case !tc.refused && (err != nil || gatehouse.ErrorCode(getErr) != gatehouse.ENOTFOUND):
				t.Fatalf("removal refused: %v (device: %v)", err, getErr)
			}
			// An older sign-in may remove nothing.
			sess.AuthTime = now.Add(-service.AccountReauthAfter - time.Second)
			if err := svc.RemoveOwnMFADevice(ctx, service.Actor{Type: gatehouse.ActorUser}, sess, first.ID); err != service.ErrReauthenticate {
				t.Fatalf("an older sign-in: %v", err)
			}
		})
	}
}
