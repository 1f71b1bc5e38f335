package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// ghIdP runs an idp command with --output json and returns the IdP.
func ghIdP(t testing.TB, dir, stdin string, args ...string) service.IdentityProviderView {
	t.Helper()
	r := mustGHIn(t, dir, stdin, append(args, "--output", "json")...)
	return decodeJSON[service.IdentityProviderView](t, r)
}

// idpIDs lists the ids of an environment's IdPs.
func idpIDs(t testing.TB, dir, env string) []string {
	t.Helper()
	var ids []string
	for _, v := range decodeJSON[[]service.IdentityProviderView](t, mustGH(t, dir, nil, "idp", "list", "--env", env, "--output", "json")) {
		ids = append(ids, v.ID)
	}
	return ids
}

// ruleIDs lists the ids of an environment's discovery rules, in order.
func ruleIDs(t testing.TB, dir, env string) []string {
	t.Helper()
	var ids []string
	for _, d := range decodeJSON[[]gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, "rule", "list", "--env", env, "--output", "json")) {
		ids = append(ids, d.ID)
	}
	return ids
}

// idpSecret opens the client secret the store keeps for an IdP.
func idpSecret(t testing.TB, dir, env, id string) string {
	t.Helper()
	_, svc := openStore(t, dir)
	secret, err := svc.OpenSecret(context.Background(), env, "identity-provider/"+id)
	if err != nil {
		t.Fatalf("opening the secret of %s: %v", id, err)
	}
	return string(secret)
}

