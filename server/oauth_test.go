package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// userGrantReply is the password and refresh grants' response.
type userGrantReply struct {
	tokenReply
	RefreshToken string   `json:"refresh_token"`
	RetailerID   string   `json:"Retailer_id"`
	FirstName    string   `json:"FirstName"`
	LastName     string   `json:"LastName"`
	Roles        []string `json:"Roles"`
}

// apiUserSetup makes an api-user application with refresh tokens and an API
// user whose password is usable (an administrator set it without a forced
// change).
func apiUserSetup(t *testing.T, h *apiHarness) (*service.CreatedApplication, *gatehouse.User) {
	t.Helper()
	ctx := context.Background()
	app, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "integration", Type: gatehouse.AppTypeAPIUser,
		ApplicationSettings: gatehouse.ApplicationSettings{RefreshTokens: true}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{
		Username: "inventory-sync", Type: gatehouse.UserTypeAPI, FirstName: "Inventory", LastName: "Sync", PrimaryRetailer: "r-42",
		Roles: []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}, {Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l2"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SetPassword(ctx, service.OperatorActor(), "acme", u.ID, "api-secret-1", false); err != nil {
		t.Fatal(err)
	}
	return app, u
}

func (h *apiHarness) passwordGrant(app *service.CreatedApplication, username, password string) (*apiResponse, userGrantReply) {
	h.t.Helper()
	r := h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "password", "username", username, "password", password,
		"client_id", app.ClientID, "client_secret", app.ClientSecret, "scope", "api"), nil)
	var reply userGrantReply
	json.Unmarshal([]byte(r.body), &reply)
	return r, reply
}

func TestPasswordGrantForAPIUsers(t *testing.T) {
	h := newAPI(t)
	app, u := apiUserSetup(t, h)

	// Old clients send everything in the query string, on /oauth/token.
	r := h.tokenRequest("/acme/oauth/token", form("grant_type", "password", "username", "INVENTORY-SYNC", "password", "api-secret-1",
		"client_id", app.ClientID, "client_secret", app.ClientSecret, "scope", "api"), "", nil)
	var reply userGrantReply
	r.decode(t, &reply)
	if r.status != http.StatusOK || reply.TokenType != "bearer" || reply.ExpiresIn != 86400 || reply.Scope != "api" ||
		reply.RefreshToken == "" || reply.RetailerID != "r-42" || reply.FirstName != "Inventory" || reply.LastName != "Sync" ||
		strings.Join(reply.Roles, ",") != "ADMIN,STORE_ASSISTANT" {
		t.Fatalf("password grant: %s", r)
	}
	claims := h.introspect(app, reply.AccessToken)
	if claims["active"] != true || claims["sub"] != u.ID || claims["username"] != "inventory-sync" || claims["env"] != "acme" {
		t.Fatalf("introspection of the API user's token: %v", claims)
	}

	local := h.newUser("acme", nil, "initial-pw-1")
	h.svc.SetPassword(context.Background(), service.OperatorActor(), "acme", local.ID, "local-pw-1", false)
	mustChange, err := h.svc.CreateUser(context.Background(), service.OperatorActor(), "acme", service.NewUser{
		User: gatehouse.User{Username: "new-api", Type: gatehouse.UserTypeAPI}, Password: "first-pw-1"})
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, username, password, code, phrase string
	}{
		{"wrong password", "inventory-sync", "nope", "invalid_grant", "not right"},
		{"unknown user", "nobody", "nope", "invalid_grant", "not right"},
		{"a user who is not an API user", local.Username, "local-pw-1", "invalid_grant", "API users only"},
		{"a password that must be changed", mustChange.Username, "first-pw-1", "invalid_grant", "must be changed"},
		{"missing password", "inventory-sync", "", "invalid_request", "required"},
	}
	for _, tc := range refusals {
		r, reply := h.passwordGrant(app, tc.username, tc.password)
		if r.status != http.StatusBadRequest || reply.Error != tc.code || !strings.Contains(reply.ErrorDescription, tc.phrase) {
			t.Errorf("%s: %s", tc.name, r)
		}
	}
	service := h.apps["acme"][gatehouse.RoleEnvironmentAdmin]
	r = h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "password", "username", "inventory-sync", "password", "api-secret-1"),
		basicAuth(service.ClientID, service.ClientSecret))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "unauthorized_client") {
		t.Errorf("a service application used the password grant: %s", r)
	}

	// Lockout: after the policy's five failures the right password is refused too.
	for range 4 {
		h.passwordGrant(app, "inventory-sync", "wrong")
	}
	if r, _ := h.passwordGrant(app, "inventory-sync", "api-secret-1"); r.status != http.StatusBadRequest {
		t.Fatalf("a locked-out API user got a token: %s", r)
	}
	if got, _ := h.svc.GetUser(context.Background(), "acme", u.ID); got.PasswordState != gatehouse.PasswordLockedOut {
		t.Fatalf("password state %s after five failures", got.PasswordState)
	}
}

