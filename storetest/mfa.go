package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var mfaTests = []struct {
	name string
	fn   func(t *testing.T, s gatehouse.Store)
}{
	{"MFAPolicies", testMFAPolicies},
	{"MFADevices", testMFADevices},
	{"MFADeviceCounterOnlyMovesForward", testMFADeviceCounter},
	{"RecoveryCodesSingleUse", testRecoveryCodes},
	{"OneTimeCodes", testOneTimeCodes},
	{"MFAFailuresBlockAndBypass", testMFAState},
	{"ListUserSessions", testListUserSessions},
}

func testMFAPolicies(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	p, err := s.GetMFAPolicy(ctx, "acme")
	must(t, err)
	if want := gatehouse.DefaultMFAPolicy(); !reflect.DeepEqual(*p, want) {
		t.Fatalf("default MFA policy %+v, want %+v", p, want)
	}
	p.Enabled, p.AllowedMethods, p.WhenNotEnrolled, p.FailureLimit = true, []string{gatehouse.MethodTOTP}, gatehouse.NotEnrolledBlock, 3
	must(t, s.PutMFAPolicy(ctx, "acme", p))
	got, err := s.GetMFAPolicy(ctx, "acme")
	must(t, err)
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("MFA policy read back %+v, want %+v", got, p)
	}
	other, err := s.GetMFAPolicy(ctx, "globex")
	must(t, err)
	if other.Enabled {
		t.Fatal("acme's policy shows in globex")
	}
	so, err := s.GetSignOnPolicy(ctx, "acme")
	must(t, err)
	if so.ReauthenticateAfterHours != 0 {
		t.Fatalf("default sign-on policy %+v", so)
	}
	must(t, s.PutSignOnPolicy(ctx, "acme", &gatehouse.SignOnPolicy{ReauthenticateAfterHours: 12}))
	must(t, s.PutSignOnPolicy(ctx, "acme", &gatehouse.SignOnPolicy{ReauthenticateAfterHours: 8}))
	so, err = s.GetSignOnPolicy(ctx, "acme")
	must(t, err)
	if so.ReauthenticateAfterHours != 8 {
		t.Fatalf("sign-on policy %+v", so)
	}
}

func newDevice(envID, userID, id, typ string) *gatehouse.MFADevice {
	return &gatehouse.MFADevice{EnvironmentID: envID, ID: id, UserID: userID, Type: typ, Name: "My " + typ + " ‘quoted’",
		CreatedOn: now(), Secret: []byte{1, 2, 3}, Credential: []byte(`{"k":"v"}`), CredentialID: []byte("cred-" + id)}
}