func TestCLIFederationOIDCIdP(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	mustGH(t, dir, nil, "env", "create", "globex")
	const secret = "Client-Secret-0f3a9c"
	const base = "https://sso.example.com"
	baseEnv := []string{"GATEHOUSE_BASE_URL=" + base}

	// Text output: the IdP, then the redirect URI to register at the IdP,
	// built on the configured base URL; the secret is never echoed.
	r := runGH(t, dir, baseEnv, secret+"\n", "idp", "create", "--env", "acme", "--name", "Acme Okta", "--type", "OIDC",
		"--issuer", "https://login.acme.example", "--client-id", "gatehouse-acme", "--client-secret-stdin")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ids := idpIDs(t, dir, "acme")
	if len(ids) != 1 {
		t.Fatalf("idp list after create: %v", ids)
	}
	okta := ids[0]
	for _, want := range []string{"Created identity provider Acme Okta (id " + okta + ")", "https://login.acme.example",
		"gatehouse-acme", "openid profile email", "Register these at the identity provider:",
		"Redirect URI:  " + base + "/acme/oidc/" + okta + "/callback"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create printed no %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatal("create echoed the client secret")
	}

	// JSON output is the IdP view, without the secret.
	r = mustGHIn(t, dir, secret+"\n", "idp", "create", "--env", "acme", "--name", "Acme Entra", "--type", "oidc",
		"--issuer", "https://entra.acme.example/v2.0", "--client-id", "app-1", "--client-secret-stdin",
		"--scope", "openid", "--scope", "email", "--username-claim", "upn", "--jit-provisioning", "--jit-role", "STORE_ASSISTANT",
		"--mfa-required", "--output", "json")
	entra := decodeJSON[service.IdentityProviderView](t, r)
	if strings.Contains(r.stdout+r.stderr, secret) || strings.Contains(r.stdout, "clientSecret") {
		t.Fatalf("create --output json shows the secret:\n%s", r.stdout)
	}
	if entra.Type != "OIDC" || entra.Name != "Acme Entra" || entra.EnvironmentID != "acme" || entra.OIDC == nil ||
		entra.OIDC.Issuer != "https://entra.acme.example/v2.0" || entra.OIDC.ClientID != "app-1" ||
		strings.Join(entra.OIDC.Scopes, " ") != "openid email" || entra.OIDC.UsernameClaim != "upn" ||
		!entra.JITProvisioning || !slices.Equal(entra.JITRoles, []string{"STORE_ASSISTANT"}) || !entra.MFARequired ||
		entra.Endpoints.RedirectURI != "http://127.0.0.1:8080/acme/oidc/"+entra.ID+"/callback" || entra.Endpoints.ACSURL != "" {
		t.Fatalf("create --output json: %s", r.stdout)
	}

	// show: neither form shows the secret, which is kept encrypted.
	for _, args := range [][]string{{"--output", "json"}, nil} {
		r = mustGH(t, dir, baseEnv, append([]string{"idp", "show", okta, "--env", "acme"}, args...)...)
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, "clientSecret") {
			t.Fatalf("show %v shows the secret:\n%s", args, r.stdout)
		}
		if !strings.Contains(r.stdout, base+"/acme/oidc/"+okta+"/callback") {
			t.Errorf("show %v lacks the redirect URI:\n%s", args, r.stdout)
		}
	}
	if got := idpSecret(t, dir, "acme", okta); got != secret {
		t.Fatalf("stored secret %q, want the one read from stdin", got)
	}

	// update changes only what is given: the OIDC settings are edited, not
	// replaced, and the secret is kept unless a new one comes on stdin.
	v := ghIdP(t, dir, "", "idp", "update", okta, "--env", "acme", "--client-id", "gatehouse-acme-2")
	if v.OIDC.ClientID != "gatehouse-acme-2" || v.OIDC.Issuer != "https://login.acme.example" || v.Name != "Acme Okta" ||
		strings.Join(v.OIDC.Scopes, " ") != "openid profile email" || v.JITProvisioning || !v.UpdatedOn.After(v.CreatedOn) {
		t.Fatalf("update --client-id: %+v %+v", v.IdentityProvider, v.OIDC)
	}
	if got := idpSecret(t, dir, "acme", okta); got != secret {
		t.Fatalf("update without a secret changed it to %q", got)
	}
	v = ghIdP(t, dir, "", "idp", "update", okta, "--env", "acme", "--scope", "openid", "--scope", "groups",
		"--username-claim", "email", "--name", "Okta", "--jit-provisioning", "--jit-role", "ADMIN")
	if v.OIDC.ClientID != "gatehouse-acme-2" || v.OIDC.Issuer != "https://login.acme.example" || v.Name != "Okta" ||
		strings.Join(v.OIDC.Scopes, " ") != "openid groups" || v.OIDC.UsernameClaim != "email" || !v.JITProvisioning ||
		!slices.Equal(v.JITRoles, []string{"ADMIN"}) {
		t.Fatalf("update --scope …: %+v %+v", v.IdentityProvider, v.OIDC)
	}
	v = ghIdP(t, dir, "", "idp", "update", okta, "--env", "acme", "--no-jit-roles", "--jit-provisioning=false")
	if len(v.JITRoles) != 0 || v.JITProvisioning || v.OIDC.UsernameClaim != "email" {
		t.Fatalf("update --no-jit-roles: %+v", v.IdentityProvider)
	}
	const secret2 = "Rotated-Secret-77e1"
	r = mustGHIn(t, dir, secret2+"\r\n", "idp", "update", okta, "--env", "acme", "--client-secret-stdin")
	if strings.Contains(r.stdout+r.stderr, secret2) || !strings.Contains(r.stdout, "Updated identity provider Okta") {
		t.Fatalf("update --client-secret-stdin printed:\n%s%s", r.stdout, r.stderr)
	}
	if got := idpSecret(t, dir, "acme", okta); got != secret2 {
		t.Fatalf("stored secret %q after update, want the new one", got)
	}
	if v := ghIdP(t, dir, "", "idp", "show", okta, "--env", "acme"); v.OIDC.ClientID != "gatehouse-acme-2" || v.Name != "Okta" {
		t.Fatalf("the secret's update changed other settings: %+v", v.OIDC)
	}

	// list, in both forms.
	r = mustGH(t, dir, nil, "idp", "list", "--env", "acme")
	for _, want := range []string{"ID", "NAME", "TYPE", okta, "Okta", entra.ID, "Acme Entra", "https://entra.acme.example/v2.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("idp list lacks %q:\n%s", want, r.stdout)
		}
	}

	// Another environment sees none of acme's IdPs.
	if ids := idpIDs(t, dir, "globex"); len(ids) != 0 {
		t.Fatalf("globex lists %v", ids)
	}
	wantFail(t, gh(t, dir, nil, "idp", "show", okta, "--env", "globex"), 1, "identity provider \""+okta+"\" not found in environment globex")
	wantFail(t, gh(t, dir, nil, "idp", "update", okta, "--env", "globex", "--name", "stolen"), 1, "not found in environment globex")
	wantFail(t, gh(t, dir, nil, "idp", "delete", okta, "--env", "globex", "--yes"), 1, "not found in environment globex")
	wantFail(t, gh(t, dir, nil, "idp", "test", okta, "--env", "globex"), 1, "not found in environment globex")
	wantFail(t, gh(t, dir, nil, "idp", "show", okta, "--env", "nowhere"), 1, "not found")
	if v := ghIdP(t, dir, "", "idp", "show", okta, "--env", "acme"); v.Name != "Okta" {
		t.Fatalf("a command on globex changed acme's IdP: %+v", v.IdentityProvider)
	}

	// An OIDC IdP has no SP metadata.
	wantFail(t, gh(t, dir, nil, "idp", "metadata", okta, "--env", "acme"), 1, "only SAML identity providers")
}