func (h *apiHarness) introspect(app *service.CreatedApplication, token string) map[string]any {
	h.t.Helper()
	r := h.tokenRequest("/acme/oauth2/introspect", "", form("token", token), basicAuth(app.ClientID, app.ClientSecret))
	if r.status != http.StatusOK {
		h.t.Fatalf("introspect: %s", r)
	}
	var out map[string]any
	r.decode(h.t, &out)
	return out
}

func TestRefreshTokensRotateAndReuseRevokesTheFamily(t *testing.T) {
	h := newAPI(t)
	app, _ := apiUserSetup(t, h)
	_, first := h.passwordGrant(app, "inventory-sync", "api-secret-1")
	refresh := func(token string, a *service.CreatedApplication) (*apiResponse, userGrantReply) {
		r := h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "refresh_token", "refresh_token", token), basicAuth(a.ClientID, a.ClientSecret))
		var reply userGrantReply
		json.Unmarshal([]byte(r.body), &reply)
		return r, reply
	}
	r, second := refresh(first.RefreshToken, app)
	if r.status != http.StatusOK || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatalf("refresh: %s", r)
	}
	other, _ := h.svc.CreateApplication(context.Background(), service.OperatorActor(), "acme", gatehouse.Application{Name: "other", Type: gatehouse.AppTypeAPIUser,
		ApplicationSettings: gatehouse.ApplicationSettings{RefreshTokens: true}})
	if r, reply := refresh(second.RefreshToken, other); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Fatalf("another client's refresh token: %s", r)
	}
	if r, reply := refresh(first.RefreshToken, app); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Fatalf("a used refresh token: %s", r)
	}
	// The reuse revoked the whole family: the newest token is dead too.
	if r, _ := refresh(second.RefreshToken, app); r.status != http.StatusBadRequest {
		t.Fatalf("the family survived a reuse: %s", r)
	}
	if got := h.introspect(app, second.RefreshToken); got["active"] != false {
		t.Fatalf("introspection of a revoked refresh token: %v", got)
	}
}

