// Package storetest is the executable contract of gatehouse.Store: every
// storage engine runs Run against a fresh, migrated store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Run runs the conformance suite. open returns a new, empty, migrated store;
// the suite closes it.
func Run(t *testing.T, open func(t *testing.T) gatehouse.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s gatehouse.Store)
	}{
		{"EnvironmentLifecycle", testEnvironmentLifecycle},
		{"EnvironmentPaging", testEnvironmentPaging},
		{"UserRoundTrip", testUserRoundTrip},
		{"UsernameUniqueCaseInsensitive", testUsernameUnique},
		{"UserRefUnique", testUserRefUnique},
		{"UserHostileInput", testUserHostileInput},
		{"ConcurrentCreatesOneWins", testConcurrentCreates},
		{"Applications", testApplications},
		{"PasswordPolicy", testPasswordPolicy},
		{"SigningKeys", testSigningKeys},
		{"Secrets", testSecrets},
		{"TransactionRollsBack", testTransactionRollsBack},
		{"DeleteEnvironmentRemovesOnlyItsData", testDeleteEnvironment},
		{"EnvironmentsAreIsolated", testIsolation},
		{"Ping", func(t *testing.T, s gatehouse.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	tests = append(tests, directoryTests...)
	tests = append(tests, tokenTests...)
	tests = append(tests, federationTests...)
	tests = append(tests, mfaTests...)
	tests = append(tests, reportTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

// now is a time the stores round-trip exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T, s gatehouse.Store, id string) *gatehouse.Environment {
	t.Helper()
	e := &gatehouse.Environment{ID: id, DisplayName: "Env " + id, Status: gatehouse.EnvironmentActive, CreatedOn: now(), UpdatedOn: now()}
	must(t, s.CreateEnvironment(context.Background(), e))
	return e
}

func newUser(envID, username string) *gatehouse.User {
	return &gatehouse.User{
		EnvironmentID: envID, ID: gatehouse.NewID(), Username: username, Type: gatehouse.UserTypeRetailer,
		Status: gatehouse.UserActive, IdentityProvider: gatehouse.LocalIdentityProvider,
		PasswordState: gatehouse.PasswordNone, CreatedOn: now(), UpdatedOn: now(),
		Attributes: []gatehouse.Attribute{}, Roles: []gatehouse.RoleAssignment{},
	}
}

func testEnvironmentLifecycle(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	e := newEnv(t, s, "acme")
	got, err := s.GetEnvironment(ctx, "acme")
	must(t, err)
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("GetEnvironment = %+v, want %+v", got, e)
	}
	wantCode(t, s.CreateEnvironment(ctx, e), gatehouse.ECONFLICT)

	e.DisplayName, e.Status, e.UpdatedOn = "Acme Corp", gatehouse.EnvironmentDisabled, now().Add(time.Second)
	must(t, s.UpdateEnvironment(ctx, e))
	got, err = s.GetEnvironment(ctx, "acme")
	must(t, err)
	if got.DisplayName != "Acme Corp" || got.Status != gatehouse.EnvironmentDisabled || !got.UpdatedOn.Equal(e.UpdatedOn) {
		t.Fatalf("after update: %+v", got)
	}
	wantCode(t, s.UpdateEnvironment(ctx, &gatehouse.Environment{ID: "nope"}), gatehouse.ENOTFOUND)

	must(t, s.DeleteEnvironment(ctx, "acme"))
	_, err = s.GetEnvironment(ctx, "acme")
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteEnvironment(ctx, "acme"), gatehouse.ENOTFOUND)
}

func testEnvironmentPaging(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	for i := 9; i >= 0; i-- {
		newEnv(t, s, fmt.Sprintf("env-%02d", i))
	}
	var seen []string
	after := ""
	for {
		page, err := s.ListEnvironments(ctx, after, 3)
		must(t, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		for _, e := range page {
			seen = append(seen, e.ID)
		}
		after = page[len(page)-1].ID
	}
	want := []string{}
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("env-%02d", i))
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("paged ids %v, want %v", seen, want)
	}
}

func testUserRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	signOn, changed := now().Add(-time.Hour), now().Add(-2*time.Hour)
	u := &gatehouse.User{
		EnvironmentID: "acme", ID: gatehouse.NewID(), Ref: "ref-1", Username: "Jane.Doe@Corp.example",
		Title: "Ms", FirstName: "Jane", LastName: "Doe", PrimaryEmail: "jane@corp.example",
		PrimaryPhone: "+61 400 000 000", Type: gatehouse.UserTypeAdmin, Status: gatehouse.UserInactive,
		Timezone: "Australia/Sydney", Language: "en-AU", Department: "IT", Country: "AU",
		PromotionOptIn: true, PrimaryRetailer: "r1", PrimaryLocation: "l1",
		Attributes:       []gatehouse.Attribute{{Name: "badge", Type: "STRING", Value: "42"}},
		Roles:            []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}},
		IdentityProvider: gatehouse.LocalIdentityProvider, PasswordState: gatehouse.PasswordMustChange,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", PasswordChangedOn: &changed,
		CreatedOn: now(), UpdatedOn: now(), LastSignOn: &signOn,
	}
	must(t, s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, "acme", u.ID)
	must(t, err)
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("GetUser =\n%+v\nwant\n%+v", got, u)
	}
	for _, name := range []string{"jane.doe@corp.example", "JANE.DOE@CORP.EXAMPLE", u.Username} {
		got, err := s.GetUserByUsername(ctx, "acme", name)
		must(t, err)
		if got.ID != u.ID {
			t.Fatalf("GetUserByUsername(%q) found %s", name, got.ID)
		}
	}
	_, err = s.GetUser(ctx, "acme", "missing")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetUserByUsername(ctx, "acme", "jane.doe@corp.example ")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testUsernameUnique(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	must(t, s.CreateUser(ctx, newUser("acme", "bob")))
	wantCode(t, s.CreateUser(ctx, newUser("acme", "BOB")), gatehouse.ECONFLICT)
	must(t, s.CreateUser(ctx, newUser("globex", "Bob")))
	// A user cannot be created in an environment that does not exist.
	if err := s.CreateUser(ctx, newUser("nowhere", "bob")); err == nil {
		t.Fatal("created a user in a missing environment")
	}
}

func testUserRefUnique(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	a, b, c, d := newUser("acme", "a"), newUser("acme", "b"), newUser("acme", "c"), newUser("acme", "d")
	a.Ref, b.Ref = "R1", "R1"
	must(t, s.CreateUser(ctx, a))
	wantCode(t, s.CreateUser(ctx, b), gatehouse.ECONFLICT)
	// Users without a ref do not collide with each other.
	must(t, s.CreateUser(ctx, c))
	must(t, s.CreateUser(ctx, d))
}

func testUserHostileInput(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	names := []string{
		"o'brien", `x"; DROP TABLE users; --`, "%", "_", `back\slash`, "ünïcødé-名前",
		strings.Repeat("é", gatehouse.MaxUsernameLength), "emoji-🙂",
	}
	for _, name := range names {
		u := newUser("acme", name)
		u.FirstName = name
		must(t, s.CreateUser(ctx, u))
		got, err := s.GetUserByUsername(ctx, "acme", name)
		must(t, err)
		if got.Username != name || got.FirstName != name {
			t.Fatalf("round trip of %q gave %q", name, got.Username)
		}
	}
	// LIKE metacharacters are matched literally.
	_, err := s.GetUserByUsername(ctx, "acme", "o%")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testConcurrentCreates(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateUser(ctx, newUser("acme", fmt.Sprintf("Racer%c", "aA"[i%2])))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch gatehouse.ErrorCode(err) {
		case "":
			ok++
		case gatehouse.ECONFLICT:
		default:
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent creates of one username succeeded, want 1", ok, n)
	}
}

func testApplications(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	a := &gatehouse.Application{
		EnvironmentID: "acme", ID: gatehouse.NewID(), ClientID: "client-1", Name: "CI", Type: gatehouse.AppTypeService,
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"client_credentials"},
		Roles: []string{gatehouse.RoleEnvironmentAdmin}, SecretHash: []byte{1, 2, 3, 0, 255},
		CreatedOn: now(), UpdatedOn: now(),
	}
	must(t, s.CreateApplication(ctx, a))
	got, err := s.GetApplicationByClientID(ctx, "acme", "client-1")
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("GetApplicationByClientID =\n%+v\nwant\n%+v", got, a)
	}
	_, err = s.GetApplicationByClientID(ctx, "globex", "client-1")
	wantCode(t, err, gatehouse.ENOTFOUND)
	dup := *a
	dup.ID = gatehouse.NewID()
	wantCode(t, s.CreateApplication(ctx, &dup), gatehouse.ECONFLICT)
}