// fakeOIDCProvider serves a discovery document and a key set, enough for
// `idp test`.
func fakeOIDCProvider(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	point := pub.Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := map[string]any{"keys": []map[string]any{{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
		"x": b64(point[1:33]), "y": b64(point[33:])}}}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{
				"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
				"jwks_uri": srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"ES256"},
				"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			})
		case "/jwks":
			json.NewEncoder(w).Encode(jwks)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCLIFederationIdPTest(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	srv := fakeOIDCProvider(t)
	up := ghIdP(t, dir, "s\n", "idp", "create", "--env", "acme", "--name", "Up", "--type", "OIDC",
		"--issuer", srv.URL, "--client-id", "c", "--client-secret-stdin")
	down := ghIdP(t, dir, "s\n", "idp", "create", "--env", "acme", "--name", "Down", "--type", "OIDC",
		"--issuer", "http://"+freeAddr(t), "--client-id", "c", "--client-secret-stdin")

	r := mustGH(t, dir, nil, "idp", "test", up.ID, "--env", "acme")
	if !strings.Contains(r.stdout, "Identity provider Up (id "+up.ID+") answered") {
		t.Fatalf("test of a working IdP printed:\n%s", r.stdout)
	}
	if ok := decodeJSON[map[string]any](t, mustGH(t, dir, nil, "idp", "test", up.ID, "--env", "acme", "--output", "json")); ok["ok"] != true || ok["id"] != up.ID {
		t.Fatalf("test --output json: %v", ok)
	}

	r = gh(t, dir, nil, "idp", "test", down.ID, "--env", "acme")
	wantFail(t, r, 1, "identity provider Down (id "+down.ID+") failed the test", "discovery document")
	r = gh(t, dir, nil, "idp", "test", down.ID, "--env", "acme", "--output", "json")
	wantFail(t, r, 1, "failed the test")
	if res := decodeJSON[map[string]any](t, r); res["ok"] != false || !strings.Contains(fmt.Sprint(res["problem"]), "discovery document") {
		t.Fatalf("failed test --output json: %v", res)
	}

	// An issuer whose discovery document names another issuer fails too.
	wrong := ghIdP(t, dir, "s\n", "idp", "create", "--env", "acme", "--name", "Wrong", "--type", "OIDC",
		"--issuer", srv.URL+"/", "--client-id", "c", "--client-secret-stdin")
	wantFail(t, gh(t, dir, nil, "idp", "test", wrong.ID, "--env", "acme"), 1, "failed the test")
	wantFail(t, gh(t, dir, nil, "idp", "test", "nope", "--env", "acme"), 1, `identity provider "nope" not found`)
}

func TestCLIFederationBadInput(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	mustGH(t, dir, nil, "env", "create", "globex")
	acmeIdP := ghIdP(t, dir, "", "idp", "create", "--env", "acme", "--name", "Corp", "--type", "OIDC",
		"--issuer", "https://login.corp.example", "--client-id", "c")
	globexIdP := ghIdP(t, dir, "", "idp", "create", "--env", "globex", "--name", "Globex", "--type", "OIDC",
		"--issuer", "https://login.globex.example", "--client-id", "c")
	rule := decodeJSON[gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, "rule", "create", "--env", "acme", "--idp", acmeIdP.ID,
		"--email-domain", "corp.example", "--output", "json"))
	notXML := filepath.Join(dir, "not-xml.xml")
	if err := os.WriteFile(notXML, []byte("this is { not xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	metadata := filepath.Join(dir, "idp-metadata.xml")
	if err := os.WriteFile(metadata, []byte(idpMetadataXML(t, "https://idp.corp.example/saml")), 0o600); err != nil {
		t.Fatal(err)
	}
	oidc := []string{"idp", "create", "--env", "acme", "--name", "X", "--type", "OIDC", "--client-id", "c"}
	saml := []string{"idp", "create", "--env", "acme", "--name", "X", "--type", "SAML"}
	with := func(base []string, more ...string) []string { return append(slices.Clone(base), more...) }

	for _, c := range []struct {
		stdin  string
		args   []string
		code   int
		phrase string
	}{
		// idp create
		{"", []string{"idp", "create", "--env", "acme", "--name", "X", "--type", "LDAP"}, 2, `--type must be OIDC or SAML, not "LDAP"`},
		{"", []string{"idp", "create", "--env", "acme", "--name", "X"}, 2, "--type is required"},
		{"", []string{"idp", "create", "--env", "acme", "--type", "OIDC", "--issuer", "https://a.example", "--client-id", "c"}, 2, "--name is required"},
		{"", []string{"idp", "create", "--name", "X", "--type", "OIDC", "--issuer", "https://a.example", "--client-id", "c"}, 2, "--env is required"},
		{"", with(saml, "--metadata-url", "https://idp.corp.example/md", "--metadata-file", metadata), 2, "give --metadata-url or --metadata-file, not both"},
		{"", saml, 2, "needs --metadata-url or --metadata-file"},
		{"", with(saml, "--metadata-file", notXML), 1, "is not XML metadata"},
		{"", with(saml, "--metadata-file", filepath.Join(dir, "missing.xml")), 1, "no such file"},
		{"{]", with(saml, "--metadata-file", "-"), 1, "standard input is not XML metadata"},
		{"", with(saml, "--metadata-file", metadata, "--issuer", "https://a.example"), 2, "--issuer is for OIDC identity providers"},
		{"s\n", with(saml, "--metadata-file", metadata, "--client-secret-stdin"), 2, "--client-secret-stdin is for OIDC"},
		{"", with(oidc), 2, "--issuer is required"},
		{"", []string{"idp", "create", "--env", "acme", "--name", "X", "--type", "OIDC", "--issuer", "https://a.example"}, 2, "--client-id is required"},
		{"", with(oidc, "--issuer", "ftp://login.corp.example"), 1, "issuer must be an https URL"},
		{"", with(oidc, "--issuer", "login.corp.example"), 1, "issuer must be an https URL"},
		{"", with(oidc, "--issuer", "http://login.corp.example"), 1, "http is allowed only on loopback"},
		{"", with(oidc, "--issuer", "https://a.example", "--client-secret", "shh"), 2, "unknown flag: --client-secret"},
		{"", with(oidc, "--issuer", "https://a.example", "--client-secret-stdin"), 2, "standard input holds no client secret"},
		{"", with(oidc, "--issuer", "https://a.example", "--metadata-url", "https://a.example/md"), 2, "--metadata-url is for SAML identity providers"},
		{"", with(oidc, "--issuer", "https://a.example", "--scope", "profile"), 1, `must include "openid"`},
		{"", with(oidc, "--issuer", "https://a.example", "--jit-role", "ADMIN"), 2, "--jit-role goes with --jit-provisioning"},
		{"", with(oidc, "--issuer", "https://a.example", "--jit-provisioning", "--jit-role", "NOPE"), 1, "role NOPE is not defined"},
		{"", with(oidc, "--issuer", "https://a.example", "--jit-provisioning", "--jit-role", "ENVIRONMENT_ADMIN"), 1, "administrator role"},
		{"", with(oidc, "--issuer", "https://a.example", "--output", "yaml"), 2, "--output must be"},
		// idp update
		{"", []string{"idp", "update", acmeIdP.ID, "--env", "acme"}, 2, "nothing to change"},
		{"", []string{"idp", "update", acmeIdP.ID, "--env", "acme", "--type", "SAML"}, 2, "unknown flag: --type"},
		{"", []string{"idp", "update", acmeIdP.ID, "--env", "acme", "--metadata-url", "https://a.example/md"}, 2, "--metadata-url is for SAML identity providers, and this one is OIDC"},
		{"", []string{"idp", "update", acmeIdP.ID, "--env", "acme", "--issuer", "mailto:x@corp.example"}, 1, "issuer must be an https URL"},
		{"", []string{"idp", "update", acmeIdP.ID, "--env", "acme", "--client-id", ""}, 1, "clientId is required"},
		{"", []string{"idp", "update", acmeIdP.ID, "--env", "acme", "--jit-role", "ADMIN", "--no-jit-roles"}, 2, "not both"},
		{"", []string{"idp", "update", "nope", "--env", "acme", "--name", "Y"}, 1, `identity provider "nope" not found in environment acme`},
		{"", []string{"idp", "show", "--env", "acme"}, 2, "expects ID"},
		{"", []string{"idp", "delete", acmeIdP.ID, "--env", "acme"}, 2, "deleting identity provider " + acmeIdP.ID},
		// rule create and update
		{"", []string{"rule", "create", "--env", "acme", "--idp", acmeIdP.ID, "--email-domain", "a.example", "--pattern", ".*"}, 2, "give --email-domain or --pattern, not both"},
		{"", []string{"rule", "create", "--env", "acme", "--idp", acmeIdP.ID}, 2, "give --email-domain or --pattern"},
		{"", []string{"rule", "create", "--env", "acme", "--email-domain", "a.example"}, 2, "--idp is required"},
		{"", []string{"rule", "create", "--env", "acme", "--idp", globexIdP.ID, "--email-domain", "a.example"}, 1, `--idp: no identity provider "` + globexIdP.ID + `" in environment acme`},
		{"", []string{"rule", "create", "--env", "acme", "--idp", "nope", "--email-domain", "a.example"}, 1, `no identity provider "nope"`},
		{"", []string{"rule", "create", "--env", "acme", "--idp", acmeIdP.ID, "--pattern", "(unclosed"}, 1, "pattern is not a regular expression"},
		{"", []string{"rule", "create", "--env", "acme", "--idp", acmeIdP.ID, "--email-domain", "not a domain"}, 1, "emailDomain must be a domain name"},
		{"", []string{"rule", "create", "--env", "acme", "--idp", acmeIdP.ID, "--email-domain", "a.example", "--order", "-1"}, 1, "order must be between"},
		{"", []string{"rule", "update", rule.ID, "--env", "acme"}, 2, "nothing to change"},
		{"", []string{"rule", "update", rule.ID, "--env", "acme", "--email-domain", "a.example", "--pattern", ".*"}, 2, "not both"},
		{"", []string{"rule", "update", rule.ID, "--env", "acme", "--pattern", "[z-a]"}, 1, "pattern is not a regular expression"},
		{"", []string{"rule", "update", rule.ID, "--env", "acme", "--idp", globexIdP.ID}, 1, "no identity provider"},
		{"", []string{"rule", "update", rule.ID, "--env", "globex", "--order", "1"}, 1, `discovery rule "` + rule.ID + `" not found in environment globex`},
		{"", []string{"rule", "delete", rule.ID, "--env", "globex"}, 1, "not found in environment globex"},
		{"", []string{"rule", "delete", "nope", "--env", "acme"}, 1, `discovery rule "nope" not found`},
		// users naming an IdP
		{"", []string{"user", "create", "bob@corp.example", "--env", "acme", "--identity-provider", "nope"}, 1, `no identity provider "nope" in this environment`},
		{"", []string{"user", "create", "bob@corp.example", "--env", "acme", "--identity-provider", globexIdP.ID}, 1, "no identity provider"},
	} {
		t.Run(strings.Join(c.args[:2], " "), func(t *testing.T) {
			r := ghIn(t, dir, c.stdin, c.args...)
			wantFail(t, r, c.code, c.phrase)
			if r.stdout != "" {
				t.Errorf("a refused command printed:\n%s", r.stdout)
			}
		})
	}

	// Nothing was stored or changed.
	if ids := idpIDs(t, dir, "acme"); !slices.Equal(ids, []string{acmeIdP.ID}) {
		t.Errorf("acme's IdPs after refused commands: %v", ids)
	}
	if ids := idpIDs(t, dir, "globex"); !slices.Equal(ids, []string{globexIdP.ID}) {
		t.Errorf("globex's IdPs after refused commands: %v", ids)
	}
	v := ghIdP(t, dir, "", "idp", "show", acmeIdP.ID, "--env", "acme")
	if v.Name != "Corp" || v.OIDC.Issuer != "https://login.corp.example" || v.OIDC.ClientID != "c" || len(v.JITRoles) != 0 || !v.UpdatedOn.Equal(acmeIdP.UpdatedOn) {
		t.Errorf("acme's IdP after refused updates: %+v %+v", v.IdentityProvider, v.OIDC)
	}
	rules := decodeJSON[[]gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, "rule", "list", "--env", "acme", "--output", "json"))
	if len(rules) != 1 || rules[0].ID != rule.ID || rules[0].EmailDomain != "corp.example" || rules[0].Pattern != "" ||
		rules[0].IdentityProviderID != acmeIdP.ID || rules[0].Order != rule.Order {
		t.Errorf("acme's rules after refused commands: %+v", rules)
	}
	if ids := ruleIDs(t, dir, "globex"); len(ids) != 0 {
		t.Errorf("globex's rules: %v", ids)
	}
	wantFail(t, gh(t, dir, nil, "user", "get", "bob@corp.example", "--env", "acme"), 1, "not found")
}

func TestCLIFederationRules(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	a := ghIdP(t, dir, "", "idp", "create", "--env", "acme", "--name", "Corp A", "--type", "OIDC", "--issuer", "https://a.example", "--client-id", "c")
	b := ghIdP(t, dir, "", "idp", "create", "--env", "acme", "--name", "Corp B", "--type", "OIDC", "--issuer", "https://b.example", "--client-id", "c")
	create := func(args ...string) gatehouse.DiscoveryRule {
		t.Helper()
		return decodeJSON[gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, append([]string{"rule", "create", "--env", "acme", "--output", "json"}, args...)...))
	}

	// Without --order a rule goes after the last one; ties keep creation
	// order.
	r1 := create("--idp", a.ID, "--email-domain", "@Corp.Example")
	if r1.Order != 10 || r1.EmailDomain != "corp.example" || r1.IdentityProviderID != a.ID || r1.Pattern != "" || r1.EnvironmentID != "acme" {
		t.Fatalf("rule create: %+v", r1)
	}
	r2 := create("--idp", b.ID, "--pattern", `.*@eu\.corp\.example`, "--order", "5")
	r3 := create("--idp", b.ID, "--email-domain", "other.example", "--order", "10")
	r4 := create("--idp", a.ID, "--pattern", "contractor-.*")
	if r2.Order != 5 || r2.Pattern != `.*@eu\.corp\.example` || r4.Order != 20 {
		t.Fatalf("orders: r2 %d, r4 %d", r2.Order, r4.Order)
	}
	if got, want := ruleIDs(t, dir, "acme"), []string{r2.ID, r1.ID, r3.ID, r4.ID}; !slices.Equal(got, want) {
		t.Fatalf("rule list order %v, want %v", got, want)
	}
	r := mustGH(t, dir, nil, "rule", "list", "--env", "acme")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "ORDER") || !strings.Contains(lines[1], r2.ID) ||
		!strings.Contains(lines[2], r1.ID) || !strings.Contains(lines[2], "*@corp.example") || !strings.Contains(lines[2], "Corp A") ||
		!strings.Contains(lines[3], r3.ID) || !strings.Contains(lines[4], r4.ID) || !strings.Contains(lines[4], "contractor-.*") {
		t.Fatalf("text rule list:\n%s", r.stdout)
	}

	// update: --order moves a rule; a pattern replaces a domain and back;
	// --idp re-points it; what is not given is kept.
	up := decodeJSON[gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, "rule", "update", r4.ID, "--env", "acme", "--order", "1", "--output", "json"))
	if up.Order != 1 || up.Pattern != "contractor-.*" || up.IdentityProviderID != a.ID {
		t.Fatalf("update --order: %+v", up)
	}
	up = decodeJSON[gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, "rule", "update", r1.ID, "--env", "acme", "--pattern", "x-.*", "--output", "json"))
	if up.Pattern != "x-.*" || up.EmailDomain != "" || up.Order != 10 || up.IdentityProviderID != a.ID {
		t.Fatalf("update --pattern: %+v", up)
	}
	up = decodeJSON[gatehouse.DiscoveryRule](t, mustGH(t, dir, nil, "rule", "update", r1.ID, "--env", "acme", "--email-domain", "corp.example", "--idp", b.ID, "--output", "json"))
	if up.Pattern != "" || up.EmailDomain != "corp.example" || up.IdentityProviderID != b.ID || up.Order != 10 {
		t.Fatalf("update --email-domain --idp: %+v", up)
	}
	if got, want := ruleIDs(t, dir, "acme"), []string{r4.ID, r2.ID, r1.ID, r3.ID}; !slices.Equal(got, want) {
		t.Fatalf("rule list order after updates %v, want %v", got, want)
	}
	r = mustGH(t, dir, nil, "rule", "update", r3.ID, "--env", "acme", "--order", "3")
	if !strings.Contains(r.stdout, "Updated discovery rule "+r3.ID) {
		t.Fatalf("text update:\n%s", r.stdout)
	}

	// An IdP is not deleted while a rule names it.
	wantFail(t, gh(t, dir, nil, "idp", "delete", a.ID, "--env", "acme"), 2, "deleting identity provider "+a.ID, "--yes")
	wantFail(t, gh(t, dir, nil, "idp", "delete", a.ID, "--env", "acme", "--yes"), 1, "still in use", "1 discovery rules")
	r = mustGH(t, dir, nil, "rule", "delete", r4.ID, "--env", "acme")
	if !strings.Contains(r.stdout, "Deleted discovery rule "+r4.ID) {
		t.Fatalf("rule delete printed:\n%s", r.stdout)
	}
	if got, want := ruleIDs(t, dir, "acme"), []string{r3.ID, r2.ID, r1.ID}; !slices.Equal(got, want) {
		t.Fatalf("rule list after delete %v, want %v", got, want)
	}
	wantFail(t, gh(t, dir, nil, "rule", "delete", r4.ID, "--env", "acme"), 1, "not found")

	// Nor while a user signs in there.
	bob := ghUser(t, dir, "user", "create", "bob@corp.example", "--env", "acme", "--identity-provider", a.ID)
	if bob.IdentityProvider != a.ID || bob.PasswordState != gatehouse.PasswordExternal {
		t.Fatalf("corporate user: %+v", bob)
	}
	wantFail(t, gh(t, dir, nil, "idp", "delete", a.ID, "--env", "acme", "--yes"), 1, "still in use", "1 users")
	if ids := idpIDs(t, dir, "acme"); !slices.Contains(ids, a.ID) {
		t.Fatal("a refused delete removed the IdP")
	}
	mustGH(t, dir, nil, "user", "delete", "bob@corp.example", "--env", "acme", "--yes")
	del := decodeJSON[map[string]any](t, mustGH(t, dir, nil, "idp", "delete", a.ID, "--env", "acme", "--yes", "--output", "json"))
	if del["id"] != a.ID || del["deleted"] != true {
		t.Fatalf("idp delete --output json: %v", del)
	}
	wantFail(t, gh(t, dir, nil, "idp", "show", a.ID, "--env", "acme"), 1, "not found")
	if ids := idpIDs(t, dir, "acme"); !slices.Equal(ids, []string{b.ID}) {
		t.Fatalf("IdPs after delete: %v", ids)
	}
	// The deleted IdP can no longer be named.
	wantFail(t, gh(t, dir, nil, "user", "create", "carol@corp.example", "--env", "acme", "--identity-provider", a.ID), 1, "no identity provider")
	wantFail(t, gh(t, dir, nil, "rule", "create", "--env", "acme", "--idp", a.ID, "--email-domain", "a.example"), 1, "no identity provider")

	// The audit log has the changes.
	mustGH(t, dir, nil, "idp", "update", b.ID, "--env", "acme", "--mfa-required")
	r = mustGH(t, dir, nil, "audit", "list", "--env", "acme", "--output", "json")
	for _, action := range []string{service.ActionIdPCreated, service.ActionIdPUpdated, service.ActionIdPDeleted,
		service.ActionRuleCreated, service.ActionRuleUpdated, service.ActionRuleDeleted} {
		if !strings.Contains(r.stdout, action) {
			t.Errorf("the audit log has no %s", action)
		}
	}
}

