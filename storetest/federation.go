package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var federationTests = []struct {
	name string
	fn   func(t *testing.T, s gatehouse.Store)
}{
	{"IdentityProviderRoundTrip", testIdentityProviderRoundTrip},
	{"IdentityProviderInUseIsNotDeleted", testIdentityProviderInUse},
	{"DiscoveryRulesInOrder", testDiscoveryRulesInOrder},
	{"LinkIdentity", testLinkIdentity},
	{"AssertionUsedOnce", testAssertionUsedOnce},
	{"FederationIsolated", testFederationIsolated},
	{"LoginFlowWithUpstream", testLoginFlowWithUpstream},
}

func newOIDCProvider(envID, id string) *gatehouse.IdentityProvider {
	return &gatehouse.IdentityProvider{EnvironmentID: envID, ID: id, Name: "Corp " + id, Type: gatehouse.IdentityProviderOIDC,
		OIDC: &gatehouse.OIDCSettings{Issuer: "https://idp.example/" + id, ClientID: "gatehouse", Scopes: []string{"openid", "email"},
			UsernameClaim: "email"}, CreatedOn: now(), UpdatedOn: now()}
}

func newCorporateUser(envID, username, idpID string) *gatehouse.User {
	u := newUser(envID, username)
	u.IdentityProvider, u.PasswordState = idpID, gatehouse.PasswordExternal
	return u
}

func testIdentityProviderRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	oidc := newOIDCProvider("acme", "okta")
	oidc.JITProvisioning = true
	must(t, s.CreateIdentityProvider(ctx, oidc))
	wantCode(t, s.CreateIdentityProvider(ctx, newOIDCProvider("acme", "okta")), gatehouse.ECONFLICT)
	saml := &gatehouse.IdentityProvider{EnvironmentID: "acme", ID: "entra", Name: "Entra <ID> 'quoted'", Type: gatehouse.IdentityProviderSAML,
		SAML:        &gatehouse.SAMLSettings{MetadataXML: "<EntityDescriptor/>", UsernameAttribute: "upn", SignAuthnRequests: true},
		MFARequired: true, CreatedOn: now(), UpdatedOn: now()}
	must(t, s.CreateIdentityProvider(ctx, saml))

	got, err := s.GetIdentityProvider(ctx, "acme", "okta")
	must(t, err)
	if got.OIDC == nil || got.OIDC.Issuer != oidc.OIDC.Issuer || got.OIDC.UsernameClaim != "email" || len(got.OIDC.Scopes) != 2 ||
		!got.JITProvisioning || got.SAML != nil || !got.CreatedOn.Equal(oidc.CreatedOn) {
		t.Fatalf("OIDC provider read back as %+v (oidc %+v)", got, got.OIDC)
	}
	got, err = s.GetIdentityProvider(ctx, "acme", "entra")
	must(t, err)
	if got.SAML == nil || *got.SAML != *saml.SAML || got.Name != saml.Name || !got.MFARequired || got.OIDC != nil {
		t.Fatalf("SAML provider read back as %+v", got)
	}

	got.Name, got.SAML.SignAuthnRequests, got.UpdatedOn = "Entra", false, now().Add(time.Minute)
	must(t, s.UpdateIdentityProvider(ctx, got))
	again, err := s.GetIdentityProvider(ctx, "acme", "entra")
	must(t, err)
	if again.Name != "Entra" || again.SAML.SignAuthnRequests || !again.UpdatedOn.Equal(got.UpdatedOn) {
		t.Fatalf("update not kept: %+v", again)
	}
	list, err := s.ListIdentityProviders(ctx, "acme")
	must(t, err)
	if len(list) != 2 || list[0].ID != "entra" || list[1].ID != "okta" {
		t.Fatalf("list = %v", list)
	}
	wantCode(t, s.UpdateIdentityProvider(ctx, newOIDCProvider("acme", "missing")), gatehouse.ENOTFOUND)
	must(t, s.DeleteIdentityProvider(ctx, "acme", "okta"))
	_, err = s.GetIdentityProvider(ctx, "acme", "okta")
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteIdentityProvider(ctx, "acme", "okta"), gatehouse.ENOTFOUND)
}

func testIdentityProviderInUse(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	must(t, s.CreateIdentityProvider(ctx, newOIDCProvider("acme", "okta")))
	u := newCorporateUser("acme", "ann@corp.example", "okta")
	must(t, s.CreateUser(ctx, u))
	wantCode(t, s.DeleteIdentityProvider(ctx, "acme", "okta"), gatehouse.ECONFLICT)
	must(t, s.DeleteUser(ctx, "acme", u.ID))
	must(t, s.CreateDiscoveryRule(ctx, &gatehouse.DiscoveryRule{EnvironmentID: "acme", ID: "r", EmailDomain: "corp.example",
		IdentityProviderID: "okta", CreatedOn: now(), UpdatedOn: now()}))
	wantCode(t, s.DeleteIdentityProvider(ctx, "acme", "okta"), gatehouse.ECONFLICT)
	must(t, s.DeleteDiscoveryRule(ctx, "acme", "r"))
	must(t, s.DeleteIdentityProvider(ctx, "acme", "okta"))
}