func testPasswordPolicy(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	_, err := s.GetPasswordPolicy(ctx, "acme")
	wantCode(t, err, gatehouse.ENOTFOUND)
	for _, preset := range []string{gatehouse.PresetBasic, gatehouse.PresetStandard} {
		p, err := gatehouse.PasswordPolicyPreset(preset)
		must(t, err)
		must(t, s.PutPasswordPolicy(ctx, "acme", &p))
		got, err := s.GetPasswordPolicy(ctx, "acme")
		must(t, err)
		if !reflect.DeepEqual(*got, p) {
			t.Fatalf("policy round trip: %+v, want %+v", got, p)
		}
	}
}

func testSigningKeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	older := &gatehouse.SigningKey{EnvironmentID: "acme", KID: "k1", Algorithm: "ES256", State: gatehouse.KeyCurrent,
		PublicJWK: []byte(`{"kid":"k1"}`), SecretName: "signing-key/k1", CreatedOn: now().Add(-time.Hour)}
	newer := &gatehouse.SigningKey{EnvironmentID: "acme", KID: "k2", Algorithm: "ES256", State: gatehouse.KeyNext,
		PublicJWK: []byte(`{"kid":"k2"}`), SecretName: "signing-key/k2", CreatedOn: now()}
	must(t, s.CreateSigningKey(ctx, older))
	must(t, s.CreateSigningKey(ctx, newer))
	wantCode(t, s.CreateSigningKey(ctx, newer), gatehouse.ECONFLICT)
	keys, err := s.ListSigningKeys(ctx, "acme")
	must(t, err)
	if !reflect.DeepEqual(keys, []*gatehouse.SigningKey{newer, older}) {
		t.Fatalf("ListSigningKeys = %+v", keys)
	}
	keys, err = s.ListSigningKeys(ctx, "globex")
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("globex sees %d of acme's keys", len(keys))
	}
}

func testSecrets(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	must(t, s.PutSecret(ctx, &gatehouse.Secret{EnvironmentID: "acme", Name: "a", Ciphertext: []byte{0, 1, 2}}))
	must(t, s.PutSecret(ctx, &gatehouse.Secret{EnvironmentID: "acme", Name: "a", Ciphertext: []byte{9}}))
	must(t, s.PutSecret(ctx, &gatehouse.Secret{EnvironmentID: "globex", Name: "a", Ciphertext: []byte{7}}))
	got, err := s.GetSecret(ctx, "acme", "a")
	must(t, err)
	if !reflect.DeepEqual(got.Ciphertext, []byte{9}) {
		t.Fatalf("secret after replace = %v", got.Ciphertext)
	}
	_, err = s.GetSecret(ctx, "acme", "b")
	wantCode(t, err, gatehouse.ENOTFOUND)
	all, err := s.ListSecrets(ctx)
	must(t, err)
	if len(all) != 2 || all[0].EnvironmentID != "acme" || all[1].EnvironmentID != "globex" {
		t.Fatalf("ListSecrets = %+v", all)
	}
	must(t, s.DeleteSecret(ctx, "acme", "a"))
	_, err = s.GetSecret(ctx, "acme", "a")
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteSecret(ctx, "acme", "a"), gatehouse.ENOTFOUND)
	_, err = s.GetSecret(ctx, "globex", "a")
	must(t, err)
}