func testMFADevices(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := newUser("acme", "ann")
	must(t, s.CreateUser(ctx, u))
	d := newDevice("acme", u.ID, "d1", gatehouse.MethodTOTP)
	must(t, s.CreateMFADevice(ctx, d))
	wantCode(t, s.CreateMFADevice(ctx, d), gatehouse.ECONFLICT)
	wantCode(t, s.CreateMFADevice(ctx, newDevice("acme", "nobody", "d9", gatehouse.MethodTOTP)), gatehouse.ENOTFOUND)
	// A WebAuthn credential id belongs to one device of the environment;
	// devices without one (TOTP) do not clash.
	dup := newDevice("acme", u.ID, "d2", gatehouse.MethodWebAuthn)
	dup.CredentialID = d.CredentialID
	wantCode(t, s.CreateMFADevice(ctx, dup), gatehouse.ECONFLICT)
	for _, id := range []string{"t1", "t2"} {
		totp := newDevice("acme", u.ID, id, gatehouse.MethodTOTP)
		totp.CredentialID, totp.CreatedOn = nil, now().Add(time.Hour)
		must(t, s.CreateMFADevice(ctx, totp))
	}
	got, err := s.GetMFADevice(ctx, "acme", "d1")
	must(t, err)
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("device read back\n%+v\nwant\n%+v", got, d)
	}
	later := newDevice("acme", u.ID, "d0", gatehouse.MethodWebAuthn)
	later.CreatedOn = now().Add(time.Second)
	must(t, s.CreateMFADevice(ctx, later))
	list, err := s.ListMFADevices(ctx, "acme", u.ID)
	must(t, err)
	if len(list) != 4 || list[0].ID != "d1" || list[1].ID != "d0" || list[2].CredentialID != nil {
		t.Fatalf("devices not oldest first: %+v", list)
	}
	used := now()
	d.Name, d.Confirmed, d.LastUsedOn = "Phone", true, &used
	must(t, s.UpdateMFADevice(ctx, d))
	got, _ = s.GetMFADevice(ctx, "acme", "d1")
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("updated device read back %+v", got)
	}
	_, err = s.GetMFADevice(ctx, "globex", "d1")
	wantCode(t, err, gatehouse.ENOTFOUND)
	must(t, s.DeleteMFADevice(ctx, "acme", "d1"))
	wantCode(t, s.DeleteMFADevice(ctx, "acme", "d1"), gatehouse.ENOTFOUND)
	// Deleting the user deletes the rest.
	must(t, s.DeleteUser(ctx, "acme", u.ID))
	_, err = s.GetMFADevice(ctx, "acme", "d0")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testMFADeviceCounter(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := newUser("acme", "ann")
	must(t, s.CreateUser(ctx, u))
	must(t, s.CreateMFADevice(ctx, newDevice("acme", u.ID, "d1", gatehouse.MethodTOTP)))
	must(t, s.UseMFADeviceCounter(ctx, "acme", "d1", 100, now()))
	wantCode(t, s.UseMFADeviceCounter(ctx, "acme", "d1", 100, now()), gatehouse.ECONFLICT)
	wantCode(t, s.UseMFADeviceCounter(ctx, "acme", "d1", 99, now()), gatehouse.ECONFLICT)
	wantCode(t, s.UseMFADeviceCounter(ctx, "acme", "nope", 200, now()), gatehouse.ENOTFOUND)
	// Of concurrent uses of one step, exactly one wins.
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- s.UseMFADeviceCounter(ctx, "acme", "d1", 101, now()) }()
	}
	wins := 0
	for range 8 {
		if err := <-errs; err == nil {
			wins++
		} else if gatehouse.ErrorCode(err) != gatehouse.ECONFLICT {
			t.Fatal(err)
		}
	}
	d, _ := s.GetMFADevice(ctx, "acme", "d1")
	if wins != 1 || d.Counter != 101 || d.LastUsedOn == nil {
		t.Fatalf("%d concurrent uses won; device %+v", wins, d)
	}
}

func testRecoveryCodes(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := newUser("acme", "ann")
	must(t, s.CreateUser(ctx, u))
	must(t, s.ReplaceRecoveryCodes(ctx, "acme", u.ID, [][]byte{{1}, {2}, {3}}, now()))
	n, err := s.CountRecoveryCodes(ctx, "acme", u.ID)
	must(t, err)
	if n != 3 {
		t.Fatalf("%d codes", n)
	}
	must(t, s.UseRecoveryCode(ctx, "acme", u.ID, []byte{2}, now()))
	wantCode(t, s.UseRecoveryCode(ctx, "acme", u.ID, []byte{2}, now()), gatehouse.ENOTFOUND)
	wantCode(t, s.UseRecoveryCode(ctx, "acme", "other", []byte{1}, now()), gatehouse.ENOTFOUND)
	wantCode(t, s.UseRecoveryCode(ctx, "globex", u.ID, []byte{1}, now()), gatehouse.ENOTFOUND)
	if n, _ := s.CountRecoveryCodes(ctx, "acme", u.ID); n != 2 {
		t.Fatalf("%d unused codes after one use", n)
	}
	// New codes replace every old one.
	must(t, s.ReplaceRecoveryCodes(ctx, "acme", u.ID, [][]byte{{7}}, now()))
	wantCode(t, s.UseRecoveryCode(ctx, "acme", u.ID, []byte{1}, now()), gatehouse.ENOTFOUND)
	must(t, s.UseRecoveryCode(ctx, "acme", u.ID, []byte{7}, now()))
	wantCode(t, s.ReplaceRecoveryCodes(ctx, "acme", "nobody", [][]byte{{1}}, now()), gatehouse.ENOTFOUND)
}