func TestIntrospectionAndRevocation(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	app, u := apiUserSetup(t, h)
	_, tokens := h.passwordGrant(app, "inventory-sync", "api-secret-1")
	if got := h.introspect(app, tokens.RefreshToken); got["active"] != true || got["token_type"] != "refresh_token" {
		t.Fatalf("refresh token: %v", got)
	}
	for _, garbage := range []string{"x", strings.Repeat("a", 5000), tokens.AccessToken + "x", h.tokens["globex"][gatehouse.RoleEnvironmentAdmin]} {
		if got := h.introspect(app, garbage); got["active"] != false || len(got) != 1 {
			t.Errorf("introspection of %.20s…: %v", garbage, got)
		}
	}
	if r := h.tokenRequest("/acme/oauth2/introspect", "", form("token", tokens.AccessToken), basicAuth(app.ClientID, "wrong")); r.status != http.StatusUnauthorized {
		t.Errorf("introspection with a wrong secret: %s", r)
	}

	// Revoking the access token: only the client it was issued to can.
	other := h.apps["acme"][gatehouse.RoleEnvironmentAdmin]
	h.tokenRequest("/acme/oauth2/revoke", "", form("token", tokens.AccessToken), basicAuth(other.ClientID, other.ClientSecret))
	if got := h.introspect(app, tokens.AccessToken); got["active"] != true {
		t.Fatalf("another client revoked the token: %v", got)
	}
	if r := h.tokenRequest("/acme/oauth2/revoke", "", form("token", tokens.AccessToken), basicAuth(app.ClientID, app.ClientSecret)); r.status != http.StatusOK {
		t.Fatalf("revoke: %s", r)
	}
	if got := h.introspect(app, tokens.AccessToken); got["active"] != false {
		t.Fatalf("a revoked access token is active: %v", got)
	}
	h.tokenRequest("/acme/oauth2/revoke", "", form("token", tokens.RefreshToken), basicAuth(app.ClientID, app.ClientSecret))
	if got := h.introspect(app, tokens.RefreshToken); got["active"] != false {
		t.Fatalf("a revoked refresh token is active: %v", got)
	}
	if r := h.tokenRequest("/acme/oauth2/revoke", "", form("token", "unknown"), basicAuth(app.ClientID, app.ClientSecret)); r.status != http.StatusOK {
		t.Fatalf("revoking an unknown token must answer 200: %s", r)
	}

	// A password change, and disabling the user, end what was issued before.
	_, again := h.passwordGrant(app, "inventory-sync", "api-secret-1")
	time.Sleep(1100 * time.Millisecond) // token times are whole seconds
	if _, err := h.svc.SetPassword(ctx, service.OperatorActor(), "acme", u.ID, "api-secret-2", false); err != nil {
		t.Fatal(err)
	}
	if got := h.introspect(app, again.AccessToken); got["active"] != false {
		t.Fatalf("an access token from before a password change is active: %v", got)
	}
	if got := h.introspect(app, again.RefreshToken); got["active"] != false {
		t.Fatalf("a refresh token from before a password change is active: %v", got)
	}
	_, fresh := h.passwordGrant(app, "inventory-sync", "api-secret-2")
	inactive := gatehouse.UserInactive
	if _, err := h.svc.UpdateUser(ctx, service.OperatorActor(), "acme", u.ID, service.UserPatch{Status: &inactive}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{fresh.AccessToken, fresh.RefreshToken} {
		if got := h.introspect(app, tok); got["active"] != false {
			t.Fatalf("a disabled user's token is active: %v", got)
		}
	}
}

func TestDiscoveryDocument(t *testing.T) {
	h := newAPI(t)
	get := func(path string) *apiResponse {
		req, _ := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
		return h.send(req)
	}
	r := get("/acme/.well-known/openid-configuration")
	var doc map[string]any
	r.decode(t, &doc)
	issuer := h.ts.URL + "/acme"
	for key, want := range map[string]string{
		"issuer": issuer, "jwks_uri": issuer + "/oauth2/jwks", "token_endpoint": issuer + "/oauth2/token",
		"authorization_endpoint": issuer + "/oauth2/authorize", "introspection_endpoint": issuer + "/oauth2/introspect",
		"revocation_endpoint": issuer + "/oauth2/revoke",
	} {
		if doc[key] != want {
			t.Errorf("%s = %v, want %s", key, doc[key], want)
		}
	}
	if methods, _ := json.Marshal(doc["code_challenge_methods_supported"]); string(methods) != `["S256"]` {
		t.Errorf("code_challenge_methods_supported = %s", methods)
	}
	if r := get("/nowhere/.well-known/openid-configuration"); r.status != http.StatusNotFound {
		t.Errorf("discovery of an unknown environment: %s", r)
	}
}

// TestBrandingShowsOnTheSignInPages: branding is data an administrator
// sets through the API; the pages show it, and nothing in it can inject
// markup, style or script.
func TestBrandingShowsOnTheSignInPages(t *testing.T) {
	h := newAPI(t)
	admin := h.tokens["acme"][gatehouse.RoleEnvironmentAdmin]
	for _, bad := range []string{
		`{"primaryColor":"red;}</style>"}`, `{"backgroundColor":"#12345"}`, `{"logoUrl":"javascript:alert(1)"}`,
		`{"logoUrl":"http://cdn.example/logo.png"}`, `{"logoUrl":"data:text/html;base64,PHNjcmlwdD4="}`,
		`{"supportUrl":"javascript:alert(1)"}`, `{"signInTitle":"` + strings.Repeat("x", 101) + `"}`,
	} {
		if r := h.do("PUT", "/environments/acme/branding", admin, bad); r.status != http.StatusBadRequest {
			t.Errorf("branding %s: %s", bad, r)
		}
	}
	if r := h.do("PUT", "/environments/acme/branding", h.tokens["acme"][gatehouse.RoleReadOnly], `{"signInTitle":"x"}`); r.status != http.StatusForbidden {
		t.Errorf("READ_ONLY changed the branding: %s", r)
	}
	good := `{"logoUrl":"https://cdn.acme.example/logo.svg","primaryColor":"#aa0033","backgroundColor":"#fafafa",` +
		`"signInTitle":"Welcome to Acme <b>", "signInMessage":"Use your store account.","supportUrl":"https://help.acme.example/"}`
	if r := h.do("PUT", "/environments/acme/branding", admin, good); r.status != http.StatusOK {
		t.Fatalf("branding: %s", r)
	}
	if r := h.do("GET", "/environments/acme/branding", h.tokens["acme"][gatehouse.RoleReadOnly], ""); !strings.Contains(r.body, "#aa0033") {
		t.Fatalf("GET branding: %s", r)
	}
	app, err := h.svc.CreateApplication(context.Background(), service.OperatorActor(), "acme", gatehouse.Application{Name: "shop", Type: gatehouse.AppTypeWeb, RedirectURIs: []string{"https://shop.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, h)
	start := b.do("GET", authorizeURL(app.ClientID, "https://shop.example/cb", ""), nil)
	p := b.do("GET", start.header.Get("Location"), nil)
	for _, want := range []string{"Welcome to Acme &lt;b&gt;", "Use your store account.", `src="https://cdn.acme.example/logo.svg"`, `href="https://help.acme.example/"`, "brand.css"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the sign-in page lacks %s:\n%s", want, p.body)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example") {
		t.Errorf("CSP does not allow the logo: %s", csp)
	}
	css := b.do("GET", "/acme/login/assets/brand.css", nil)
	if !strings.Contains(css.body, "--accent: #aa0033") || !strings.Contains(css.body, "--page: #fafafa") {
		t.Errorf("brand.css: %s", css.body)
	}
	if other := b.do("GET", "/globex/login/assets/brand.css", nil); strings.Contains(other.body, "#aa0033") {
		t.Errorf("globex shows acme's branding: %s", other.body)
	}
}

// TestRS256ForOldClients: an application may ask for RS256; its tokens are
// signed with an RSA key that the JWKS publishes, and verify like the rest.
func TestRS256ForOldClients(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	admin := h.tokens["acme"][gatehouse.RoleEnvironmentAdmin]
	r := h.do("POST", "/environments/acme/applications", admin,
		`{"name":"legacy","type":"service","roles":["READ_ONLY"],"signingAlgorithm":"RS256"}`)
	var app service.CreatedApplication
	r.decode(t, &app)
	if r.status != http.StatusCreated || app.SigningAlgorithm != "RS256" {
		t.Fatalf("create: %s", r)
	}
	token := h.mustToken("acme", &app)
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if !strings.Contains(string(header), `"alg":"RS256"`) {
		t.Fatalf("token header %s", header)
	}
	if r := h.do("GET", "/environments/acme/users", token, ""); r.status != http.StatusOK {
		t.Fatalf("the RS256 token at the management API: %s", r)
	}
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/acme/oauth2/jwks", nil)
	if jwks := h.send(req); !strings.Contains(jwks.body, `"kty":"RSA"`) || strings.Count(jwks.body, `"kid"`) != 4 {
		t.Fatalf("JWKS after an RS256 application: %s", jwks.body)
	}
	if _, err := h.svc.RotateSigningKeys(ctx, service.OperatorActor(), "acme", true); err != nil {
		t.Fatal(err)
	}
	if r := h.do("GET", "/environments/acme/users", token, ""); r.status != http.StatusOK {
		t.Fatalf("an RS256 token signed before a rotation: %s", r)
	}
	if r := h.do("POST", "/environments/acme/applications", admin, `{"name":"x","type":"service","signingAlgorithm":"HS256"}`); r.status != http.StatusBadRequest {
		t.Fatalf("HS256 accepted: %s", r)
	}
}

// TestTokenRefusalsAreAudited: every refused token request leaves an event.
func TestTokenRefusalsAreAudited(t *testing.T) {
	h := newAPI(t)
	app := h.apps["acme"][gatehouse.RoleEnvironmentAdmin]
	for _, body := range []string{form("grant_type", "urn:nope"), form("grant_type", "client_credentials", "scope", "admin"), "grant_type=a&grant_type=b"} {
		if r := h.tokenRequest("/acme/oauth2/token", "", body, basicAuth(app.ClientID, app.ClientSecret)); r.status != http.StatusBadRequest {
			t.Fatalf("%s: %s", body, r)
		}
	}
	h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "client_credentials"), basicAuth(app.ClientID, "wrong"))
	for action, want := range map[string]int{"TOKEN_REQUEST_REFUSED": 3, service.ActionClientAuthFailed: 1} {
		page, err := h.svc.ListAuditEvents(context.Background(), "acme", gatehouse.AuditFilter{Action: action, Limit: 10})
		if err != nil || len(page.Items) != want {
			t.Errorf("%s events: %d, want %d (%v)", action, len(page.Items), want, err)
		}
	}
}

// TestApplicationScopes: an application that lists its scopes may ask for
// those only, at the authorization and the token endpoint.
func TestApplicationScopes(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	web, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "shop", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{"https://shop.example/cb"}, ApplicationSettings: gatehouse.ApplicationSettings{Scopes: []string{"openid", "profile"}}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, h)
	r := b.do("GET", authorizeURL(web.ClientID, "https://shop.example/cb", ""), nil) // openid profile email
	if back, _ := url.Parse(r.header.Get("Location")); back.Query().Get("error") != "invalid_scope" {
		t.Fatalf("a scope the application may not ask for: %s", r.header.Get("Location"))
	}
	if r := b.do("GET", authorizeURL(web.ClientID, "https://shop.example/cb", "", "scope", "openid profile"), nil); !strings.HasPrefix(r.header.Get("Location"), "/acme/login/") {
		t.Fatalf("allowed scopes: %s", r.header.Get("Location"))
	}
	svcApp, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "sync", Type: gatehouse.AppTypeService,
		ApplicationSettings: gatehouse.ApplicationSettings{Scopes: []string{"api"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "client_credentials", "scope", "management"), basicAuth(svcApp.ClientID, svcApp.ClientSecret)); r.status != 400 || !strings.Contains(r.body, "invalid_scope") {
		t.Fatalf("client_credentials with a scope not allowed: %s", r)
	}
	if _, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "x", Type: gatehouse.AppTypeService,
		ApplicationSettings: gatehouse.ApplicationSettings{Scopes: []string{"admin"}}}); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Fatalf("an unknown scope: %v", err)
	}
}