func testDiscoveryRulesInOrder(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	must(t, s.CreateIdentityProvider(ctx, newOIDCProvider("acme", "okta")))
	for i, r := range []struct {
		id    string
		order int
	}{{"c", 20}, {"a", 10}, {"b", 10}} {
		d := &gatehouse.DiscoveryRule{EnvironmentID: "acme", ID: r.id, Order: r.order, Pattern: `.*@x` + r.id + `\.example`,
			IdentityProviderID: "okta", CreatedOn: now(), UpdatedOn: now()}
		if i == 0 {
			d.Pattern, d.EmailDomain = "", "corp.example"
		}
		must(t, s.CreateDiscoveryRule(ctx, d))
	}
	list, err := s.ListDiscoveryRules(ctx, "acme")
	must(t, err)
	if len(list) != 3 || list[0].ID != "a" || list[1].ID != "b" || list[2].ID != "c" || list[2].EmailDomain != "corp.example" {
		t.Fatalf("rules not in order, then id: %+v", list)
	}
	// A rule may not name an IdP that this environment does not have.
	wantCode(t, s.CreateDiscoveryRule(ctx, &gatehouse.DiscoveryRule{EnvironmentID: "acme", ID: "d", EmailDomain: "d.example",
		IdentityProviderID: "nope", CreatedOn: now(), UpdatedOn: now()}), gatehouse.EINVALID)
	r := list[2]
	r.Order = 1
	must(t, s.UpdateDiscoveryRule(ctx, r))
	list, err = s.ListDiscoveryRules(ctx, "acme")
	must(t, err)
	if list[0].ID != "c" {
		t.Fatalf("reordered rule not first: %+v", list[0])
	}
	r.IdentityProviderID = "nope"
	wantCode(t, s.UpdateDiscoveryRule(ctx, r), gatehouse.EINVALID)
	got, err := s.GetDiscoveryRule(ctx, "acme", "c")
	must(t, err)
	if got.IdentityProviderID != "okta" {
		t.Fatalf("refused update changed the rule: %+v", got)
	}
	wantCode(t, s.DeleteDiscoveryRule(ctx, "acme", "zzz"), gatehouse.ENOTFOUND)
}

func testLinkIdentity(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	must(t, s.CreateIdentityProvider(ctx, newOIDCProvider("acme", "okta")))
	must(t, s.CreateIdentityProvider(ctx, newOIDCProvider("acme", "google")))
	ann := newCorporateUser("acme", "ann@corp.example", "okta")
	bob := newCorporateUser("acme", "bob@corp.example", "okta")
	must(t, s.CreateUser(ctx, ann))
	must(t, s.CreateUser(ctx, bob))

	_, err := s.GetUserByIdentity(ctx, "acme", "okta", "sub-1")
	wantCode(t, err, gatehouse.ENOTFOUND)
	must(t, s.LinkIdentity(ctx, "acme", ann.ID, "sub-1"))
	got, err := s.GetUserByIdentity(ctx, "acme", "okta", "sub-1")
	must(t, err)
	if got.ID != ann.ID || got.Username != ann.Username {
		t.Fatalf("linked identity found %+v", got)
	}
	// The subject is the IdP's: another IdP's identical subject is someone else.
	_, err = s.GetUserByIdentity(ctx, "acme", "google", "sub-1")
	wantCode(t, err, gatehouse.ENOTFOUND)
	// One subject, one user.
	wantCode(t, s.LinkIdentity(ctx, "acme", bob.ID, "sub-1"), gatehouse.ECONFLICT)
	// A linked user stays linked to that subject: linking again is a no-op,
	// another subject is refused.
	must(t, s.LinkIdentity(ctx, "acme", ann.ID, "sub-1"))
	wantCode(t, s.LinkIdentity(ctx, "acme", ann.ID, "sub-2"), gatehouse.ECONFLICT)
	// A user moved to another IdP no longer answers for the old one's
	// subject, and the subject can be linked again.
	ann.IdentityProvider = "google"
	must(t, s.UpdateUser(ctx, ann))
	_, err = s.GetUserByIdentity(ctx, "acme", "okta", "sub-1")
	wantCode(t, err, gatehouse.ENOTFOUND)
	must(t, s.LinkIdentity(ctx, "acme", bob.ID, "sub-1"))
	must(t, s.LinkIdentity(ctx, "acme", ann.ID, "sub-g"))
	got, err = s.GetUserByIdentity(ctx, "acme", "okta", "sub-1")
	must(t, err)
	if got.ID != bob.ID {
		t.Fatalf("subject now links %s, want bob", got.Username)
	}
	wantCode(t, s.LinkIdentity(ctx, "acme", "missing", "sub-3"), gatehouse.ENOTFOUND)
	// Deleting the user deletes the link.
	must(t, s.DeleteUser(ctx, "acme", bob.ID))
	_, err = s.GetUserByIdentity(ctx, "acme", "okta", "sub-1")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testAssertionUsedOnce(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	a := &gatehouse.UsedAssertion{EnvironmentID: "acme", IdentityProviderID: "entra", ID: "_abc", ExpiresAt: now().Add(time.Minute)}
	must(t, s.UseAssertion(ctx, a))
	wantCode(t, s.UseAssertion(ctx, a), gatehouse.ECONFLICT)
	// The same id from another IdP is another assertion.
	must(t, s.UseAssertion(ctx, &gatehouse.UsedAssertion{EnvironmentID: "acme", IdentityProviderID: "okta", ID: "_abc", ExpiresAt: a.ExpiresAt}))
	// Concurrent uses: exactly one wins.
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			errs <- s.UseAssertion(ctx, &gatehouse.UsedAssertion{EnvironmentID: "acme", IdentityProviderID: "entra", ID: "_race", ExpiresAt: a.ExpiresAt})
		}()
	}
	wins := 0
	for range 8 {
		err := <-errs
		if err == nil {
			wins++
		} else if gatehouse.ErrorCode(err) != gatehouse.ECONFLICT {
			t.Fatalf("concurrent use: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one assertion succeeded, want 1", wins)
	}
	// Expired records go; the id stays refused until then.
	n, err := s.DeleteExpired(ctx, now().Add(2*time.Minute))
	must(t, err)
	if n < 3 {
		t.Fatalf("DeleteExpired removed %d rows, want the 3 used assertions", n)
	}
	must(t, s.UseAssertion(ctx, a))
}