func testOneTimeCodes(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := newUser("acme", "ann")
	must(t, s.CreateUser(ctx, u))
	code := func(purpose string, hash byte, ttl time.Duration) *gatehouse.OneTimeCode {
		return &gatehouse.OneTimeCode{EnvironmentID: "acme", UserID: u.ID, Purpose: purpose, Hash: []byte{hash}, CreatedOn: now(), ExpiresAt: now().Add(ttl)}
	}
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodeEmailMFA, 1, time.Minute)))
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodePasswordReset, 1, time.Minute)))
	// A code is for its purpose, and works once.
	must(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{1}, 5, now()))
	wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{1}, 5, now()), gatehouse.ENOTFOUND)
	must(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodePasswordReset, []byte{1}, 5, now()))
	// A new code replaces the old one.
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodeEmailMFA, 2, time.Minute)))
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodeEmailMFA, 3, time.Minute)))
	wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{2}, 5, now()), gatehouse.ENOTFOUND)
	// Wrong guesses use up the code: after the limit even the right one fails.
	for range 3 {
		wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{9}, 3, now()), gatehouse.ENOTFOUND)
	}
	wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{3}, 3, now()), gatehouse.ENOTFOUND)
	// Two wrong guesses under a limit of three leave the right code working.
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodeEmailMFA, 6, time.Minute)))
	for range 2 {
		wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{9}, 3, now()), gatehouse.ENOTFOUND)
	}
	must(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{6}, 3, now()))
	// An expired code fails.
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodeEmailMFA, 4, time.Minute)))
	wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{4}, 5, now().Add(2*time.Minute)), gatehouse.ENOTFOUND)
	must(t, s.PutOneTimeCode(ctx, code(gatehouse.CodeEmailMFA, 5, time.Minute)))
	must(t, s.DeleteOneTimeCodes(ctx, "acme", u.ID))
	wantCode(t, s.UseOneTimeCode(ctx, "acme", u.ID, gatehouse.CodeEmailMFA, []byte{5}, 5, now()), gatehouse.ENOTFOUND)
	wantCode(t, s.PutOneTimeCode(ctx, &gatehouse.OneTimeCode{EnvironmentID: "acme", UserID: "nobody", Purpose: gatehouse.CodeEmailMFA,
		Hash: []byte{1}, CreatedOn: now(), ExpiresAt: now().Add(time.Minute)}), gatehouse.ENOTFOUND)
}

func testMFAState(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := newUser("acme", "ann")
	must(t, s.CreateUser(ctx, u))
	st, err := s.GetMFAState(ctx, "acme", u.ID)
	must(t, err)
	if st.Failures != 0 || st.BlockedUntil != nil || st.BypassUntil != nil {
		t.Fatalf("fresh state %+v", st)
	}
	block := now().Add(time.Hour)
	for i := 1; i <= 2; i++ {
		n, err := s.RegisterMFAFailure(ctx, "acme", u.ID, 3, block)
		must(t, err)
		if n != i {
			t.Fatalf("failure %d counted as %d", i, n)
		}
	}
	n, err := s.RegisterMFAFailure(ctx, "acme", u.ID, 3, block)
	must(t, err)
	st, _ = s.GetMFAState(ctx, "acme", u.ID)
	if n != 3 || st.BlockedUntil == nil || !st.BlockedUntil.Equal(block) {
		t.Fatalf("at the limit: n=%d state %+v", n, st)
	}
	must(t, s.ResetMFAFailures(ctx, "acme", u.ID))
	bypass := now().Add(24 * time.Hour)
	must(t, s.SetMFABypass(ctx, "acme", u.ID, &bypass))
	st, _ = s.GetMFAState(ctx, "acme", u.ID)
	if st.Failures != 0 || st.BlockedUntil != nil || st.BypassUntil == nil || !st.BypassUntil.Equal(bypass) {
		t.Fatalf("after reset and bypass: %+v", st)
	}
	must(t, s.SetMFABypass(ctx, "acme", u.ID, nil))
	if st, _ = s.GetMFAState(ctx, "acme", u.ID); st.BypassUntil != nil {
		t.Fatalf("bypass not ended: %+v", st)
	}
	wantCode(t, s.SetMFABypass(ctx, "acme", "nobody", &bypass), gatehouse.ENOTFOUND)
	_, err = s.RegisterMFAFailure(ctx, "acme", "nobody", 3, block)
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testListUserSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := newUser("acme", "ann")
	must(t, s.CreateUser(ctx, u))
	first := tokSession("acme", u.ID, "first")
	second := tokSession("acme", u.ID, "second")
	second.CreatedOn = first.CreatedOn.Add(time.Second)
	must(t, s.CreateSession(ctx, first))
	must(t, s.CreateSession(ctx, second))
	list, err := s.ListUserSessions(ctx, "acme", u.ID)
	must(t, err)
	if len(list) != 2 || !reflect.DeepEqual(list[0], second) || !reflect.DeepEqual(list[1], first) {
		t.Fatalf("sessions %+v", list)
	}
	if l, _ := s.ListUserSessions(ctx, "globex", u.ID); len(l) != 0 {
		t.Fatal("another environment lists acme's sessions")
	}
}