func testTransactionRollsBack(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(r gatehouse.Repositories) error {
		must(t, r.CreateEnvironment(ctx, &gatehouse.Environment{ID: "acme", Status: gatehouse.EnvironmentActive, CreatedOn: now(), UpdatedOn: now()}))
		must(t, r.CreateUser(ctx, newUser("acme", "admin")))
		if _, err := r.GetUserByUsername(ctx, "acme", "admin"); err != nil {
			t.Errorf("a transaction does not see its own write: %v", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want the callback's error", err)
	}
	_, err = s.GetEnvironment(ctx, "acme")
	wantCode(t, err, gatehouse.ENOTFOUND)

	must(t, s.InTx(ctx, func(r gatehouse.Repositories) error {
		if err := r.CreateEnvironment(ctx, &gatehouse.Environment{ID: "acme", Status: gatehouse.EnvironmentActive, CreatedOn: now(), UpdatedOn: now()}); err != nil {
			return err
		}
		return r.CreateUser(ctx, newUser("acme", "admin"))
	}))
	_, err = s.GetUserByUsername(ctx, "acme", "admin")
	must(t, err)
}

// fill gives an environment one of everything the store keeps.
func fill(t *testing.T, s gatehouse.Store, envID string) *gatehouse.User {
	ctx := context.Background()
	newEnv(t, s, envID)
	u := newUser(envID, "admin")
	u.Roles = []gatehouse.RoleAssignment{{Role: gatehouse.RoleEnvironmentAdmin}}
	must(t, s.CreateUser(ctx, u))
	must(t, s.CreateApplication(ctx, &gatehouse.Application{EnvironmentID: envID, ID: gatehouse.NewID(), ClientID: "c", Name: "n", Type: gatehouse.AppTypeService, CreatedOn: now(), UpdatedOn: now()}))
	p, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetBasic)
	must(t, s.PutPasswordPolicy(ctx, envID, &p))
	must(t, s.CreateSigningKey(ctx, &gatehouse.SigningKey{EnvironmentID: envID, KID: "k", Algorithm: "ES256", State: gatehouse.KeyCurrent, PublicJWK: []byte("{}"), SecretName: "signing-key/k", CreatedOn: now()}))
	must(t, s.PutSecret(ctx, &gatehouse.Secret{EnvironmentID: envID, Name: "signing-key/k", Ciphertext: []byte{1}}))
	idp := newOIDCProvider(envID, "corp")
	must(t, s.CreateIdentityProvider(ctx, idp))
	must(t, s.CreateDiscoveryRule(ctx, &gatehouse.DiscoveryRule{EnvironmentID: envID, ID: "r1", Order: 1, EmailDomain: "corp.example",
		IdentityProviderID: idp.ID, CreatedOn: now(), UpdatedOn: now()}))
	corp := newUser(envID, "bob@corp.example")
	corp.IdentityProvider, corp.PasswordState = idp.ID, gatehouse.PasswordExternal
	must(t, s.CreateUser(ctx, corp))
	must(t, s.LinkIdentity(ctx, envID, corp.ID, "sub-bob"))
	must(t, s.UseAssertion(ctx, &gatehouse.UsedAssertion{EnvironmentID: envID, IdentityProviderID: idp.ID, ID: "a1", ExpiresAt: now().Add(time.Hour)}))
	must(t, s.PutMFAPolicy(ctx, envID, &gatehouse.MFAPolicy{Enabled: true, AllowedMethods: []string{gatehouse.MethodTOTP}}))
	must(t, s.CreateMFADevice(ctx, newDevice(envID, u.ID, "d1", gatehouse.MethodTOTP)))
	must(t, s.ReplaceRecoveryCodes(ctx, envID, u.ID, [][]byte{{1}}, now()))
	must(t, s.PutOneTimeCode(ctx, &gatehouse.OneTimeCode{EnvironmentID: envID, UserID: u.ID, Purpose: gatehouse.CodeEmailMFA, Hash: []byte{1},
		CreatedOn: now(), ExpiresAt: now().Add(time.Hour)}))
	must(t, s.SetMFABypass(ctx, envID, u.ID, nil))
	return u
}

func testDeleteEnvironment(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	fill(t, s, "acme")
	keep := fill(t, s, "globex")
	must(t, s.DeleteEnvironment(ctx, "acme"))

	_, err := s.GetUserByUsername(ctx, "acme", "admin")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetApplicationByClientID(ctx, "acme", "c")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetPasswordPolicy(ctx, "acme")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetSecret(ctx, "acme", "signing-key/k")
	wantCode(t, err, gatehouse.ENOTFOUND)
	keys, err := s.ListSigningKeys(ctx, "acme")
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("deleted environment still has %d keys", len(keys))
	}
	// A new environment with the same id starts empty.
	newEnv(t, s, "acme")
	_, err = s.GetUserByUsername(ctx, "acme", "admin")
	wantCode(t, err, gatehouse.ENOTFOUND)

	got, err := s.GetUser(ctx, "globex", keep.ID)
	must(t, err)
	if len(got.Roles) != 1 {
		t.Fatalf("the other environment's user lost roles: %+v", got.Roles)
	}
	for _, check := range []error{
		func() error { _, err := s.GetApplicationByClientID(ctx, "globex", "c"); return err }(),
		func() error { _, err := s.GetPasswordPolicy(ctx, "globex"); return err }(),
		func() error { _, err := s.GetSecret(ctx, "globex", "signing-key/k"); return err }(),
	} {
		must(t, check)
	}
	keys, err = s.ListSigningKeys(ctx, "globex")
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("the other environment has %d keys, want 1", len(keys))
	}
}

func testIsolation(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := fill(t, s, "acme")
	newEnv(t, s, "globex")
	_, err := s.GetUser(ctx, "globex", u.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetUserByUsername(ctx, "globex", "admin")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetSecret(ctx, "globex", "signing-key/k")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetPasswordPolicy(ctx, "globex")
	wantCode(t, err, gatehouse.ENOTFOUND)
}