func testFederationIsolated(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	must(t, s.CreateIdentityProvider(ctx, newOIDCProvider("acme", "okta")))
	_, err := s.GetIdentityProvider(ctx, "globex", "okta")
	wantCode(t, err, gatehouse.ENOTFOUND)
	// globex may use the same IdP id for its own IdP.
	must(t, s.CreateIdentityProvider(ctx, newOIDCProvider("globex", "okta")))
	// A globex rule can never point at acme's IdP: only globex's exists for it.
	must(t, s.DeleteIdentityProvider(ctx, "globex", "okta"))
	wantCode(t, s.CreateDiscoveryRule(ctx, &gatehouse.DiscoveryRule{EnvironmentID: "globex", ID: "r", EmailDomain: "corp.example",
		IdentityProviderID: "okta", CreatedOn: now(), UpdatedOn: now()}), gatehouse.EINVALID)
	u := newCorporateUser("acme", "ann@corp.example", "okta")
	must(t, s.CreateUser(ctx, u))
	must(t, s.LinkIdentity(ctx, "acme", u.ID, "sub"))
	_, err = s.GetUserByIdentity(ctx, "globex", "okta", "sub")
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.LinkIdentity(ctx, "globex", u.ID, "sub"), gatehouse.ENOTFOUND)
	list, err := s.ListIdentityProviders(ctx, "globex")
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("globex lists %d IdPs", len(list))
	}
}

func testLoginFlowWithUpstream(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	age := 30
	f := &gatehouse.LoginFlow{EnvironmentID: "acme", ID: "flow1", Binding: "b", Step: gatehouse.StepIdentifier,
		Request:   gatehouse.AuthorizationRequest{ClientID: "c", RedirectURI: "https://app.example/cb", State: "s", MaxAge: &age},
		CreatedOn: now(), ExpiresAt: now().Add(10 * time.Minute)}
	must(t, s.CreateLoginFlow(ctx, f))
	got, err := s.GetLoginFlow(ctx, "acme", "flow1")
	must(t, err)
	if got.Upstream != nil || !reflect.DeepEqual(got, f) {
		t.Fatalf("flow read back as %+v, want %+v", got, f)
	}
	f.Step, f.Username = gatehouse.StepUpstream, "ann@corp.example"
	f.Upstream = &gatehouse.UpstreamLogin{IdentityProviderID: "okta", StateHash: "h", Pending: `{"nonce":"n'\"<>"}`}
	must(t, s.UpdateLoginFlow(ctx, f))
	got, err = s.GetLoginFlow(ctx, "acme", "flow1")
	must(t, err)
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("flow read back as %+v, want %+v", got.Upstream, f.Upstream)
	}
	f.MFA = &gatehouse.MFALogin{AMR: []string{"pwd"}, Method: gatehouse.MethodWebAuthn, WebAuthnSession: []byte(`{"c":"x"}`),
		EmailSentAt: now()}
	f.Step, f.UserID = gatehouse.StepUpstreamDone, "u1"
	f.Upstream.AuthTime, f.Upstream.AMR, f.Upstream.Logout = now().Add(-time.Second), []string{"fed", "pwd"}, "hint"
	must(t, s.UpdateLoginFlow(ctx, f))
	got, err = s.GetLoginFlow(ctx, "acme", "flow1")
	must(t, err)
	if !reflect.DeepEqual(got.Upstream, f.Upstream) || !reflect.DeepEqual(got.MFA, f.MFA) || got.UserID != "u1" {
		t.Fatalf("upstream read back as %+v, want %+v", got.Upstream, f.Upstream)
	}
	_, err = s.GetLoginFlow(ctx, "globex", "flow1")
	wantCode(t, err, gatehouse.ENOTFOUND)
}
