package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	mathbig "math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// idpMetadataXML is a SAML IdP's metadata with a fresh signing certificate.
var serialOne = new(mathbig.Int).SetInt64(1)

func idpMetadataXML(t *testing.T, entityID string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serialOne, Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + entityID + `">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + base64.StdEncoding.EncodeToString(der) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + entityID + `/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>`
}

// TestIdentityProviderAPI: the identity-providers and discovery-rules
// resources, with the URLs an administrator gives the IdP, write-only
// secrets, and refusals that change nothing.
func TestIdentityProviderAPI(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	token := h.tokens["acme"][envAdmin]
	base := "/environments/acme"

	r := h.do("POST", base+"/identity-providers", token, `{"name":"Okta","type":"OIDC","oidc":{"issuer":"http://127.0.0.1:1/okta",
		"clientId":"gh","clientSecret":"top-secret-value","usernameClaim":"email"},"jitProvisioning":false}`)
	wantStatus(t, "create OIDC", r, 201)
	if strings.Contains(r.body, "top-secret-value") {
		t.Fatalf("the client secret was answered: %s", r)
	}
	var okta service.IdentityProviderView
	r.decode(t, &okta)
	if okta.ID == "" || r.header.Get("Location") != "/api/v1"+base+"/identity-providers/"+okta.ID ||
		okta.Endpoints.RedirectURI != h.ts.URL+"/acme/oidc/"+okta.ID+"/callback" || okta.OIDC.UsernameClaim != "email" ||
		strings.Join(okta.OIDC.Scopes, " ") != "openid profile email" {
		t.Fatalf("created OIDC IdP: %s", r)
	}
	secret := func() string {
		b, err := h.svc.OpenSecret(ctx, "acme", "identity-provider/"+okta.ID)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if secret() != "top-secret-value" {
		t.Fatalf("stored secret %q", secret())
	}
	// An edit without the secret keeps it; one with it replaces it.
	r = h.do("PATCH", base+"/identity-providers/"+okta.ID, token, `{"name":"Okta (corp)","oidc":{"issuer":"http://127.0.0.1:1/okta2","clientId":"gh2"}}`)
	wantStatus(t, "patch without secret", r, 200)
	if secret() != "top-secret-value" || !strings.Contains(r.body, `"issuer":"http://127.0.0.1:1/okta2"`) || !strings.Contains(r.body, `"name":"Okta (corp)"`) {
		t.Fatalf("patch: %s (secret %q)", r, secret())
	}
	wantStatus(t, "patch secret", h.do("PATCH", base+"/identity-providers/"+okta.ID, token, `{"oidc":{"issuer":"http://127.0.0.1:1/okta2","clientId":"gh2","clientSecret":"new-one"}}`), 200)
	if secret() != "new-one" {
		t.Fatalf("secret after rotation %q", secret())
	}
	wantProblem(t, "type change", h.do("PATCH", base+"/identity-providers/"+okta.ID, token, `{"type":"SAML","saml":{"metadataUrl":"https://x.example/md"}}`),
		400, gatehouse.EINVALID, "type cannot change")
	// The test connection says what is wrong without failing the call.
	r = h.do("POST", base+"/identity-providers/"+okta.ID+"/test", token, "")
	if r.status != 200 || !strings.Contains(r.body, `"ok":false`) || !strings.Contains(r.body, "127.0.0.1:1") {
		t.Fatalf("test of an unreachable IdP: %s", r)
	}

	// An administrator may name the id; it then reads in the IdP's URLs.
	r = h.do("POST", base+"/identity-providers", token, `{"id":"google","name":"Google","type":"OIDC","oidc":{"issuer":"https://accounts.google.com","clientId":"c"}}`)
	wantStatus(t, "create with an id", r, 201)
	if !strings.Contains(r.body, `"redirectUri":"`+h.ts.URL+`/acme/oidc/google/callback"`) {
		t.Fatalf("named IdP: %s", r)
	}
	wantProblem(t, "the same id twice", h.do("POST", base+"/identity-providers", token, `{"id":"google","name":"G","type":"OIDC","oidc":{"issuer":"https://accounts.google.com","clientId":"c"}}`),
		409, gatehouse.ECONFLICT, "already exists")
	wantProblem(t, "id change", h.do("PATCH", base+"/identity-providers/google", token, `{"id":"gmail"}`), 400, gatehouse.EINVALID, "cannot change")
	wantStatus(t, "the same id in another environment", h.do("POST", "/environments/globex/identity-providers", h.tokens["globex"][envAdmin],
		`{"id":"google","name":"Google","type":"OIDC","oidc":{"issuer":"https://accounts.google.com","clientId":"c"}}`), 201)

	md := idpMetadataXML(t, "https://idp.corp.example")
	body, _ := json.Marshal(map[string]any{"name": "Entra", "type": "SAML", "saml": map[string]any{"metadataXml": md, "signAuthnRequests": true}})
	r = h.do("POST", base+"/identity-providers", token, string(body))
	wantStatus(t, "create SAML", r, 201)
	var entra service.IdentityProviderView
	r.decode(t, &entra)
	spBase := h.ts.URL + "/acme/saml/" + entra.ID
	if entra.Endpoints.EntityID != spBase+"/metadata" || entra.Endpoints.MetadataURL != spBase+"/metadata" || entra.Endpoints.ACSURL != spBase+"/acs" {
		t.Fatalf("SAML endpoints %+v", entra.Endpoints)
	}
	resp, err := http.Get(spBase + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	var spMetadata strings.Builder
	buf := make([]byte, 64<<10)
	n, _ := resp.Body.Read(buf)
	spMetadata.Write(buf[:n])
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" ||
		!strings.Contains(spMetadata.String(), `Location="`+spBase+`/acs"`) || !strings.Contains(spMetadata.String(), `entityID="`+spBase+`/metadata"`) ||
		!strings.Contains(spMetadata.String(), "X509Certificate") {
		t.Fatalf("SP metadata: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), spMetadata.String())
	}
	// An OIDC IdP has no SP metadata; another environment has none of acme's.
	for _, path := range []string{"/acme/saml/" + okta.ID + "/metadata", "/globex/saml/" + entra.ID + "/metadata", "/acme/saml/nope/metadata"} {
		if resp, err := http.Get(h.ts.URL + path); err != nil || resp.StatusCode != 404 {
			t.Errorf("GET %s: %v %v", path, resp.StatusCode, err)
		}
	}

	before := h.snapshot("acme")
	for _, c := range []struct{ name, body, detail string }{
		{"no type", `{"name":"x"}`, "type must be"},
		{"unknown type", `{"name":"x","type":"LDAP"}`, "type must be"},
		{"OIDC without settings", `{"name":"x","type":"OIDC"}`, `takes "oidc" settings`},
		{"OIDC with SAML settings", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"},"saml":{"metadataUrl":"https://a.example/md"}}`, `no "saml"`},
		{"issuer not http", `{"name":"x","type":"OIDC","oidc":{"issuer":"javascript:alert(1)","clientId":"c"}}`, "oidc.issuer must be"},
		{"issuer over plain http", `{"name":"x","type":"OIDC","oidc":{"issuer":"http://idp.example","clientId":"c"}}`, "must be an https URL"},
		{"metadata over plain http", `{"name":"x","type":"SAML","saml":{"metadataUrl":"http://10.0.0.5/md"}}`, "must be an https URL"},
		{"issuer with credentials", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://u:p@a.example","clientId":"c"}}`, "without credentials"},
		{"no client id", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example"}}`, "clientId is required"},
		{"scopes without openid", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c","scopes":["email"]}}`, `include "openid"`},
		{"bad claim name", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c","usernameClaim":"a b"}}`, "usernameClaim"},
		{"unknown OIDC field", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c","secret":"s"}}`, "secret"},
		{"SAML with both", `{"name":"x","type":"SAML","saml":{"metadataUrl":"https://a.example/md","metadataXml":"<x/>"}}`, "one of metadataXml or metadataUrl"},
		{"SAML with neither", `{"name":"x","type":"SAML","saml":{}}`, "one of metadataXml or metadataUrl"},
		{"SAML metadata not XML", `{"name":"x","type":"SAML","saml":{"metadataXml":"hello"}}`, "metadata"},
		{"SAML metadata with a DTD", `{"name":"x","type":"SAML","saml":{"metadataXml":"<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"}}`, "metadata"},
		{"empty name", `{"name":"  ","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"}}`, "name is required"},
		{"JIT admin role", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"},"jitRoles":["ENVIRONMENT_ADMIN"]}`, "administrator role"},
		{"JIT unknown role", `{"name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"},"jitRoles":["NOPE"]}`, "not defined"},
		{"id not a slug", `{"id":"Mine!","name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"}}`, "lowercase"},
		{"id local", `{"id":"local","name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"}}`, "reserved"},
		{"id new (the console's form)", `{"id":"new","name":"x","type":"OIDC","oidc":{"issuer":"https://a.example","clientId":"c"}}`, "reserved"},
	} {
		wantProblem(t, c.name, h.do("POST", base+"/identity-providers", token, c.body), 400, gatehouse.EINVALID, c.detail)
	}
	oversized := `{"name":"x","type":"SAML","saml":{"metadataXml":"` + strings.Repeat("a", gatehouse.MaxMetadataXML+1) + `"}}`
	wantProblem(t, "oversized metadata", h.do("POST", base+"/identity-providers", token, oversized), 400, gatehouse.EINVALID, "larger than")
	if after := h.snapshot("acme"); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("refused creations changed acme")
	}

	// Rules: in order, one kind each, only to acme's own IdPs.
	r = h.do("POST", base+"/discovery-rules", token, `{"order":5,"emailDomain":"@Corp.Example","identityProviderId":"`+okta.ID+`"}`)
	wantStatus(t, "create rule", r, 201)
	var rule gatehouse.DiscoveryRule
	r.decode(t, &rule)
	if rule.EmailDomain != "corp.example" || rule.Order != 5 {
		t.Fatalf("rule %s", r)
	}
	wantStatus(t, "create pattern rule", h.do("POST", base+"/discovery-rules", token, `{"order":1,"pattern":"store-[0-9]+@.*","identityProviderId":"`+entra.ID+`"}`), 201)
	var list struct{ Items []gatehouse.DiscoveryRule }
	h.do("GET", base+"/discovery-rules", token, "").decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Pattern == "" || list.Items[1].ID != rule.ID {
		t.Fatalf("rules in order: %+v", list.Items)
	}
	globexIdP := h.newIdentityProvider("globex")
	for _, c := range []struct{ name, body, detail string }{
		{"both kinds", `{"emailDomain":"a.example","pattern":".*","identityProviderId":"` + okta.ID + `"}`, "one of emailDomain or pattern"},
		{"neither", `{"identityProviderId":"` + okta.ID + `"}`, "one of emailDomain or pattern"},
		{"bad domain", `{"emailDomain":"not a domain","identityProviderId":"` + okta.ID + `"}`, "domain name"},
		{"bad pattern", `{"pattern":"(","identityProviderId":"` + okta.ID + `"}`, "not a regular expression"},
		{"negative order", `{"order":-1,"emailDomain":"a.example","identityProviderId":"` + okta.ID + `"}`, "order"},
		{"unknown IdP", `{"emailDomain":"a.example","identityProviderId":"nope"}`, "no identity provider"},
		{"another environment's IdP", `{"emailDomain":"a.example","identityProviderId":"` + globexIdP.ID + `"}`, "no identity provider"},
	} {
		wantProblem(t, "rule: "+c.name, h.do("POST", base+"/discovery-rules", token, c.body), 400, gatehouse.EINVALID, c.detail)
	}
	r = h.do("PATCH", base+"/discovery-rules/"+rule.ID, token, `{"pattern":".*@corp\\.example"}`)
	wantStatus(t, "patch rule to a pattern", r, 200)
	var patched gatehouse.DiscoveryRule
	r.decode(t, &patched)
	if patched.EmailDomain != "" || patched.Pattern != `.*@corp\.example` || patched.Order != 5 {
		t.Fatalf("patched rule %+v", patched)
	}

	// An IdP in use is not deleted.
	wantProblem(t, "delete an IdP a rule names", h.do("DELETE", base+"/identity-providers/"+okta.ID, token, ""), 409, gatehouse.ECONFLICT, "discovery rules")
	wantStatus(t, "delete rule", h.do("DELETE", base+"/discovery-rules/"+rule.ID, token, ""), 204)
	r = h.do("POST", base+"/users", token, `{"username":"ann@corp.example","identityProvider":"`+okta.ID+`"}`)
	wantStatus(t, "corporate user", r, 201)
	wantProblem(t, "delete an IdP a user names", h.do("DELETE", base+"/identity-providers/"+okta.ID, token, ""), 409, gatehouse.ECONFLICT, "1 users")
	var ann gatehouse.User
	r.decode(t, &ann)
	wantStatus(t, "delete user", h.do("DELETE", base+"/users/"+ann.ID, token, ""), 204)
	wantStatus(t, "delete IdP", h.do("DELETE", base+"/identity-providers/"+okta.ID, token, ""), 204)
	wantProblem(t, "get deleted IdP", h.do("GET", base+"/identity-providers/"+okta.ID, token, ""), 404, gatehouse.ENOTFOUND)
	if _, err := h.svc.Store.GetSecret(ctx, "acme", "identity-provider/"+okta.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the deleted IdP's secret is kept: %v", err)
	}
	events, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{Limit: 100})
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Action] = true
	}
	for _, a := range []string{service.ActionIdPCreated, service.ActionIdPUpdated, service.ActionIdPDeleted, service.ActionRuleCreated,
		service.ActionRuleUpdated, service.ActionRuleDeleted} {
		if !seen[a] {
			t.Errorf("no %s audit event", a)
		}
	}
}