// idpMetadataXML is the metadata of a SAML IdP: an IDPSSODescriptor with a
// signing certificate (self-signed, made now) and an HTTP-Redirect
// single sign-on service.
func idpMetadataXML(t testing.TB, entityID string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp.corp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + entityID + `">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>` + base64.StdEncoding.EncodeToString(der) + `</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.corp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`
}

func TestCLIFederationSAMLIdP(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	const base = "https://sso.example.com"
	baseEnv := []string{"GATEHOUSE_BASE_URL=" + base}
	md := idpMetadataXML(t, "https://idp.corp.example/saml")
	path := filepath.Join(dir, "idp-metadata.xml")
	if err := os.WriteFile(path, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}

	r := gh(t, dir, baseEnv, "idp", "create", "--env", "acme", "--name", "Corp ADFS", "--type", "SAML", "--metadata-file", path,
		"--username-attribute", "upn", "--sign-authn-requests")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ids := idpIDs(t, dir, "acme")
	if len(ids) != 1 {
		t.Fatalf("idp list: %v", ids)
	}
	id := ids[0]
	saml := base + "/acme/saml/" + id
	for _, want := range []string{"Created identity provider Corp ADFS", "Type:", "SAML", "given inline", "upn",
		"Register these at the identity provider:", "Entity ID:", saml + "/metadata", "Metadata URL:", "ACS URL:", saml + "/acs"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create printed no %q:\n%s", want, r.stdout)
		}
	}
	v := ghIdP(t, dir, "", "idp", "show", id, "--env", "acme")
	if v.Type != "SAML" || v.SAML == nil || v.OIDC != nil || v.SAML.MetadataXML != md || v.SAML.MetadataURL != "" ||
		v.SAML.UsernameAttribute != "upn" || !v.SAML.SignAuthnRequests || v.Endpoints.RedirectURI != "" ||
		v.Endpoints.ACSURL != "http://127.0.0.1:8080/acme/saml/"+id+"/acs" || v.Endpoints.EntityID != "http://127.0.0.1:8080/acme/saml/"+id+"/metadata" ||
		v.Endpoints.MetadataURL != v.Endpoints.EntityID {
		t.Fatalf("show: %+v %+v %+v", v.IdentityProvider, v.SAML, v.Endpoints)
	}

	// Gatehouse's SP metadata for the IdP names the ACS URL and entity id.
	r = mustGH(t, dir, baseEnv, "idp", "metadata", id, "--env", "acme")
	for _, want := range []string{"EntityDescriptor", "SPSSODescriptor", `entityID="` + saml + `/metadata"`, saml + "/acs", "X509Certificate"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("SP metadata lacks %q:\n%s", want, r.stdout)
		}
	}
	spMetadata := r.stdout
	mdJSON := decodeJSON[map[string]string](t, mustGH(t, dir, baseEnv, "idp", "metadata", id, "--env", "acme", "--output", "json"))
	if mdJSON["id"] != id || mdJSON["metadataUrl"] != saml+"/metadata" || !strings.Contains(mdJSON["metadataXml"], saml+"/acs") {
		t.Fatalf("metadata --output json: %v", mdJSON)
	}

	// update keeps the settings not given, and Gatehouse's key with them:
	// the SP metadata the IdP was given stays valid.
	v = ghIdP(t, dir, "", "idp", "update", id, "--env", "acme", "--username-attribute", "email", "--mfa-required")
	if v.SAML.MetadataXML != md || !v.SAML.SignAuthnRequests || v.SAML.UsernameAttribute != "email" || !v.MFARequired {
		t.Fatalf("update --username-attribute: %+v", v.SAML)
	}
	if r := mustGH(t, dir, baseEnv, "idp", "metadata", id, "--env", "acme"); r.stdout != spMetadata {
		t.Errorf("the SP metadata changed with an update:\n%s\nthen\n%s", spMetadata, r.stdout)
	}
	v = ghIdP(t, dir, "", "idp", "update", id, "--env", "acme", "--metadata-url", "https://idp.corp.example/metadata", "--sign-authn-requests=false")
	if v.SAML.MetadataXML != "" || v.SAML.MetadataURL != "https://idp.corp.example/metadata" || v.SAML.SignAuthnRequests || v.SAML.UsernameAttribute != "email" {
		t.Fatalf("update --metadata-url: %+v", v.SAML)
	}
	md2 := idpMetadataXML(t, "https://idp2.corp.example/saml")
	v = ghIdP(t, dir, md2, "idp", "update", id, "--env", "acme", "--metadata-file", "-")
	if v.SAML.MetadataXML != md2 || v.SAML.MetadataURL != "" {
		t.Fatalf("update --metadata-file -: %+v", v.SAML)
	}
	wantFail(t, gh(t, dir, nil, "idp", "update", id, "--env", "acme", "--issuer", "https://a.example"), 2, "--issuer is for OIDC identity providers, and this one is SAML")

	// Metadata from stdin, and metadata by URL (read at first use, not now).
	fromStdin := ghIdP(t, dir, md, "idp", "create", "--env", "acme", "--name", "Stdin", "--type", "saml", "--metadata-file", "-")
	if fromStdin.SAML.MetadataXML != md {
		t.Fatalf("--metadata-file -: %+v", fromStdin.SAML)
	}
	byURL := ghIdP(t, dir, "", "idp", "create", "--env", "acme", "--name", "By URL", "--type", "SAML",
		"--metadata-url", "https://idp.corp.example/federationmetadata.xml")
	if byURL.SAML.MetadataURL != "https://idp.corp.example/federationmetadata.xml" || byURL.SAML.MetadataXML != "" ||
		byURL.Endpoints.ACSURL != "http://127.0.0.1:8080/acme/saml/"+byURL.ID+"/acs" {
		t.Fatalf("--metadata-url: %+v %+v", byURL.SAML, byURL.Endpoints)
	}

	// XML that is not IdP metadata is refused by the connector, and
	// nothing is stored.
	bad := filepath.Join(dir, "not-idp.xml")
	os.WriteFile(bad, []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`), 0o600)
	wantFail(t, gh(t, dir, nil, "idp", "create", "--env", "acme", "--name", "Bad", "--type", "SAML", "--metadata-file", bad), 1, "no SAML 2.0 identity provider")
	os.WriteFile(bad, []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`), 0o600)
	wantFail(t, gh(t, dir, nil, "idp", "create", "--env", "acme", "--name", "Bad", "--type", "SAML", "--metadata-file", bad), 1, "DOCTYPE")
	wantFail(t, gh(t, dir, nil, "idp", "create", "--env", "acme", "--name", "Bad", "--type", "SAML", "--metadata-url", "file:///etc/passwd"), 1, "metadataUrl must be an https URL")
	if ids := idpIDs(t, dir, "acme"); len(ids) != 3 {
		t.Fatalf("IdPs after refused creates: %v", ids)
	}
}
