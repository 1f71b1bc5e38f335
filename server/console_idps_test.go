package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestConsoleIdentityProviders: an environment administrator adds an OIDC
// and a SAML identity provider through the console's guided form, reads
// what to paste into Okta, Entra ID and Google, tests the connection,
// edits one keeping its secret, orders discovery rules, and deletes; bad
// input and another environment's ids change nothing.
func TestConsoleIdentityProviders(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	role := h.newRole("acme")
	b := newBrowser(t, h)
	list := consoleSignIn(t, b, "acme", "/console/acme/identity-providers", "eve@acme.example")
	if list.status != 200 || !strings.Contains(list.body, "<h1>Identity providers</h1>") || !strings.Contains(list.body, "No identity provider yet") ||
		!strings.Contains(list.body, `href="/console/acme/identity-providers"`) {
		t.Fatalf("identity providers page: %d\n%s", list.status, list.body)
	}
	csrf := consoleCSRFOf(t, list)
	post := func(path string, kv ...string) page {
		t.Helper()
		v := url.Values{"csrf": {csrf}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return b.do("POST", path, v)
	}
	count := func() int {
		t.Helper()
		idps, err := h.svc.ListIdentityProviders(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return len(idps)
	}

	// The guided form, OIDC: the environment globex is a real OIDC issuer.
	if p := b.do("GET", "/console/acme/identity-providers/new", nil); p.status != 200 || !strings.Contains(p.body, `id="issuer"`) ||
		!strings.Contains(p.body, `<label for="clientSecret">`) || !strings.Contains(p.body, role.Name) || strings.Contains(p.body, `value="`+gatehouse.RoleEnvironmentAdmin+`"`) {
		t.Fatalf("new OIDC form: %d\n%s", p.status, p.body)
	}
	issuer := h.ts.URL + "/globex"
	bad := post("/console/acme/identity-providers/new", "type", "OIDC", "name", "Acme Okta", "issuer", "ftp://okta.example", "clientId", "gh",
		"clientSecret", "top-secret-oidc")
	if bad.status != 400 || !strings.Contains(bad.body, "oidc.issuer must be an https URL") || !strings.Contains(bad.body, `value="Acme Okta"`) ||
		strings.Contains(bad.body, "top-secret-oidc") || count() != 0 {
		t.Fatalf("an OIDC IdP with a bad issuer: %d (%d IdPs)\n%s", bad.status, count(), bad.body)
	}
	if p := post("/console/acme/identity-providers/new", "type", "OIDC", "id", "Not A Slug", "name", "x", "issuer", issuer, "clientId", "gh"); p.status != 400 ||
		!strings.Contains(p.body, "lowercase letters") || count() != 0 {
		t.Fatalf("an IdP with a bad id: %d\n%s", p.status, p.body)
	}
	created := post("/console/acme/identity-providers/new", "type", "OIDC", "id", "okta", "name", "Acme Okta", "issuer", issuer, "clientId", "gh",
		"clientSecret", "top-secret-oidc", "scopes", "openid email", "usernameClaim", "email", "jitProvisioning", "on", "jitRoles", role.Name)
	if created.status != http.StatusSeeOther || created.header.Get("Location") != "/console/acme/identity-providers/okta?done=created" {
		t.Fatalf("create OIDC: %d %s\n%s", created.status, created.header.Get("Location"), created.body)
	}
	okta, err := h.svc.GetIdentityProvider(ctx, "acme", "okta")
	if err != nil || okta.OIDC.Issuer != issuer || okta.OIDC.UsernameClaim != "email" || strings.Join(okta.OIDC.Scopes, " ") != "openid email" ||
		!okta.JITProvisioning || len(okta.JITRoles) != 1 || okta.JITRoles[0] != role.Name || okta.MFARequired {
		t.Fatalf("stored OIDC IdP %+v %v", okta, err)
	}
	secret := func(id string) string {
		s, err := h.svc.OpenSecret(ctx, "acme", "identity-provider/"+id)
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	if secret("okta") != "top-secret-oidc" {
		t.Fatalf("stored secret %q", secret("okta"))
	}
	detail := b.do("GET", created.header.Get("Location"), nil)
	for _, want := range []string{"The identity provider is added.", h.ts.URL + "/acme/oidc/okta/callback", "Sign-in redirect URIs",
		"Redirect URI (Web)", "Authorized redirect URIs", "Test connection"} {
		if !strings.Contains(detail.body, want) {
			t.Fatalf("the OIDC IdP page lacks %q:\n%s", want, detail.body)
		}
	}
	if strings.Contains(detail.body, "top-secret-oidc") {
		t.Fatal("the IdP page shows the client secret")
	}
	if p := post("/console/acme/identity-providers/okta/test"); p.status != 200 || !strings.Contains(p.body, "Connection OK") {
		t.Fatalf("test of a reachable OIDC issuer: %d\n%s", p.status, p.body)
	}
	down := h.newIdentityProvider("acme")
	if p := post("/console/acme/identity-providers/" + down.ID + "/test"); p.status != 200 || !strings.Contains(p.body, "The connection test failed") ||
		!strings.Contains(p.body, "127.0.0.1:1") {
		t.Fatalf("test of an unreachable issuer: %d\n%s", p.status, p.body)
	}

	// Edit: an empty secret keeps the stored one; a refused edit keeps
	// the submitted values and changes nothing.
	edit := post("/console/acme/identity-providers/okta/edit", "name", "Okta (corp)", "issuer", issuer, "clientId", "gh2", "scopes", "openid profile",
		"mfaRequired", "on")
	if edit.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", edit.status, edit.body)
	}
	if v, _ := h.svc.GetIdentityProvider(ctx, "acme", "okta"); v.Name != "Okta (corp)" || v.OIDC.ClientID != "gh2" || !v.MFARequired || v.JITProvisioning ||
		secret("okta") != "top-secret-oidc" {
		t.Fatalf("after edit: %+v, secret %q", v, secret("okta"))
	}
	if p := post("/console/acme/identity-providers/okta/edit", "name", "Renamed", "issuer", issuer, "clientId", "gh3", "clientSecret", "another-secret",
		"scopes", "profile"); p.status != 400 || !strings.Contains(p.body, `must include &#34;openid&#34;`) || !strings.Contains(p.body, `value="Renamed"`) ||
		strings.Contains(p.body, "another-secret") {
		t.Fatalf("an edit without openid: %d\n%s", p.status, p.body)
	}
	if v, _ := h.svc.GetIdentityProvider(ctx, "acme", "okta"); v.Name != "Okta (corp)" || secret("okta") != "top-secret-oidc" {
		t.Fatalf("a refused edit changed the IdP: %+v", v)
	}

	// SAML, with pasted metadata: the entity id, ACS and metadata URLs, in
	// each vendor's words.
	if p := b.do("GET", "/console/acme/identity-providers/new?type=SAML", nil); !strings.Contains(p.body, `id="metadataXml"`) || strings.Contains(p.body, `id="issuer"`) {
		t.Fatalf("new SAML form:\n%s", p.body)
	}
	saml := post("/console/acme/identity-providers/new", "type", "SAML", "name", "Entra", "metadata", "xml",
		"metadataXml", idpMetadataXML(t, "https://idp.corp.example"), "signAuthnRequests", "on")
	if saml.status != http.StatusSeeOther {
		t.Fatalf("create SAML: %d\n%s", saml.status, saml.body)
	}
	entraID := strings.TrimSuffix(strings.TrimPrefix(saml.header.Get("Location"), "/console/acme/identity-providers/"), "?done=created")
	entra, err := h.svc.GetIdentityProvider(ctx, "acme", entraID)
	if err != nil || entra.SAML == nil || !entra.SAML.SignAuthnRequests || entra.SAML.MetadataXML == "" {
		t.Fatalf("stored SAML IdP %+v %v", entra, err)
	}
	sp := h.ts.URL + "/acme/saml/" + entraID
	detail = b.do("GET", saml.header.Get("Location"), nil)
	for _, want := range []string{sp + "/metadata", sp + "/acs", "Single sign-on URL", "Audience URI (SP Entity ID)", "Identifier (Entity ID)",
		"Reply URL (Assertion Consumer Service URL)", "ACS URL", "Entity ID"} {
		if !strings.Contains(detail.body, want) {
			t.Fatalf("the SAML IdP page lacks %q:\n%s", want, detail.body)
		}
	}
	if p := post("/console/acme/identity-providers/" + entraID + "/test"); !strings.Contains(p.body, "Connection OK") {
		t.Fatalf("test of pasted SAML metadata:\n%s", p.body)
	}
	if p := post("/console/acme/identity-providers/new", "type", "SAML", "name", "No metadata", "metadata", "url"); p.status != 400 ||
		!strings.Contains(p.body, "one of metadataXml or metadataUrl") || count() != 3 {
		t.Fatalf("a SAML IdP without metadata: %d\n%s", p.status, p.body)
	}
	// Big metadata (many certificates, long organisation blocks) fits the
	// console's form, which encoding makes up to three times larger; a form
	// beyond the console's limit is refused as too large, not as forged.
	big := strings.Replace(idpMetadataXML(t, "https://big.corp.example"), "</md:EntityDescriptor>",
		strings.Repeat("\n", 400<<10)+"</md:EntityDescriptor>", 1)
	bigIdP := post("/console/acme/identity-providers/new", "type", "SAML", "name", "Big", "metadata", "xml", "metadataXml", big)
	if bigIdP.status != http.StatusSeeOther || count() != 4 {
		t.Fatalf("400 KiB of metadata: %d\n%.2000s", bigIdP.status, bigIdP.body)
	}
	if p := post("/console/acme/identity-providers/new", "type", "SAML", "name", "Huge", "metadata", "xml",
		"metadataXml", strings.Repeat("<", 1<<20)); p.status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(p.body, "larger than the console takes (2 MiB): nothing was saved") || count() != 4 {
		t.Fatalf("a form over the limit: %d\n%.2000s", p.status, p.body)
	}
	if p := post(strings.TrimSuffix(bigIdP.header.Get("Location"), "?done=created") + "/delete"); p.status != http.StatusSeeOther || count() != 3 {
		t.Fatalf("delete the big IdP: %d", p.status)
	}

	// Discovery rules: add, refuse bad ones, order, delete.
	rules := func() []*gatehouse.DiscoveryRule {
		t.Helper()
		list, err := h.svc.ListDiscoveryRules(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if p := post("/console/acme/discovery-rules", "match", "domain", "value", "corp.example", "identityProviderId", "okta", "order", "10"); p.status != http.StatusSeeOther {
		t.Fatalf("add a domain rule: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/discovery-rules", "match", "pattern", "value", `.*@(eu|us)\.corp\.example`, "identityProviderId", entraID, "order", "20"); p.status != http.StatusSeeOther {
		t.Fatalf("add a pattern rule: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/discovery-rules", "match", "domain", "value", "not a domain", "identityProviderId", "okta", "order", "30"); p.status != 400 ||
		!strings.Contains(p.body, "emailDomain must be a domain name") || !strings.Contains(p.body, `value="not a domain"`) || len(rules()) != 2 {
		t.Fatalf("a bad domain: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/discovery-rules", "match", "domain", "value", "x.example", "identityProviderId", "okta", "order", "soon"); p.status != 400 ||
		!strings.Contains(p.body, "order must be a whole number") || len(rules()) != 2 {
		t.Fatalf("a bad order: %d\n%s", p.status, p.body)
	}
	got := rules()
	if got[0].EmailDomain != "corp.example" || got[0].IdentityProviderID != "okta" || got[1].Pattern == "" || got[1].IdentityProviderID != entraID {
		t.Fatalf("rules %+v %+v", got[0], got[1])
	}
	list = b.do("GET", "/console/acme/identity-providers", nil)
	if i, j := strings.Index(list.body, "@corp.example"), strings.Index(list.body, `(eu|us)`); i < 0 || j < 0 || i > j {
		t.Fatalf("the rules are not listed in order:\n%s", list.body)
	}
	if p := post("/console/acme/discovery-rules/"+got[1].ID+"/order", "order", "5"); p.status != http.StatusSeeOther {
		t.Fatalf("reorder: %d\n%s", p.status, p.body)
	}
	if now := rules(); now[0].ID != got[1].ID || now[0].Order != 5 {
		t.Fatalf("after reorder: %+v", now[0])
	}
	if p := post("/console/acme/discovery-rules/"+got[1].ID+"/order", "order", "-1"); p.status != 400 || !strings.Contains(p.body, "order must be between") {
		t.Fatalf("a negative order: %d\n%s", p.status, p.body)
	}
	if r, _ := h.svc.GetDiscoveryRule(ctx, "acme", got[1].ID); r.Order != 5 {
		t.Fatalf("a refused reorder changed the rule: %d", r.Order)
	}
	if route, _ := h.svc.RouteUsername(ctx, "acme", "ann@eu.corp.example"); route != entraID {
		t.Fatalf("ann@eu.corp.example goes to %q", route)
	}

	// Deleting an IdP a rule names is refused with the reason.
	if p := post("/console/acme/identity-providers/okta/delete"); p.status != http.StatusConflict || !strings.Contains(p.body, "still in use") || count() != 3 {
		t.Fatalf("delete an IdP in use: %d\n%s", p.status, p.body)
	}
	if p := post("/console/acme/discovery-rules/" + got[0].ID + "/delete"); p.status != http.StatusSeeOther || len(rules()) != 1 {
		t.Fatalf("delete a rule: %d (%d rules)", p.status, len(rules()))
	}
	if p := post("/console/acme/identity-providers/okta/delete"); p.status != http.StatusSeeOther || count() != 2 {
		t.Fatalf("delete an IdP: %d\n%s", p.status, p.body)
	}
	if p := b.do("GET", "/console/acme/identity-providers?done=deleted", nil); !strings.Contains(p.body, "The identity provider is deleted.") || strings.Contains(p.body, "Okta (corp)") {
		t.Fatalf("after delete:\n%s", p.body)
	}

	// A form without its CSRF token changes nothing.
	if p := b.do("POST", "/console/acme/identity-providers/new", url.Values{"type": {"OIDC"}, "name": {"x"}, "issuer": {issuer}, "clientId": {"c"}}); p.status != http.StatusForbidden || count() != 2 {
		t.Fatalf("a form without CSRF: %d", p.status)
	}
	if p := b.do("POST", "/console/acme/discovery-rules/"+got[1].ID+"/delete", url.Values{}); p.status != http.StatusForbidden || len(rules()) != 1 {
		t.Fatalf("a rule delete without CSRF: %d", p.status)
	}

	// Another environment's identity providers and rules are not here.
	other := h.newDiscoveryRule("globex")
	otherIdP := other.IdentityProviderID
	for _, tc := range []struct{ method, path string }{
		{"GET", "/console/acme/identity-providers/" + otherIdP},
		{"POST", "/console/acme/identity-providers/" + otherIdP + "/test"},
		{"POST", "/console/acme/identity-providers/" + otherIdP + "/edit"},
		{"POST", "/console/acme/identity-providers/" + otherIdP + "/delete"},
		{"POST", "/console/acme/discovery-rules/" + other.ID + "/order"},
		{"POST", "/console/acme/discovery-rules/" + other.ID + "/delete"},
	} {
		var p page
		if tc.method == "GET" {
			p = b.do("GET", tc.path, nil)
		} else {
			p = post(tc.path, "name", "Stolen", "issuer", issuer, "clientId", "x", "order", "1")
		}
		if p.status != http.StatusNotFound {
			t.Fatalf("%s %s: %d\n%s", tc.method, tc.path, p.status, p.body)
		}
	}
	if p := post("/console/acme/discovery-rules", "match", "domain", "value", "steal.example", "identityProviderId", otherIdP, "order", "1"); p.status != 400 ||
		!strings.Contains(p.body, "no identity provider") || len(rules()) != 1 {
		t.Fatalf("a rule to another environment's IdP: %d\n%s", p.status, p.body)
	}
	if v, err := h.svc.GetIdentityProvider(ctx, "globex", otherIdP); err != nil || v.Name == "Stolen" {
		t.Fatalf("globex's IdP after acme's console: %+v %v", v, err)
	}
	if r, err := h.svc.GetDiscoveryRule(ctx, "globex", other.ID); err != nil || r.Order != other.Order {
		t.Fatalf("globex's rule after acme's console: %+v %v", r, err)
	}
	events, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{TargetID: "okta", Limit: 10})
	if len(events) < 3 || events[0].ActorType != gatehouse.ActorUser {
		t.Fatalf("console changes are audited as the administrator: %+v", events)
	}
}

// TestConsoleIdentityProvidersRoles: READ_ONLY reads and tests the
// connection but is offered no form and refused every change; a
// USER_ADMIN does not see the section at all.
func TestConsoleIdentityProvidersRoles(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	consoleAdmin(t, h, "acme", "hal@acme.example", gatehouse.RoleUserAdmin)
	rule := h.newDiscoveryRule("acme")
	idp := rule.IdentityProviderID

	ro := newBrowser(t, h)
	list := consoleSignIn(t, ro, "acme", "/console/acme/identity-providers", "rita@acme.example")
	if list.status != 200 || !strings.Contains(list.body, idp) || strings.Contains(list.body, "Add an identity provider") ||
		strings.Contains(list.body, "/discovery-rules") {
		t.Fatalf("READ_ONLY's list: %d\n%s", list.status, list.body)
	}
	detail := ro.do("GET", "/console/acme/identity-providers/"+idp, nil)
	if detail.status != 200 || strings.Contains(detail.body, "/edit") || strings.Contains(detail.body, "/delete") || !strings.Contains(detail.body, "/test") {
		t.Fatalf("READ_ONLY's IdP page: %d\n%s", detail.status, detail.body)
	}
	csrf := consoleCSRFOf(t, detail)
	if p := ro.do("GET", "/console/acme/identity-providers/new", nil); p.status != http.StatusForbidden {
		t.Fatalf("READ_ONLY opens the new IdP form: %d", p.status)
	}
	for _, path := range []string{"/console/acme/identity-providers/new", "/console/acme/identity-providers/" + idp + "/edit",
		"/console/acme/identity-providers/" + idp + "/delete", "/console/acme/discovery-rules",
		"/console/acme/discovery-rules/" + rule.ID + "/order", "/console/acme/discovery-rules/" + rule.ID + "/delete"} {
		p := ro.do("POST", path, url.Values{"csrf": {csrf}, "type": {"OIDC"}, "name": {"Changed"}, "issuer": {"https://x.example"}, "clientId": {"c"},
			"order": {"1"}, "value": {"x.example"}, "identityProviderId": {idp}})
		if p.status != http.StatusForbidden {
			t.Fatalf("READ_ONLY POST %s: %d", path, p.status)
		}
	}
	idps, _ := h.svc.ListIdentityProviders(ctx, "acme")
	rules, _ := h.svc.ListDiscoveryRules(ctx, "acme")
	if len(idps) != 1 || idps[0].Name == "Changed" || len(rules) != 1 || rules[0].Order != rule.Order {
		t.Fatalf("READ_ONLY changed something: %+v %+v", idps[0], rules)
	}
	if p := ro.do("POST", "/console/acme/identity-providers/"+idp+"/test", url.Values{"csrf": {csrf}}); p.status != 200 ||
		!strings.Contains(p.body, "The connection test failed") {
		t.Fatalf("READ_ONLY tests the connection: %d\n%s", p.status, p.body)
	}

	ua := newBrowser(t, h)
	users := consoleSignIn(t, ua, "acme", "/console/acme/users", "hal@acme.example")
	if strings.Contains(users.body, "/identity-providers") {
		t.Fatal("a USER_ADMIN is offered the identity providers")
	}
	if p := ua.do("GET", "/console/acme/identity-providers", nil); p.status != http.StatusForbidden {
		t.Fatalf("a USER_ADMIN opens the identity providers: %d", p.status)
	}
}