// TestNativeLoopbackAnyPort: RFC 8252 §7.3 for native applications only.
func TestNativeLoopbackAnyPort(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	native, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "desktop", Type: gatehouse.AppTypeNative,
		RedirectURIs: []string{"http://127.0.0.1/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	spa, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "spa", Type: gatehouse.AppTypeSPA,
		RedirectURIs: []string{"http://127.0.0.1/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	_, challenge := pkcePair()
	b := newBrowser(t, h)
	for _, tc := range []struct {
		client, redirect string
		ok               bool
	}{
		{native.ClientID, "http://127.0.0.1:53211/callback", true},
		{native.ClientID, "http://127.0.0.1/callback", true},
		{native.ClientID, "http://127.0.0.1:53211/other", false},
		{native.ClientID, "http://localhost:53211/callback", false},
		{native.ClientID, "http://127.0.0.1:53211/callback?x=1", false},
		{spa.ClientID, "http://127.0.0.1:53211/callback", false},
	} {
		r := b.do("GET", authorizeURL(tc.client, tc.redirect, challenge), nil)
		ok := r.status == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), "/acme/login/")
		if ok != tc.ok {
			t.Errorf("%s: %d %s", tc.redirect, r.status, r.header.Get("Location"))
		}
	}
}

// TestAPIUserCreatedWithAFinalPassword: forceChange false at creation lets
// an API user get tokens at once.
func TestAPIUserCreatedWithAFinalPassword(t *testing.T) {
	h := newAPI(t)
	admin := h.tokens["acme"][gatehouse.RoleEnvironmentAdmin]
	r := h.do("POST", "/environments/acme/users", admin, `{"username":"sync-bot","type":"API","password":"bot-password-1","forceChange":false}`)
	if r.status != http.StatusCreated || !strings.Contains(r.body, `"passwordState":"OK"`) {
		t.Fatalf("create: %s", r)
	}
	if r := h.do("POST", "/environments/acme/users", admin, `{"username":"x","forceChange":false}`); r.status != http.StatusBadRequest {
		t.Fatalf("forceChange without a password: %s", r)
	}
	app, err := h.svc.CreateApplication(context.Background(), service.OperatorActor(), "acme", gatehouse.Application{Name: "api", Type: gatehouse.AppTypeAPIUser})
	if err != nil {
		t.Fatal(err)
	}
	if r, reply := h.passwordGrant(app, "sync-bot", "bot-password-1"); r.status != http.StatusOK || reply.AccessToken == "" {
		t.Fatalf("password grant: %s", r)
	}
}

// TestFailedPasswordsAreThrottledPerAddress: after a burst of failures from
// one address, further attempts are answered 429 before any password is
// checked, whichever account they name (password spraying).
func TestFailedPasswordsAreThrottledPerAddress(t *testing.T) {
	h := newAPI(t)
	app, _ := apiUserSetup(t, h)
	var last *apiResponse
	for i := range 40 {
		last, _ = h.passwordGrant(app, fmt.Sprintf("sprayed-%d", i), "Winter2026!")
		if last.status == http.StatusTooManyRequests {
			break
		}
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("40 failures from one address: %s", last)
	}
	// The right password is held back too while the address is throttled.
	if r, _ := h.passwordGrant(app, "inventory-sync", "api-secret-1"); r.status != http.StatusTooManyRequests {
		t.Fatalf("a throttled address got through: %s", r)
	}
}
