package server_test

// End-to-end tests of the management API and the token endpoint: a real
// HTTP server over a SQLite store, environments "system", "acme" and
// "globex", and in each a service application per administrator role whose
// bearer tokens come from the environment's own token endpoint.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
	oidcconnector "github.com/gatehouse/gatehouse/connector/oidc"
	samlconnector "github.com/gatehouse/gatehouse/connector/saml"
	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/signing"
	"github.com/gatehouse/gatehouse/sqlite"
)

// The administrator roles an application can hold, and noRole for an
// application that holds none.
const (
	envAdmin  = gatehouse.RoleEnvironmentAdmin
	userAdmin = gatehouse.RoleUserAdmin
	readOnly  = gatehouse.RoleReadOnly
	noRole    = "NO_ROLE"
)

var adminLabels = []string{envAdmin, userAdmin, readOnly, noRole}

// apiHarness is a running Gatehouse with its environments, applications and
// tokens.
type apiHarness struct {
	t      testing.TB
	ts     *httptest.Server
	svc    *service.Service
	n      int
	apps   map[string]map[string]*service.CreatedApplication // env → role label → application
	tokens map[string]map[string]string                      // env → role label → access token
}

func newAPI(t testing.TB) *apiHarness {
	t.Helper()
	ctx := context.Background()
	metrics := server.NewMetrics()
	store, err := sqlite.Open(ctx, t.TempDir(), true, metrics.ObserveStore)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kr, err := keyring.New(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	svc := &service.Service{Store: store, Keyring: kr, Connectors: map[string]connector.Kind{
		gatehouse.IdentityProviderOIDC: oidcconnector.Kind, gatehouse.IdentityProviderSAML: samlconnector.Kind},
		// Mail goes nowhere here; the tests of email codes and resets send
		// to a real SMTP server (mailpit).
		Mail: mail.Discard}
	ts := httptest.NewUnstartedServer(server.New(svc, slog.New(slog.DiscardHandler), metrics))
	svc.BaseURL = "http://" + ts.Listener.Addr().String()
	ts.Start()
	t.Cleanup(ts.Close)
	if ts.URL != svc.BaseURL {
		t.Fatalf("server URL %s differs from the issuer base %s", ts.URL, svc.BaseURL)
	}
	if _, err := svc.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"acme", "globex"} {
		if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: env}); err != nil {
			t.Fatal(err)
		}
	}
	h := &apiHarness{t: t, ts: ts, svc: svc,
		apps: map[string]map[string]*service.CreatedApplication{}, tokens: map[string]map[string]string{}}
	for _, env := range []string{gatehouse.SystemEnvironmentID, "acme", "globex"} {
		h.apps[env], h.tokens[env] = map[string]*service.CreatedApplication{}, map[string]string{}
		for _, label := range adminLabels {
			app := h.newApp(env, gatehouse.AppTypeService, rolesOf(label))
			h.apps[env][label], h.tokens[env][label] = app, h.mustToken(env, app)
		}
	}
	return h
}

func rolesOf(label string) []string {
	if label == noRole {
		return []string{}
	}
	return []string{label}
}

// next returns a number not used before in this harness.
func (h *apiHarness) next() string {
	h.n++
	return strconv.Itoa(h.n)
}

// newIdentityProvider creates an OIDC identity provider through the
// service, as the operator; its issuer refuses connections at once.
func (h *apiHarness) newIdentityProvider(env string) *service.IdentityProviderView {
	h.t.Helper()
	n := h.next()
	idp, err := h.svc.CreateIdentityProvider(context.Background(), service.OperatorActor(), env, gatehouse.IdentityProvider{
		Name: env + " corporate IdP " + n, Type: gatehouse.IdentityProviderOIDC,
		OIDC: &gatehouse.OIDCSettings{Issuer: "http://127.0.0.1:1/" + env + n, ClientID: "gatehouse-" + n, ClientSecret: "secret-" + n}})
	if err != nil {
		h.t.Fatal(err)
	}
	return idp
}

// newDiscoveryRule creates a rule to a new IdP through the service.
func (h *apiHarness) newDiscoveryRule(env string) *gatehouse.DiscoveryRule {
	h.t.Helper()
	idp := h.newIdentityProvider(env)
	n := h.next()
	rule, err := h.svc.CreateDiscoveryRule(context.Background(), service.OperatorActor(), env, gatehouse.DiscoveryRule{
		Order: 10, EmailDomain: env + "-corp" + n + ".example", IdentityProviderID: idp.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	return rule
}

// newApp creates an application through the service, as the operator.
func (h *apiHarness) newApp(env, typ string, roles []string) *service.CreatedApplication {
	h.t.Helper()
	app := gatehouse.Application{Name: env + " " + typ + " app " + h.next(), Type: typ, Roles: roles}
	if typ == gatehouse.AppTypeService {
		app.GrantTypes = []string{gatehouse.GrantClientCredentials}
	}
	created, err := h.svc.CreateApplication(context.Background(), service.OperatorActor(), env, app)
	if err != nil {
		h.t.Fatal(err)
	}
	return created
}

// newUser creates a user through the service, as the operator.
func (h *apiHarness) newUser(env string, roles []gatehouse.RoleAssignment, password string) *gatehouse.User {
	h.t.Helper()
	n := h.next()
	u, err := h.svc.CreateUser(context.Background(), service.OperatorActor(), env, service.NewUser{
		User:     gatehouse.User{Username: env + "-user-" + n, FirstName: "First" + n, Roles: roles},
		Password: password,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

func (h *apiHarness) newRole(env string) *gatehouse.Role {
	h.t.Helper()
	role, err := h.svc.CreateRole(context.Background(), service.OperatorActor(), env,
		gatehouse.Role{Name: strings.ToUpper(env) + "_ROLE_" + h.next(), Permissions: []string{"ORDER_VIEW"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return role
}

func (h *apiHarness) newEnvironment() string {
	h.t.Helper()
	id := "tmp-" + h.next()
	if _, err := h.svc.CreateEnvironment(context.Background(), service.OperatorActor(), service.NewEnvironment{ID: id}); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// apiResponse is what a request got back.
type apiResponse struct {
	status int
	header http.Header
	body   string
}

func (r *apiResponse) String() string {
	body := r.body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d %s %s", r.status, r.header.Get("Content-Type"), strings.TrimSpace(body))
}

func (r *apiResponse) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decoding %s: %v", r, err)
	}
}

func (h *apiHarness) send(req *http.Request) *apiResponse {
	h.t.Helper()
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return &apiResponse{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// do calls the management API: path is below /api/v1, body (when not
// empty) is sent as application/json.
func (h *apiHarness) do(method, path, token, body string) *apiResponse {
	h.t.Helper()
	return h.doWith(method, path, "Bearer "+token, body, "application/json")
}

// doWith calls the management API with a raw Authorization header (none
// when empty) and Content-Type (none when empty).
func (h *apiHarness) doWith(method, path, authorization, body, contentType string) *apiResponse {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.ts.URL+"/api/v1"+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" && body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return h.send(req)
}

// tokenRequest posts to an environment's token endpoint. path defaults to
// /{env}/oauth2/token; prepare may add credentials or change headers.
func (h *apiHarness) tokenRequest(path, query, body string, prepare func(*http.Request)) *apiResponse {
	h.t.Helper()
	u := h.ts.URL + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if prepare != nil {
		prepare(req)
	}
	return h.send(req)
}

type tokenReply struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// mustToken gets an access token by client_secret_basic.
func (h *apiHarness) mustToken(env string, app *service.CreatedApplication) string {
	h.t.Helper()
	r := h.tokenRequest("/"+env+"/oauth2/token", "", "grant_type=client_credentials", basicAuth(app.ClientID, app.ClientSecret))
	var tok tokenReply
	if r.status != http.StatusOK {
		h.t.Fatalf("token for %s of %s: %s", app.Name, env, r)
	}
	r.decode(h.t, &tok)
	return tok.AccessToken
}

func basicAuth(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// wantProblem checks that r is an RFC 9457 problem of status and code whose
// detail holds each of details; a 401 must ask for a bearer token.
func wantProblem(t *testing.T, what string, r *apiResponse, status int, code string, details ...string) {
	t.Helper()
	var p problem
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(r.body), &p) != nil {
		t.Errorf("%s: got %s, want a %d problem", what, r, status)
		return
	}
	if want := "urn:gatehouse:problem:" + strings.ReplaceAll(code, "_", "-"); p.Type != want || p.Status != status || p.Code != code {
		t.Errorf("%s: problem type %q status %d code %q, want %q %d %q", what, p.Type, p.Status, p.Code, want, status, code)
	}
	for _, d := range details {
		if !strings.Contains(p.Detail, d) {
			t.Errorf("%s: problem detail %q does not say %q", what, p.Detail, d)
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s: 401 without WWW-Authenticate: Bearer (got %q)", what, r.header.Get("WWW-Authenticate"))
	}
}

func wantStatus(t *testing.T, what string, r *apiResponse, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: got %s, want %d", what, r, status)
	}
}

// apiRoute mirrors one line of the route table in api_routes.go.
type apiRoute struct {
	method, path string
	access       string // the access variable of api.go
	body         string // a minimal valid body; {n} becomes a fresh number
}

// apiRouteTable mirrors api_routes.go; TestAPIRouteMirrorMatchesTable keeps
// the two in step.
var apiRouteTable = []apiRoute{
	{"GET", "/environments", "opsRead", ""},
	{"POST", "/environments", "opsWrite", `{"id":"made-{n}"}`},
	{"GET", "/environments/{id}", "opsRead", ""},
	{"PATCH", "/environments/{id}", "opsWrite", `{"displayName":"Renamed {n}"}`},
	{"DELETE", "/environments/{id}", "opsWrite", ""},

	{"GET", "/environments/{env}/users", "usersRead", ""},
	{"POST", "/environments/{env}/users", "usersWrite", `{"username":"made-{n}"}`},
	{"GET", "/environments/{env}/users/{id}", "usersRead", ""},
	{"PATCH", "/environments/{env}/users/{id}", "usersWrite", `{"firstName":"Patched {n}"}`},
	{"DELETE", "/environments/{env}/users/{id}", "usersWrite", ""},
	{"PUT", "/environments/{env}/users/{id}/password", "usersWrite", `{"password":"Another-pass-{n}"}`},
	{"POST", "/environments/{env}/users/{id}/password/force-change", "usersWrite", ""},
	{"POST", "/environments/{env}/users/{id}/password/reset-email", "usersWrite", ""},
	{"POST", "/environments/{env}/users/{id}/unlock", "usersWrite", ""},
	{"PUT", "/environments/{env}/users/{id}/roles", "usersWrite", `{"roles":[{"role":"STORE_ASSISTANT"}]}`},
	{"GET", "/environments/{env}/users/{id}/mfa", "usersRead", ""},
	{"DELETE", "/environments/{env}/users/{id}/mfa/devices/{device}", "usersWrite", ""},
	{"PUT", "/environments/{env}/users/{id}/mfa/bypass", "usersWrite", `{"until":"{soon}"}`},
	{"DELETE", "/environments/{env}/users/{id}/mfa/bypass", "usersWrite", ""},
	{"POST", "/environments/{env}/users/{id}/mfa/unblock", "usersWrite", ""},

	{"GET", "/environments/{env}/roles", "usersRead", ""},
	{"POST", "/environments/{env}/roles", "envWrite", `{"name":"MADE_{n}"}`},
	{"GET", "/environments/{env}/roles/{name}", "usersRead", ""},
	{"PATCH", "/environments/{env}/roles/{name}", "envWrite", `{"description":"patched {n}"}`},
	{"DELETE", "/environments/{env}/roles/{name}", "envWrite", ""},

	{"GET", "/environments/{env}/password-policy", "usersRead", ""},
	{"PUT", "/environments/{env}/password-policy", "envWrite", `{"preset":"BASIC"}`},
	{"GET", "/environments/{env}/mfa-policy", "usersRead", ""},
	{"PUT", "/environments/{env}/mfa-policy", "envWrite", `{"enabled":false,"allowedMethods":["TOTP"],"whenNotEnrolled":"ENROL","failureLimit":5,"blockSeconds":{n}}`},
	{"GET", "/environments/{env}/sign-on-policy", "usersRead", ""},
	{"PUT", "/environments/{env}/sign-on-policy", "envWrite", `{"reauthenticateAfterHours":{n}}`},
	{"GET", "/environments/{env}/branding", "envRead", ""},
	{"PUT", "/environments/{env}/branding", "envWrite", `{"primaryColor":"#112233","signInTitle":"Welcome"}`},

	{"GET", "/environments/{env}/applications", "envRead", ""},
	{"POST", "/environments/{env}/applications", "envWrite", `{"name":"Made {n}","type":"service"}`},
	{"GET", "/environments/{env}/applications/{id}", "envRead", ""},
	{"PATCH", "/environments/{env}/applications/{id}", "envWrite", `{"name":"Patched {n}"}`},
	{"DELETE", "/environments/{env}/applications/{id}", "envWrite", ""},
	{"POST", "/environments/{env}/applications/{id}/secret", "envWrite", ""},

	{"GET", "/environments/{env}/identity-providers", "envRead", ""},
	{"POST", "/environments/{env}/identity-providers", "envWrite", `{"name":"Made {n}","type":"OIDC","oidc":{"issuer":"http://127.0.0.1:1/made-{n}","clientId":"c{n}","clientSecret":"s{n}"}}`},
	{"GET", "/environments/{env}/identity-providers/{id}", "envRead", ""},
	{"PATCH", "/environments/{env}/identity-providers/{id}", "envWrite", `{"name":"Patched {n}"}`},
	{"DELETE", "/environments/{env}/identity-providers/{id}", "envWrite", ""},
	{"POST", "/environments/{env}/identity-providers/{id}/test", "envRead", ""},

	{"GET", "/environments/{env}/discovery-rules", "envRead", ""},
	{"POST", "/environments/{env}/discovery-rules", "envWrite", `{"order":{n},"emailDomain":"made{n}.example","identityProviderId":"{idp}"}`},
	{"GET", "/environments/{env}/discovery-rules/{id}", "envRead", ""},
	{"PATCH", "/environments/{env}/discovery-rules/{id}", "envWrite", `{"order":{n}}`},
	{"DELETE", "/environments/{env}/discovery-rules/{id}", "envWrite", ""},

	{"GET", "/environments/{env}/audit-events", "envRead", ""},
}

func (rt apiRoute) String() string { return rt.method + " " + rt.path }

// system reports whether the route takes operator (system) tokens.
func (rt apiRoute) system() bool { return strings.HasPrefix(rt.access, "ops") }

// roles are the administrator roles the route's access level admits.
func (rt apiRoute) roles() []string {
	switch rt.access {
	case "usersRead":
		return []string{envAdmin, userAdmin, readOnly}
	case "usersWrite":
		return []string{envAdmin, userAdmin}
	case "envRead", "opsRead":
		return []string{envAdmin, readOnly}
	case "envWrite", "opsWrite":
		return []string{envAdmin}
	}
	panic("unknown access " + rt.access)
}

// apiCall is a route made concrete: real ids, a body.
type apiCall struct {
	method, path, body string
	// targets are the identifiers and names of the objects the call is
	// about, which a refused call must not echo.
	targets []string
}

// resolve makes a call of rt in env on fresh objects of env: {id} is a new
// user or application, {name} a new custom role. For operator routes {id} is
// operatorTarget, or a new environment when that is empty.
func (h *apiHarness) resolve(rt apiRoute, env, operatorTarget string) apiCall {
	h.t.Helper()
	c := apiCall{method: rt.method, body: strings.ReplaceAll(rt.body, "{n}", h.next())}
	c.body = strings.ReplaceAll(c.body, "{soon}", time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339))
	if strings.Contains(c.body, "{idp}") {
		c.body = strings.ReplaceAll(c.body, "{idp}", h.newIdentityProvider(env).ID)
	}
	p := strings.ReplaceAll(rt.path, "{env}", env)
	switch {
	case strings.HasPrefix(rt.path, "/environments/{id}"):
		id := operatorTarget
		if id == "" {
			id = h.newEnvironment()
		}
		p = strings.ReplaceAll(p, "{id}", id)
	case strings.Contains(rt.path, "/users/{id}"):
		password := ""
		if strings.HasSuffix(rt.path, "/force-change") {
			password = "Initial-pass-1"
		}
		u := h.newUser(env, nil, password)
		p = strings.ReplaceAll(p, "{id}", u.ID)
		c.targets = append(c.targets, u.ID, u.Username)
		if strings.HasSuffix(rt.path, "/reset-email") {
			u.PrimaryEmail = u.Username + "@acme.example"
			if err := h.svc.Store.UpdateUser(context.Background(), u); err != nil {
				h.t.Fatal(err)
			}
		}
		if strings.Contains(p, "{device}") {
			d := &gatehouse.MFADevice{EnvironmentID: env, ID: gatehouse.NewID(), UserID: u.ID, Type: gatehouse.MethodTOTP,
				Name: "Phone " + h.next(), CreatedOn: time.Now(), Confirmed: true, Secret: []byte{1}}
			if err := h.svc.Store.CreateMFADevice(context.Background(), d); err != nil {
				h.t.Fatal(err)
			}
			p = strings.ReplaceAll(p, "{device}", d.ID)
			c.targets = append(c.targets, d.ID)
		}
	case strings.Contains(rt.path, "/applications/{id}"):
		app := h.newApp(env, gatehouse.AppTypeService, nil)
		p = strings.ReplaceAll(p, "{id}", app.ID)
		c.targets = append(c.targets, app.ID, app.ClientID, app.Name)
	case strings.Contains(rt.path, "/identity-providers/{id}"):
		idp := h.newIdentityProvider(env)
		p = strings.ReplaceAll(p, "{id}", idp.ID)
		c.targets = append(c.targets, idp.ID, idp.Name)
	case strings.Contains(rt.path, "/discovery-rules/{id}"):
		rule := h.newDiscoveryRule(env)
		p = strings.ReplaceAll(p, "{id}", rule.ID)
		c.targets = append(c.targets, rule.ID, rule.EmailDomain)
	case strings.Contains(rt.path, "{name}"):
		role := h.newRole(env)
		p = strings.ReplaceAll(p, "{name}", role.Name)
		c.targets = append(c.targets, role.Name)
	}
	c.path = p
	return c
}

// environmentData lists identifying strings of every user, application and
// custom role of env: what another environment's caller must never see.
func (h *apiHarness) environmentData(env string) []string {
	h.t.Helper()
	ctx := context.Background()
	var data []string
	list, err := h.svc.Store.ListUsers(ctx, env, gatehouse.UserFilter{Limit: 1000})
	users := list.Users
	if err != nil {
		h.t.Fatal(err)
	}
	for _, u := range users {
		data = append(data, u.ID, u.Username)
	}
	apps, err := h.svc.Store.ListApplications(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range apps {
		data = append(data, a.ID, a.ClientID, a.Name)
	}
	roles, err := h.svc.Store.ListRoles(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range roles {
		if !r.Builtin {
			data = append(data, r.Name)
		}
	}
	idps, err := h.svc.Store.ListIdentityProviders(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, p := range idps {
		data = append(data, p.ID, p.Name)
	}
	rules, err := h.svc.Store.ListDiscoveryRules(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rules {
		data = append(data, r.ID, r.EmailDomain)
	}
	// Short strings such as "admin" would match unrelated words.
	return slices.DeleteFunc(data, func(s string) bool { return len(s) < 8 })
}

// snapshot describes everything stored of env but its audit log, hidden
// fields included, one line per object, so that a before/after comparison
// shows any change.
func (h *apiHarness) snapshot(env string) []string {
	h.t.Helper()
	ctx := context.Background()
	line := func(kind string, v any, extra ...any) string {
		b, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		return kind + " " + string(b) + " " + fmt.Sprint(extra...)
	}
	var lines []string
	e, err := h.svc.Store.GetEnvironment(ctx, env)
	if err != nil {
		return []string{"environment " + env + ": " + gatehouse.ErrorCode(err)}
	}
	lines = append(lines, line("environment", e))
	list, err := h.svc.Store.ListUsers(ctx, env, gatehouse.UserFilter{Limit: 1000})
	users := list.Users
	if err != nil {
		h.t.Fatal(err)
	}
	for _, u := range users {
		lines = append(lines, line("user", u, u.PasswordHash, u.FailedAttempts))
		devices, err := h.svc.Store.ListMFADevices(ctx, env, u.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		state, err := h.svc.Store.GetMFAState(ctx, env, u.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		lines = append(lines, line("mfa", devices, state))
	}
	mfaPolicy, err := h.svc.Store.GetMFAPolicy(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	signOn, err := h.svc.Store.GetSignOnPolicy(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	lines = append(lines, line("mfa policy", mfaPolicy), line("sign-on policy", signOn))
	apps, err := h.svc.Store.ListApplications(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range apps {
		lines = append(lines, line("application", a, hex.EncodeToString(a.SecretHash)))
	}
	roles, err := h.svc.Store.ListRoles(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range roles {
		lines = append(lines, line("role", r))
	}
	policy, err := h.svc.Store.GetPasswordPolicy(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	lines = append(lines, line("policy", policy))
	keys, err := h.svc.Store.ListSigningKeys(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, k := range keys {
		lines = append(lines, "key "+k.KID+" "+k.State)
	}
	idps, err := h.svc.Store.ListIdentityProviders(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, p := range idps {
		secret, _ := h.svc.OpenSecret(ctx, env, "identity-provider/"+p.ID)
		lines = append(lines, line("identity provider", p, hex.EncodeToString(secret)))
	}
	rules, err := h.svc.Store.ListDiscoveryRules(ctx, env)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rules {
		lines = append(lines, line("discovery rule", r))
	}
	return lines
}

// auditHead is the sequence number of env's last audit event.
func (h *apiHarness) auditHead(env string) int64 {
	h.t.Helper()
	seq, _, err := h.svc.Store.AuditHead(context.Background(), env)
	if err != nil {
		h.t.Fatal(err)
	}
	return seq
}

// wantOnlyFailuresAudited checks that every audit event of env after seq
// records a failure: refused calls may be logged, but nothing succeeded.
func (h *apiHarness) wantOnlyFailuresAudited(t *testing.T, what, env string, since int64) {
	t.Helper()
	events, err := h.svc.Store.ListAuditEvents(context.Background(), env, gatehouse.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Seq > since && e.Outcome != gatehouse.OutcomeFailure {
			t.Errorf("%s: audit event %d %s %s %s by %s %s", what, e.Seq, e.Action, e.TargetType, e.TargetID, e.ActorType, e.ActorID)
		}
	}
}

func (h *apiHarness) environmentIDs() []string {
	h.t.Helper()
	envs, err := h.svc.Store.ListEnvironments(context.Background(), "", 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, e := range envs {
		ids = append(ids, e.ID+" "+e.Status)
	}
	return ids
}

// wantUnchanged reports the lines that differ between two snapshots.
func wantUnchanged(t *testing.T, what string, before, after []string) {
	t.Helper()
	if slices.Equal(before, after) {
		return
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			t.Errorf("%s: changed or gone: %.400s", what, l)
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			t.Errorf("%s: new or changed: %.400s", what, l)
		}
	}
}

func wantNoLeak(t *testing.T, what string, r *apiResponse, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(r.body, s) {
			t.Errorf("%s: the response reveals %q: %s", what, s, r)
		}
	}
}

// TestAPIRouteMirrorMatchesTable keeps apiRouteTable identical to the route
// table of api_routes.go, so that the matrices below cover every route.
func TestAPIRouteMirrorMatchesTable(t *testing.T) {
	src, err := os.ReadFile("api_routes.go")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`\{"([A-Z]+)", (env \+ )?"([^"]*)", (\w+),`)
	var table []string
	for _, m := range line.FindAllStringSubmatch(string(src), -1) {
		path := m[3]
		if m[2] != "" {
			path = "/environments/{env}" + path
		}
		table = append(table, m[1]+" "+path+" "+m[4])
	}
	var mirror []string
	for _, rt := range apiRouteTable {
		mirror = append(mirror, rt.method+" "+rt.path+" "+rt.access)
	}
	if len(table) == 0 || !slices.Equal(table, mirror) {
		t.Fatalf("apiRouteTable is out of step with api_routes.go:\n table: %q\nmirror: %q", table, mirror)
	}
}

// TestTokenEndpoint covers client authentication and the RFC 6749 error
// responses of the client_credentials grant.
func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	acme := h.apps["acme"][envAdmin]
	id, secret := acme.ClientID, acme.ClientSecret
	spa := h.newApp("acme", gatehouse.AppTypeSPA, nil)
	grant := form("grant_type", "client_credentials")

	// An environment that worked until it was disabled.
	sleepyID := h.newEnvironment()
	sleepy := h.newApp(sleepyID, gatehouse.AppTypeService, []string{envAdmin})
	h.mustToken(sleepyID, sleepy)
	disabled := gatehouse.EnvironmentDisabled
	if _, err := h.svc.UpdateEnvironment(context.Background(), service.OperatorActor(), sleepyID, service.EnvironmentChange{Status: &disabled}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name        string
		path        string // default /acme/oauth2/token
		query, body string
		prepare     func(*http.Request)
		status      int
		errorCode   string // the RFC 6749 error, or "problem" for a problem document
		scope       string
	}{
		{name: "client_secret_basic", body: grant, prepare: basicAuth(id, secret), status: 200},
		{name: "client_secret_post", body: form("grant_type", "client_credentials", "client_id", id, "client_secret", secret), status: 200},
		{name: "alias path /oauth/token", path: "/acme/oauth/token", body: grant, prepare: basicAuth(id, secret), status: 200},
		{name: "parameters in the query string", query: form("grant_type", "client_credentials", "client_id", id, "client_secret", secret), status: 200},
		{name: "grant_type in the query, credentials by basic", query: grant, prepare: basicAuth(id, secret), status: 200},
		{name: "scope api", body: form("grant_type", "client_credentials", "scope", "api"), prepare: basicAuth(id, secret), status: 200, scope: "api"},
		{name: "scope api management", body: form("grant_type", "client_credentials", "scope", "api management"), prepare: basicAuth(id, secret), status: 200, scope: "api management"},
		{name: "scope admin", body: form("grant_type", "client_credentials", "scope", "admin"), prepare: basicAuth(id, secret), status: 400, errorCode: "invalid_scope"},
		{name: "wrong secret by basic", body: grant, prepare: basicAuth(id, secret+"x"), status: 401, errorCode: "invalid_client"},
		{name: "wrong secret by post", body: form("grant_type", "client_credentials", "client_id", id, "client_secret", "wrong"), status: 401, errorCode: "invalid_client"},
		{name: "unknown client", body: grant, prepare: basicAuth("no-such-client", secret), status: 401, errorCode: "invalid_client"},
		{name: "missing credentials", body: grant, status: 401, errorCode: "invalid_client"},
		{name: "client_id without a secret", body: form("grant_type", "client_credentials", "client_id", id), status: 401, errorCode: "invalid_client"},
		{name: "empty basic secret", body: grant, prepare: basicAuth(id, ""), status: 401, errorCode: "invalid_client"},
		{name: "basic and post secret together", body: form("grant_type", "client_credentials", "client_secret", secret), prepare: basicAuth(id, secret), status: 400, errorCode: "invalid_request"},
		{name: "basic and another client_id", body: form("grant_type", "client_credentials", "client_id", "someone-else"), prepare: basicAuth(id, secret), status: 400, errorCode: "invalid_request"},
		{name: "grant_type missing", body: form("client_id", id, "client_secret", secret), status: 400, errorCode: "invalid_request"},
		{name: "grant_type unknown", body: form("grant_type", "urn:example:nope"), prepare: basicAuth(id, secret), status: 400, errorCode: "unsupported_grant_type"},
		{name: "device code grant is not served", body: form("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), prepare: basicAuth(id, secret), status: 400, errorCode: "unsupported_grant_type"},
		{name: "password grant for a service application", body: form("grant_type", "password", "username", "u", "password", "p"), prepare: basicAuth(id, secret), status: 400, errorCode: "unauthorized_client"},
		{name: "form body over 16 KiB", body: form("grant_type", "client_credentials", "pad", strings.Repeat("a", 17<<10)), prepare: basicAuth(id, secret), status: 400, errorCode: "invalid_request"},
		{name: "duplicate parameter in the body", body: grant + "&" + grant, prepare: basicAuth(id, secret), status: 400, errorCode: "invalid_request"},
		{name: "duplicate parameter in the query", query: grant + "&" + grant, prepare: basicAuth(id, secret), status: 400, errorCode: "invalid_request"},
		{name: "JSON body", body: `{"grant_type":"client_credentials"}`, prepare: func(r *http.Request) {
			basicAuth(id, secret)(r)
			r.Header.Set("Content-Type", "application/json")
		}, status: 400, errorCode: "invalid_request"},
		{name: "unknown environment", path: "/nope/oauth2/token", body: grant, prepare: basicAuth(id, secret), status: 404, errorCode: "problem"},
		{name: "disabled environment", path: "/" + sleepyID + "/oauth2/token", body: grant, prepare: basicAuth(sleepy.ClientID, sleepy.ClientSecret), status: 404, errorCode: "problem"},
		{name: "acme application at globex", path: "/globex/oauth2/token", body: grant, prepare: basicAuth(id, secret), status: 401, errorCode: "invalid_client"},
		{name: "globex application at acme", body: grant, prepare: basicAuth(h.apps["globex"][envAdmin].ClientID, h.apps["globex"][envAdmin].ClientSecret), status: 401, errorCode: "invalid_client"},
		{name: "spa application without a secret", body: form("grant_type", "client_credentials", "client_id", spa.ClientID), status: 401, errorCode: "invalid_client"},
		{name: "spa application with a made-up secret", body: grant, prepare: basicAuth(spa.ClientID, "made-up"), status: 401, errorCode: "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/acme/oauth2/token"
			}
			r := h.tokenRequest(path, tc.query, tc.body, tc.prepare)
			if r.status != tc.status {
				t.Fatalf("got %s, want %d", r, tc.status)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tc.errorCode == "problem" {
				wantProblem(t, tc.name, r, tc.status, gatehouse.ENOTFOUND)
				return
			}
			var tok tokenReply
			r.decode(t, &tok)
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			if tc.status != 200 {
				if tok.Error != tc.errorCode || tok.AccessToken != "" {
					t.Errorf("error %q (%s), want %q", tok.Error, r, tc.errorCode)
				}
				if wa := r.header.Get("WWW-Authenticate"); (tc.status == 401) != (wa != "") {
					t.Errorf("status %d with WWW-Authenticate %q", r.status, wa)
				}
				return
			}
			if tok.AccessToken == "" || tok.TokenType != "bearer" || tok.ExpiresIn != 3600 || tok.Scope != tc.scope {
				t.Errorf("token response %+v", tok)
			}
			if p := r.header.Get("Pragma"); p != "no-cache" {
				t.Errorf("Pragma %q", p)
			}
			wantStatus(t, "the token on GET users", h.do("GET", "/environments/acme/users", tok.AccessToken, ""), 200)
		})
	}
}

// TestAPICrossEnvironmentIsolation calls every route on globex with tokens
// of other environments: all are refused without revealing or changing
// anything of globex.
func TestAPICrossEnvironmentIsolation(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	var calls []apiCall
	for _, rt := range apiRouteTable {
		if rt.system() {
			calls = append(calls, h.resolve(rt, "", "globex"))
		} else {
			calls = append(calls, h.resolve(rt, "globex", ""))
		}
	}
	globexData := h.environmentData("globex")
	before, envsBefore, seq := h.snapshot("globex"), h.environmentIDs(), h.auditHead("globex")

	callers := map[string]string{
		"acme ENVIRONMENT_ADMIN":   h.tokens["acme"][envAdmin],
		"acme USER_ADMIN":          h.tokens["acme"][userAdmin],
		"system ENVIRONMENT_ADMIN": h.tokens[gatehouse.SystemEnvironmentID][envAdmin],
	}
	for caller, token := range callers {
		for _, c := range calls {
			if strings.HasPrefix(caller, "system") && !strings.Contains(c.path, "/globex/") {
				continue // operator routes are the system token's own
			}
			what := caller + " token: " + c.method + " " + c.path
			r := h.do(c.method, c.path, token, c.body)
			wantProblem(t, what, r, http.StatusUnauthorized, gatehouse.EUNAUTHORIZED)
			wantNoLeak(t, what, r, globexData)
		}
	}
	wantUnchanged(t, "globex after the cross-environment calls", before, h.snapshot("globex"))
	wantUnchanged(t, "environments after the cross-environment calls", envsBefore, h.environmentIDs())
	h.wantOnlyFailuresAudited(t, "globex's audit log after the cross-environment calls", "globex", seq)
}

// TestAPIObjectsOfAnotherEnvironmentAreNotFound asks acme's routes for
// globex's users, applications and roles by their ids and names.
func TestAPIObjectsOfAnotherEnvironmentAreNotFound(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	token := h.tokens["acme"][envAdmin]
	var calls []apiCall
	for _, rt := range apiRouteTable {
		if !rt.system() && (strings.Contains(rt.path, "{id}") || strings.Contains(rt.path, "{name}")) {
			c := h.resolve(rt, "globex", "")
			c.path = strings.Replace(c.path, "/environments/globex/", "/environments/acme/", 1)
			calls = append(calls, c)
		}
	}
	before, seq := h.snapshot("globex"), h.auditHead("globex")
	for _, c := range calls {
		what := c.method + " " + c.path
		r := h.do(c.method, c.path, token, c.body)
		wantProblem(t, what, r, http.StatusNotFound, gatehouse.ENOTFOUND)
		// What the caller named may be echoed; nothing else of the object.
		unnamed := slices.DeleteFunc(slices.Clone(c.targets), func(s string) bool { return strings.Contains(c.path, s) })
		wantNoLeak(t, what, r, unnamed)
	}
	wantUnchanged(t, "globex after acme asked for its objects", before, h.snapshot("globex"))
	if h.auditHead("globex") != seq {
		t.Errorf("acme's calls were audited in globex")
	}
}

// TestAPIRoleMatrix calls every route with every administrator role of the
// route's own environment.
func TestAPIRoleMatrix(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	for _, rt := range apiRouteTable {
		t.Run(rt.String(), func(t *testing.T) {
			env := "acme"
			if rt.system() {
				env = gatehouse.SystemEnvironmentID
			}
			for _, label := range adminLabels {
				target := ""
				if rt.system() && rt.method == http.MethodGet {
					target = "acme"
				}
				c := h.resolve(rt, "acme", target)
				r := h.do(c.method, c.path, h.tokens[env][label], c.body)
				what := label + " token of " + env + ": " + c.method + " " + c.path
				if slices.Contains(rt.roles(), label) {
					if r.status < 200 || r.status > 299 {
						t.Errorf("%s: got %s, want success", what, r)
					}
				} else {
					wantProblem(t, what, r, http.StatusForbidden, gatehouse.EFORBIDDEN)
				}
			}
		})
	}
}

// TestAPIUserAdminEscalation checks that a USER_ADMIN manages ordinary
// users but neither makes nor touches administrators.
func TestAPIUserAdminEscalation(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	ctx := context.Background()
	admins := func(role string) []gatehouse.RoleAssignment { return []gatehouse.RoleAssignment{{Role: role}} }
	cases := []struct {
		name   string
		caller string
		target []gatehouse.RoleAssignment // nil: no target, the call creates a user
		method string
		suffix string // below /users/{id}
		body   string
		status int
	}{
		{"create a user holding ENVIRONMENT_ADMIN", userAdmin, nil, "POST", "", `{"username":"esc-{n}","roles":[{"role":"ENVIRONMENT_ADMIN"}]}`, 403},
		{"create a user holding USER_ADMIN", userAdmin, nil, "POST", "", `{"username":"esc-{n}","roles":[{"role":"USER_ADMIN"}]}`, 403},
		{"create a user holding READ_ONLY", userAdmin, nil, "POST", "", `{"username":"esc-{n}","roles":[{"role":"READ_ONLY"}]}`, 403},
		{"create a user holding ENVIRONMENT_ADMIN in a context", userAdmin, nil, "POST", "", `{"username":"esc-{n}","roles":[{"role":"ENVIRONMENT_ADMIN","context":{"type":"LOCATION","id":"l1"}}]}`, 403},
		{"create an ordinary user with a role", userAdmin, nil, "POST", "", `{"username":"esc-{n}","roles":[{"role":"STORE_ASSISTANT"}]}`, 201},
		{"PUT roles adding READ_ONLY", userAdmin, []gatehouse.RoleAssignment{}, "PUT", "/roles", `{"roles":[{"role":"STORE_ASSISTANT"},{"role":"READ_ONLY"}]}`, 403},
		{"PUT roles adding ENVIRONMENT_ADMIN", userAdmin, []gatehouse.RoleAssignment{}, "PUT", "/roles", `{"roles":[{"role":"ENVIRONMENT_ADMIN"}]}`, 403},
		{"PATCH roles adding USER_ADMIN", userAdmin, []gatehouse.RoleAssignment{}, "PATCH", "", `{"roles":[{"role":"USER_ADMIN"}]}`, 403},
		{"set the password of an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "PUT", "/password", `{"password":"Taken-over-1"}`, 403},
		{"delete an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "DELETE", "", "", 403},
		{"patch an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "PATCH", "", `{"primaryEmail":"attacker@example.com"}`, 403},
		{"deactivate an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "PATCH", "", `{"status":"INACTIVE"}`, 403},
		{"demote an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "PUT", "/roles", `{"roles":[]}`, 403},
		{"force a password change of an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "POST", "/password/force-change", "", 403},
		{"unlock an ENVIRONMENT_ADMIN", userAdmin, admins(envAdmin), "POST", "/unlock", "", 403},
		{"delete a fellow USER_ADMIN", userAdmin, admins(userAdmin), "DELETE", "", "", 403},
		{"set the password of a READ_ONLY user", userAdmin, admins(readOnly), "PUT", "/password", `{"password":"Taken-over-1"}`, 403},
		{"set the password of an ordinary user", userAdmin, []gatehouse.RoleAssignment{}, "PUT", "/password", `{"password":"Fresh-pass-1"}`, 200},
		{"patch an ordinary user", userAdmin, []gatehouse.RoleAssignment{}, "PATCH", "", `{"firstName":"Renamed"}`, 200},
		{"PUT ordinary roles on an ordinary user", userAdmin, []gatehouse.RoleAssignment{}, "PUT", "/roles", `{"roles":[{"role":"STORE_ASSISTANT","context":{"type":"LOCATION","id":"l1"}}]}`, 200},
		{"force a password change of an ordinary user", userAdmin, []gatehouse.RoleAssignment{}, "POST", "/password/force-change", "", 200},
		{"unlock an ordinary user", userAdmin, []gatehouse.RoleAssignment{}, "POST", "/unlock", "", 200},
		{"delete an ordinary user", userAdmin, []gatehouse.RoleAssignment{}, "DELETE", "", "", 204},
		{"ENVIRONMENT_ADMIN creates an ENVIRONMENT_ADMIN", envAdmin, nil, "POST", "", `{"username":"esc-{n}","roles":[{"role":"ENVIRONMENT_ADMIN"}]}`, 201},
		{"ENVIRONMENT_ADMIN sets an administrator's password", envAdmin, admins(envAdmin), "PUT", "/password", `{"password":"Fresh-pass-1"}`, 200},
		{"ENVIRONMENT_ADMIN unlocks an administrator", envAdmin, admins(envAdmin), "POST", "/unlock", "", 200},
		{"ENVIRONMENT_ADMIN grants READ_ONLY", envAdmin, []gatehouse.RoleAssignment{}, "PUT", "/roles", `{"roles":[{"role":"READ_ONLY"}]}`, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.ReplaceAll(tc.body, "{n}", h.next())
			path := "/environments/acme/users"
			var target *gatehouse.User
			if tc.target != nil {
				target = h.newUser("acme", tc.target, "Initial-pass-1")
				// Lock the target out, so that an unlock has something to undo.
				if _, err := h.svc.Store.RegisterFailedAttempt(ctx, "acme", target.ID, 1, time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				path += "/" + target.ID + tc.suffix
			}
			before, seq := h.snapshot("acme"), h.auditHead("acme")
			r := h.do(tc.method, path, h.tokens["acme"][tc.caller], body)
			if tc.status == 403 {
				wantProblem(t, tc.name, r, 403, gatehouse.EFORBIDDEN, "ENVIRONMENT_ADMIN")
				wantUnchanged(t, "acme after a refused escalation", before, h.snapshot("acme"))
				h.wantOnlyFailuresAudited(t, "acme's audit log after a refused escalation", "acme", seq)
				return
			}
			wantStatus(t, tc.name, r, tc.status)
		})
	}
}

// jwtParts decodes a compact JWS's header and payload.
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// rawJWT serializes a JWS by hand, signed by sign over the signing input.
func rawJWT(t *testing.T, header, claims map[string]any, sign func(input string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

// signJWT signs claims with go-jose.
func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// privateKey opens an environment's current signing key.
func (h *apiHarness) privateKey(env string) (kid string, key any) {
	h.t.Helper()
	all, err := h.svc.Store.ListSigningKeys(context.Background(), env)
	if err != nil {
		h.t.Fatalf("keys of %s: %v", env, err)
	}
	var keys []*gatehouse.SigningKey
	for _, k := range all {
		if k.State == gatehouse.KeyCurrent {
			keys = append(keys, k)
		}
	}
	if len(keys) != 1 {
		h.t.Fatalf("current keys of %s: %v", env, all)
	}
	der, err := h.svc.OpenSecret(context.Background(), env, keys[0].SecretName)
	if err != nil {
		h.t.Fatal(err)
	}
	signer, err := signing.ParsePrivate(der)
	if err != nil {
		h.t.Fatal(err)
	}
	return keys[0].KID, signer
}

func with(claims map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// TestAPITokenAttacks sends forged, tampered, foreign, expired and revoked
// tokens to GET users.
func TestAPITokenAttacks(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	ctx := context.Background()
	const usersPath = "/environments/acme/users"
	app := h.apps["acme"][envAdmin]
	good := h.tokens["acme"][envAdmin]
	wantStatus(t, "the genuine token", h.do("GET", usersPath, good, ""), 200)
	header, claims := jwtParts(t, good)
	kid, _ := header["kid"].(string)
	if header["alg"] != "ES256" || header["typ"] != "at+jwt" || kid == "" {
		t.Fatalf("genuine token header %v", header)
	}
	now := time.Now().Unix()

	// One byte of the payload changed: the jti's first character.
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	at := strings.Index(string(payload), `"jti":"`) + len(`"jti":"`)
	if payload[at] == '0' {
		payload[at] = '1'
	} else {
		payload[at] = '0'
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]

	none := rawJWT(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, claims, func(string) []byte { return nil })

	// HS256 keyed with the public JWK as the JWKS serves it.
	var jwks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	resp, body := fetch(t, h.ts.URL+"/acme/oauth2/jwks")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &jwks) != nil || len(jwks.Keys) != 2 { // current and next
		t.Fatalf("JWKS: %d %s", resp.StatusCode, body)
	}
	hs256 := func(key []byte) string {
		return rawJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, func(in string) []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(in))
			return m.Sum(nil)
		})
	}

	globexMinted, err := h.svc.MintAccessToken(ctx, "globex", service.AccessClaims{
		Subject: app.ClientID, ClientID: app.ClientID, SubjectType: gatehouse.ActorApplication, AdminRoles: []string{envAdmin},
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	globexKid, globexKey := h.privateKey("globex")
	acmeKid, acmeKey := h.privateKey("acme")
	if acmeKid != kid {
		t.Fatalf("the token's kid %s is not acme's key %s", kid, acmeKid)
	}
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	past := &service.Service{Store: h.svc.Store, Keyring: h.svc.Keyring, BaseURL: h.svc.BaseURL,
		Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	expired, err := past.MintAccessToken(ctx, "acme", service.AccessClaims{
		Subject: app.ClientID, ClientID: app.ClientID, SubjectType: gatehouse.ActorApplication, AdminRoles: []string{envAdmin},
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name          string
		authorization string
	}{
		{"no Authorization", ""},
		{"Basic credentials", "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ClientID+":"+app.ClientSecret))},
		{"Bearer without a token", "Bearer "},
		{"garbage", "Bearer not.a.token"},
		{"random text", "Bearer " + strings.Repeat("x", 100)},
		{"oversized token", "Bearer " + good + strings.Repeat("A", 9000)},
		{"one payload byte changed", "Bearer " + tampered},
		{"signature stripped", "Bearer " + parts[0] + "." + parts[1] + "."},
		{"alg none", "Bearer " + none},
		{"HS256 keyed with the public JWK", "Bearer " + hs256(jwks.Keys[0])},
		{"HS256 keyed with the JWKS document", "Bearer " + hs256([]byte(body))},
		{"minted by globex", "Bearer " + globexMinted},
		{"signed by globex's key with acme's issuer", "Bearer " + signJWT(t, jose.ES256, globexKey, globexKid, "at+jwt", claims)},
		{"signed by globex's key under acme's kid", "Bearer " + signJWT(t, jose.ES256, globexKey, kid, "at+jwt", claims)},
		{"signed by a key outside the JWKS", "Bearer " + signJWT(t, jose.ES256, foreign, "fresh-key", "at+jwt", claims)},
		{"signed by a key outside the JWKS under acme's kid", "Bearer " + signJWT(t, jose.ES256, foreign, kid, "at+jwt", claims)},
		{"expired an hour ago", "Bearer " + expired},
		{"acme's key, typ JWT instead of at+jwt", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "JWT", claims)},
		{"acme's key, no kid", "Bearer " + signJWT(t, jose.ES256, acmeKey, "", "at+jwt", claims)},
		{"acme's key, globex's issuer", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "at+jwt", with(claims, "iss", h.svc.Issuer("globex")))},
		{"acme's key, env globex", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "at+jwt", with(claims, "env", "globex"))},
		{"acme's key, not valid for an hour", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "at+jwt", with(claims, "nbf", now+3600, "iat", now+3600))},
		{"acme's key, expired", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "at+jwt", with(claims, "exp", now-3600))},
		{"acme's key, an unknown subject type", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "at+jwt", with(claims, "sub_type", "OPERATOR"))},
		{"acme's key, a client that does not exist", "Bearer " + signJWT(t, jose.ES256, acmeKey, kid, "at+jwt", with(claims, "sub", "ghost", "client_id", "ghost"))},
	}
	for _, tc := range cases {
		r := h.doWith("GET", usersPath, tc.authorization, "", "")
		wantProblem(t, tc.name, r, http.StatusUnauthorized, gatehouse.EUNAUTHORIZED)
		if strings.Contains(r.body, "items") {
			t.Errorf("%s: the refusal carries data: %s", tc.name, r)
		}
	}

	// A token whose application is deleted afterwards.
	doomed := h.newApp("acme", gatehouse.AppTypeService, []string{envAdmin})
	doomedToken := h.mustToken("acme", doomed)
	wantStatus(t, "before the application is deleted", h.do("GET", usersPath, doomedToken, ""), 200)
	wantStatus(t, "deleting the application", h.do("DELETE", "/environments/acme/applications/"+doomed.ID, good, ""), 204)
	wantProblem(t, "token of a deleted application", h.do("GET", usersPath, doomedToken, ""), 401, gatehouse.EUNAUTHORIZED)

	// A token whose application loses its role afterwards.
	demoted := h.newApp("acme", gatehouse.AppTypeService, []string{envAdmin})
	demotedToken := h.mustToken("acme", demoted)
	wantStatus(t, "before the application loses its role", h.do("GET", usersPath, demotedToken, ""), 200)
	wantStatus(t, "removing the role", h.do("PATCH", "/environments/acme/applications/"+demoted.ID, good, `{"roles":[]}`), 200)
	wantProblem(t, "token of an application without its role", h.do("GET", usersPath, demotedToken, ""), 403, gatehouse.EFORBIDDEN)

	// A token of an environment disabled afterwards.
	sleepyID := h.newEnvironment()
	sleepyToken := h.mustToken(sleepyID, h.newApp(sleepyID, gatehouse.AppTypeService, []string{envAdmin}))
	sleepyUsers := "/environments/" + sleepyID + "/users"
	wantStatus(t, "before the environment is disabled", h.do("GET", sleepyUsers, sleepyToken, ""), 200)
	disabled := gatehouse.EnvironmentDisabled
	if _, err := h.svc.UpdateEnvironment(ctx, service.OperatorActor(), sleepyID, service.EnvironmentChange{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", sleepyUsers, sleepyToken, "")
	switch r.status {
	case 401:
		wantProblem(t, "token of a disabled environment", r, 401, gatehouse.EUNAUTHORIZED)
	case 404:
		wantProblem(t, "token of a disabled environment", r, 404, gatehouse.ENOTFOUND)
	default:
		t.Errorf("token of a disabled environment: %s, want 401 or 404", r)
	}
}

// TestAPIBearerSchemeIsCaseInsensitive: the token endpoint answers
// token_type "bearer", and HTTP authentication schemes are case-insensitive
// (RFC 9110 §11.1), so a client sending "bearer <token>" must be served.
func TestAPIBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	token := h.tokens["acme"][readOnly]
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		wantStatus(t, "scheme "+scheme, h.doWith("GET", "/environments/acme/users", scheme+" "+token, "", ""), 200)
	}
}

// TestAPIBadInput sends malformed bodies and parameters: each is refused
// with a problem that says what is wrong, and nothing changes.
func TestAPIBadInput(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	token := h.tokens["acme"][envAdmin]
	operator := h.tokens[gatehouse.SystemEnvironmentID][envAdmin]
	users := "/environments/acme/users"

	// Every write that takes a body gets every malformed body.
	big := `{"username":"` + strings.Repeat("a", 1<<20) + `"}`
	bodies := []struct{ name, contentType, body, detail string }{
		{"malformed JSON", "application/json", `{"username": "x",}`, "not valid JSON"},
		{"truncated JSON", "application/json", `{"username": "x"`, "JSON"},
		{"empty body", "application/json", "", "empty"},
		// What the problem says of these is TestAPIBodyThatIsNotAnObject's.
		{"JSON array", "application/json", `[{"username":"x"}]`, ""},
		{"JSON string", "application/json", `"x"`, ""},
		{"two objects", "application/json", `{}{}`, "one JSON object"},
		{"trailing garbage", "application/json", `{} garbage`, "one JSON object"},
		{"trailing bracket", "application/json", `{} ]`, "after the JSON object"},
		{"unknown field", "application/json", `{"noSuchField":1}`, `unknown field "noSuchField"`},
		{"larger than 1 MiB", "application/json", big, "larger than 1048576 bytes"},
		{"text/plain", "text/plain", `{}`, "application/json"},
		{"form-encoded", "application/x-www-form-urlencoded", `username=x`, "application/json"},
	}
	for _, rt := range apiRouteTable {
		if rt.body == "" {
			continue
		}
		c := h.resolve(rt, "acme", "acme")
		tok := token
		if rt.system() {
			tok = operator
		}
		before, envsBefore := h.snapshot("acme"), h.environmentIDs()
		for _, b := range bodies {
			what := b.name + ": " + c.method + " " + c.path
			r := h.doWith(c.method, c.path, "Bearer "+tok, b.body, b.contentType)
			wantProblem(t, what, r, 400, gatehouse.EINVALID, b.detail)
		}
		wantUnchanged(t, "acme after malformed bodies to "+rt.String(), before, h.snapshot("acme"))
		wantUnchanged(t, "environments after malformed bodies to "+rt.String(), envsBefore, h.environmentIDs())
	}

	// Invalid users.
	existing := h.do("POST", users, token, `{"username":"Carol","ref":"REF-1"}`)
	wantStatus(t, "creating Carol", existing, 201)
	var carol gatehouse.User
	existing.decode(t, &carol)
	other := h.newUser("acme", nil, "")
	invalid := []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"wrong type", "POST", users, `{"username":5}`, 400, "field username must be a string"},
		{"wrong type in a nested field", "POST", users, `{"username":"x","roles":[{"role":7}]}`, 400, "roles.role must be a string"},
		{"null body", "POST", users, `null`, 400, "username is required"},
		{"no username", "POST", users, `{"firstName":"Nobody"}`, 400, "username is required"},
		{"username of 251 characters", "POST", users, `{"username":"` + strings.Repeat("u", 251) + `"}`, 400, "longer than 250"},
		{"username with a control character", "POST", users, `{"username":"a\u0000b"}`, 400, "control characters"},
		{"username with surrounding spaces", "POST", users, `{"username":" padded "}`, 400, "surrounding spaces"},
		{"status DISABLED", "POST", users, `{"username":"dis","status":"DISABLED"}`, 400, "status must be ACTIVE or INACTIVE"},
		{"corporate user with a password", "POST", users, `{"username":"corp-pw","identityProvider":"okta-1","password":"Secret-pass-1"}`, 400, "corporate"},
		{"empty password", "POST", users, `{"username":"nopw","password":""}`, 400, "password is empty"},
		{"undefined role", "POST", users, `{"username":"norole","roles":[{"role":"NO_SUCH_ROLE"}]}`, 400, "NO_SUCH_ROLE is not defined"},
		{"bad email", "POST", users, `{"username":"mail","primaryEmail":"not-an-email"}`, 400, "primaryEmail"},
		{"duplicate username differing only in case", "POST", users, `{"username":"cAROL"}`, 409, "already exists"},
		{"duplicate ref", "POST", users, `{"username":"dave","ref":"REF-1"}`, 409, "already exists"},
		{"PATCH status DISABLED", "PATCH", users + "/" + other.ID, `{"status":"DISABLED"}`, 400, "status must be"},
		{"PATCH username onto Carol's", "PATCH", users + "/" + other.ID, `{"username":"CAROL"}`, 409, "already exists"},
		{"PATCH ref onto Carol's", "PATCH", users + "/" + other.ID, `{"ref":"REF-1"}`, 409, "already exists"},
		{"PATCH a password", "PATCH", users + "/" + other.ID, `{"password":"Secret-pass-1"}`, 400, "cannot be patched"},
		{"PATCH the identity provider", "PATCH", users + "/" + other.ID, `{"identityProvider":"okta-1"}`, 400, "cannot be patched"},
		{"PUT roles without roles", "PUT", users + "/" + other.ID + "/roles", `{}`, 400, "roles is required"},
		{"PUT roles twice the same", "PUT", users + "/" + other.ID + "/roles", `{"roles":[{"role":"ADMIN"},{"role":"ADMIN"}]}`, 400, "assigned twice"},
		{"PUT password without password", "PUT", users + "/" + other.ID + "/password", `{"forceChange":false}`, 400, "password is required"},
		{"unknown user", "GET", users + "/00000000000000000000000000", "", 404, "not found"},
	}
	for _, tc := range invalid {
		before := h.snapshot("acme")
		r := h.do(tc.method, tc.path, token, tc.body)
		code := gatehouse.EINVALID
		switch tc.status {
		case 409:
			code = gatehouse.ECONFLICT
		case 404:
			code = gatehouse.ENOTFOUND
		}
		wantProblem(t, tc.name, r, tc.status, code, tc.detail)
		wantUnchanged(t, "acme after "+tc.name, before, h.snapshot("acme"))
	}
	wantStatus(t, "username of exactly 250 characters", h.do("POST", users, token, `{"username":"`+strings.Repeat("u", 250)+`"}`), 201)
	wantStatus(t, "Content-Type with a charset", h.doWith("POST", users, "Bearer "+token, `{"username":"charset"}`, "application/json; charset=utf-8"), 201)
	wantStatus(t, "no Content-Type", h.doWith("POST", users, "Bearer "+token, `{"username":"no-content-type"}`, ""), 201)

	// Injection strings are data: stored verbatim, read back exactly.
	for _, s := range []string{"'; DROP TABLE users; --", "<script>alert(1)</script>", "${jndi:ldap://x}", "../../etc/passwd", "%00", `"quoted" \ back\slash`, "ünïcødé ✓"} {
		body, _ := json.Marshal(map[string]string{"username": s, "firstName": s})
		r := h.do("POST", users, token, string(body))
		if r.status != 201 {
			t.Errorf("creating user %q: %s", s, r)
			continue
		}
		var created gatehouse.User
		r.decode(t, &created)
		got := h.do("GET", users+"/"+created.ID, token, "")
		var u gatehouse.User
		got.decode(t, &u)
		if u.Username != s || u.FirstName != s {
			t.Errorf("user %q read back as %q / %q", s, u.Username, u.FirstName)
		}
		if got.header.Get("Content-Type") != "application/json" || got.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("user %q served as %q, nosniff %q", s, got.header.Get("Content-Type"), got.header.Get("X-Content-Type-Options"))
		}
		if !strings.Contains(s, "%") {
			list := h.do("GET", users+"?"+url.Values{"username": {s}}.Encode(), token, "")
			var page service.UserPage
			list.decode(t, &page)
			if len(page.Items) != 1 || page.Items[0].ID != created.ID {
				t.Errorf("listing username=%q: %s", s, list)
			}
		}
	}
	var all service.UserPage
	h.do("GET", users+"?limit=1000", token, "").decode(t, &all)
	if len(all.Items) < 10 {
		t.Errorf("after the injection strings the users list has %d users", len(all.Items))
	}

	// Query parameters of GET users.
	for _, q := range []struct{ query, detail string }{
		{"foo=1", `unknown query parameter "foo"`},
		{"limit=1&limit=2", "more than once"},
		{"username=a&username=b", "more than once"},
		{"limit=0", "limit must be"},
		{"limit=1001", "limit must be"},
		{"limit=abc", "limit must be"},
		{"limit=-1", "limit must be"},
		{"limit=1.5", "limit must be"},
		{"limit=", ""}, // an empty limit is the default: not an error
		{"cursor=!!!not-base64!!!", "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString(make([]byte, 100)), "cursor"},
		{"createdFrom=yesterday", "RFC 3339"},
		{"updatedTo=2026-13-01T00:00:00Z", "RFC 3339"},
	} {
		r := h.do("GET", users+"?"+q.query, token, "")
		if q.detail == "" {
			wantStatus(t, "GET users?"+q.query, r, 200)
			continue
		}
		wantProblem(t, "GET users?"+q.query, r, 400, gatehouse.EINVALID, q.detail)
	}
	for _, limit := range []string{"1", "1000"} {
		wantStatus(t, "GET users?limit="+limit, h.do("GET", users+"?limit="+limit, token, ""), 200)
	}

	// A corporate user never gets a password, and names an IdP of its own
	// environment.
	wantProblem(t, "a corporate user of an unknown IdP", h.do("POST", users, token, `{"username":"corp","identityProvider":"okta-1"}`),
		400, gatehouse.EINVALID, `no identity provider "okta-1" in this environment`)
	wantProblem(t, "a corporate user of another environment's IdP", h.do("POST", users, token,
		`{"username":"corp","identityProvider":"`+h.newIdentityProvider("globex").ID+`"}`), 400, gatehouse.EINVALID, "no identity provider")
	idp := h.newIdentityProvider("acme").ID
	r := h.do("POST", users, token, `{"username":"corp","identityProvider":"`+idp+`"}`)
	wantStatus(t, "creating a corporate user", r, 201)
	var corp gatehouse.User
	r.decode(t, &corp)
	if corp.PasswordState != gatehouse.PasswordExternal || corp.IdentityProvider != idp {
		t.Errorf("corporate user: %s", r)
	}
	for _, c := range []struct{ method, suffix, body string }{
		{"PUT", "/password", `{"password":"Secret-pass-1","forceChange":false}`},
		{"POST", "/password/force-change", ""},
		{"POST", "/unlock", ""},
	} {
		wantProblem(t, c.method+" "+c.suffix+" of a corporate user", h.do(c.method, users+"/"+corp.ID+c.suffix, token, c.body), 400, gatehouse.EINVALID, "corporate")
	}
	var after gatehouse.User
	h.do("GET", users+"/"+corp.ID, token, "").decode(t, &after)
	stored, err := h.svc.Store.GetUser(context.Background(), "acme", corp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordState != gatehouse.PasswordExternal || stored.PasswordHash != "" || stored.PasswordChangedOn != nil {
		t.Errorf("corporate user after password attempts: state %s, hash stored %v", after.PasswordState, stored.PasswordHash != "")
	}

	// Other query and path parameters.
	for _, q := range []struct{ path, detail string }{
		{"/environments/acme/audit-events?limit=0", "limit must be"},
		{"/environments/acme/audit-events?cursor=abc", "cursor"},
		{"/environments/acme/audit-events?from=yesterday", "RFC 3339"},
		{"/environments/acme/audit-events?actorId=x", `unknown query parameter "actorId"`},
		{"/environments/acme/audit-events?action=A&action=B", "more than once"},
	} {
		wantProblem(t, "GET "+q.path, h.do("GET", q.path, token, ""), 400, gatehouse.EINVALID, q.detail)
	}
	for _, q := range []struct{ path, detail string }{
		{"/environments?limit=5000", "limit must be"},
		{"/environments?page=2", `unknown query parameter "page"`},
		{"/environments?cursor=a&cursor=b", "more than once"},
	} {
		wantProblem(t, "GET "+q.path, h.do("GET", q.path, operator, ""), 400, gatehouse.EINVALID, q.detail)
	}
}

// TestAPIBodyThatIsNotAnObject: a JSON array, string or number where an
// object is required is refused with a detail that says an object is
// required, in the API's words rather than Go's (no empty field name, no
// Go type such as server.userInput or struct { … }).
func TestAPIBodyThatIsNotAnObject(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	for _, rt := range apiRouteTable {
		if rt.body == "" {
			continue
		}
		c := h.resolve(rt, "acme", "acme")
		tok := h.tokens["acme"][envAdmin]
		if rt.system() {
			tok = h.tokens[gatehouse.SystemEnvironmentID][envAdmin]
		}
		goSpeak := regexp.MustCompile(`field  |struct \{|\b(server|gatehouse)\.[A-Za-z]`)
		var bad []string
		for _, body := range []string{`[{"username":"x"}]`, `"x"`, `42`} {
			r := h.do(c.method, c.path, tok, body)
			var p problem
			json.Unmarshal([]byte(r.body), &p)
			if r.status != 400 || p.Code != gatehouse.EINVALID || !strings.Contains(p.Detail, "JSON object") || goSpeak.MatchString(p.Detail) {
				bad = append(bad, fmt.Sprintf("%s → %d %q", body, r.status, p.Detail))
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s: a body that is not an object is not named as such: %s", rt, strings.Join(bad, "; "))
		}
	}
}

// TestAPIUsersHappyPath walks a user's life through the API.
func TestAPIUsersHappyPath(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	token := h.tokens["acme"][envAdmin]
	users := "/environments/acme/users"

	r := h.do("POST", users, token, `{"username":"alice","firstName":"Alice","lastName":"Liddell","primaryEmail":"alice@example.com",`+
		`"type":"RETAILER","password":"Wonder-land-1","attributes":[{"name":"tier","type":"STRING","value":"gold"}]}`)
	wantStatus(t, "creating alice", r, 201)
	var alice gatehouse.User
	r.decode(t, &alice)
	if alice.ID == "" || alice.Username != "alice" || alice.PasswordState != gatehouse.PasswordMustChange ||
		alice.Status != gatehouse.UserActive || alice.IdentityProvider != gatehouse.LocalIdentityProvider || alice.EnvironmentID != "acme" {
		t.Errorf("created alice: %s", r)
	}
	if strings.Contains(r.body, "argon2") || strings.Contains(r.body, "Wonder-land-1") {
		t.Errorf("the representation carries the password or its hash: %s", r)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/environments/acme/users/"+alice.ID {
		t.Errorf("Location %q", loc)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	r = h.do("GET", users+"/"+alice.ID, token, "")
	var got gatehouse.User
	r.decode(t, &got)
	if r.status != 200 || got.Username != "alice" || got.PrimaryEmail != "alice@example.com" || len(got.Attributes) != 1 || got.PasswordState != gatehouse.PasswordMustChange {
		t.Errorf("GET alice: %s", r)
	}

	// Five users to filter and page through.
	early := h.do("POST", users, token, `{"username":"pager-early","type":"LOCATION"}`)
	wantStatus(t, "creating pager-early", early, 201)
	time.Sleep(2 * time.Millisecond)
	createdFrom := time.Now().UTC()
	var pagers []string
	for i := range 4 {
		r := h.do("POST", users, token, fmt.Sprintf(`{"username":"pager-%d","type":"LOCATION"}`, i))
		wantStatus(t, "creating a pager", r, 201)
		var u gatehouse.User
		r.decode(t, &u)
		pagers = append(pagers, u.ID)
	}
	var earlyUser gatehouse.User
	early.decode(t, &earlyUser)
	allPagers := append([]string{earlyUser.ID}, pagers...)
	list := func(q url.Values) service.UserPage {
		t.Helper()
		r := h.do("GET", users+"?"+q.Encode(), token, "")
		if r.status != 200 {
			t.Fatalf("GET users?%s: %s", q.Encode(), r)
		}
		var page service.UserPage
		r.decode(t, &page)
		return page
	}
	ids := func(page service.UserPage) []string {
		var out []string
		for _, u := range page.Items {
			out = append(out, u.ID)
		}
		return out
	}
	if got := ids(list(url.Values{"username": {"PAGER-%"}})); !slices.Equal(got, allPagers) {
		t.Errorf("username PAGER-%%: %v, want %v", got, allPagers)
	}
	if got := ids(list(url.Values{"username": {"Alice"}})); !slices.Equal(got, []string{alice.ID}) {
		t.Errorf("username Alice: %v", got)
	}
	if got := ids(list(url.Values{"type": {"LOCATION"}})); !slices.Equal(got, allPagers) {
		t.Errorf("type LOCATION: %v, want %v", got, allPagers)
	}
	if got := ids(list(url.Values{"type": {"LOCATION"}, "createdFrom": {createdFrom.Format(time.RFC3339Nano)}})); !slices.Equal(got, pagers) {
		t.Errorf("createdFrom %s: %v, want %v", createdFrom.Format(time.RFC3339Nano), got, pagers)
	}
	if got := ids(list(url.Values{"firstName": {"al%"}, "lastName": {"Liddell"}})); !slices.Equal(got, []string{alice.ID}) {
		t.Errorf("firstName al%%, lastName Liddell: %v", got)
	}
	if got := ids(list(url.Values{"primaryEmail": {"ALICE@example.com"}})); !slices.Equal(got, []string{alice.ID}) {
		t.Errorf("primaryEmail ALICE@example.com: %v", got)
	}
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := url.Values{"type": {"LOCATION"}, "limit": {"2"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page := list(q)
		if len(page.Items) > 2 || pages > 3 {
			t.Fatalf("page %d has %d users (cursor %q)", pages, len(page.Items), page.NextCursor)
		}
		paged = append(paged, ids(page)...)
		if cursor = page.NextCursor; cursor == "" {
			if pages != 2 {
				t.Errorf("5 users came in %d pages of 2", pages+1)
			}
			break
		}
	}
	if !slices.Equal(paged, allPagers) {
		t.Errorf("paging: %v, want %v", paged, allPagers)
	}
	// A search that no index narrows reads at most UserSearchScan users a
	// page: short pages say so, and their cursor goes on from where the
	// search stopped. (Substrings of fewer than three characters have no
	// index.)
	want := ids(list(url.Values{"username": {"%r-%"}}))
	if len(want) < len(allPagers) {
		t.Fatalf("%%r-%% found %v", want)
	}
	h.svc.UserSearchScan = 2
	var found []string
	stops := 0
	cursor = ""
	for pages := 0; ; pages++ {
		q := url.Values{"username": {"%r-%"}, "limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page := list(q)
		if pages > 20 || len(page.Items) > 2 {
			t.Fatalf("page %d: %d users", pages, len(page.Items))
		}
		if page.SearchLimitReached {
			stops++
		}
		found = append(found, ids(page)...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
		if !page.SearchLimitReached {
			t.Fatalf("page %d of %d users has a next page, and no stop", pages, len(page.Items))
		}
	}
	if !slices.Equal(found, want) || stops == 0 {
		t.Errorf("a bounded search found %v in %d stops, want %v", found, stops, want)
	}
	h.svc.UserSearchScan = 0

	// Status, roles, password. Each answer is decoded afresh: omitted
	// fields must read as absent.
	user := func(what string, r *apiResponse) gatehouse.User {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%s: %s", what, r)
		}
		var u gatehouse.User
		r.decode(t, &u)
		return u
	}
	u := user("PATCH status INACTIVE", h.do("PATCH", users+"/"+pagers[0], token, `{"status":"INACTIVE","department":"Ops"}`))
	if u.Status != gatehouse.UserInactive || u.Department != "Ops" || u.Username != "pager-0" {
		t.Errorf("after PATCH: %+v", u)
	}
	if got := ids(list(url.Values{"status": {"INACTIVE"}})); !slices.Equal(got, []string{pagers[0]}) {
		t.Errorf("status INACTIVE: %v", got)
	}
	user("PUT roles", h.do("PUT", users+"/"+alice.ID+"/roles", token, `{"roles":[{"role":"STORE_ASSISTANT","context":{"type":"LOCATION","id":"l1"}},{"role":"ADMIN"}]}`))
	u = user("GET alice", h.do("GET", users+"/"+alice.ID, token, ""))
	wantRoles := []gatehouse.RoleAssignment{{Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}, {Role: "ADMIN"}}
	if !slices.Equal(roleStrings(u.Roles), roleStrings(wantRoles)) {
		t.Errorf("roles after PUT: %v", roleStrings(u.Roles))
	}
	u = user("PUT password", h.do("PUT", users+"/"+alice.ID+"/password", token, `{"password":"Looking-glass-2","forceChange":false}`))
	if u.PasswordState != gatehouse.PasswordOK {
		t.Errorf("password state after PUT password without force: %s", u.PasswordState)
	}
	u = user("force-change", h.do("POST", users+"/"+alice.ID+"/password/force-change", token, ""))
	if u.PasswordState != gatehouse.PasswordMustChange {
		t.Errorf("password state after force-change: %s", u.PasswordState)
	}
	if _, err := h.svc.Store.RegisterFailedAttempt(context.Background(), "acme", alice.ID, 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	u = user("GET locked-out alice", h.do("GET", users+"/"+alice.ID, token, ""))
	if u.PasswordState != gatehouse.PasswordLockedOut || u.LockedUntil == nil {
		t.Errorf("locked-out alice: %+v", u)
	}
	u = user("unlock", h.do("POST", users+"/"+alice.ID+"/unlock", token, ""))
	if u.PasswordState != gatehouse.PasswordMustChange || u.LockedUntil != nil {
		t.Errorf("after unlock: state %s, lockedUntil %v", u.PasswordState, u.LockedUntil)
	}
	wantStatus(t, "DELETE alice", h.do("DELETE", users+"/"+alice.ID, token, ""), 204)
	wantProblem(t, "GET alice after DELETE", h.do("GET", users+"/"+alice.ID, token, ""), 404, gatehouse.ENOTFOUND)
	wantProblem(t, "DELETE alice twice", h.do("DELETE", users+"/"+alice.ID, token, ""), 404, gatehouse.ENOTFOUND)
	if got := ids(list(url.Values{"username": {"alice"}})); len(got) != 0 {
		t.Errorf("deleted alice is still listed: %v", got)
	}
}

func roleStrings(roles []gatehouse.RoleAssignment) []string {
	var out []string
	for _, a := range roles {
		s := a.Role
		if a.Context != nil {
			s += "@" + a.Context.Type + ":" + a.Context.ID
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestAPIRolesAndPasswordPolicy covers role definitions and the password
// policy.
func TestAPIRolesAndPasswordPolicy(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	token := h.tokens["acme"][envAdmin]
	roles := "/environments/acme/roles"

	r := h.do("POST", roles, token, `{"name":"AUDITOR","description":"Reads orders","permissions":["ORDER_VIEW"]}`)
	wantStatus(t, "creating AUDITOR", r, 201)
	var role gatehouse.Role
	r.decode(t, &role)
	if role.Name != "AUDITOR" || role.Builtin || !slices.Equal(role.Permissions, []string{"ORDER_VIEW"}) {
		t.Errorf("created role: %s", r)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/environments/acme/roles/AUDITOR" {
		t.Errorf("Location of the new role: %q", loc)
	}
	wantProblem(t, "creating AUDITOR twice", h.do("POST", roles, token, `{"name":"AUDITOR"}`), 409, gatehouse.ECONFLICT)
	wantProblem(t, "a lower-case role name", h.do("POST", roles, token, `{"name":"auditor"}`), 400, gatehouse.EINVALID, "UPPER_SNAKE_CASE")
	wantProblem(t, "a bad permission", h.do("POST", roles, token, `{"name":"BAD","permissions":["view orders"]}`), 400, gatehouse.EINVALID, "NOUN_VERB")
	r = h.do("GET", roles+"/AUDITOR", token, "")
	wantStatus(t, "GET AUDITOR", r, 200)
	var list struct{ Items []gatehouse.Role }
	h.do("GET", roles, token, "").decode(t, &list)
	var names []string
	for _, r := range list.Items {
		names = append(names, r.Name)
	}
	for _, want := range []string{"ADMIN", "STORE_ASSISTANT", envAdmin, userAdmin, readOnly, "AUDITOR"} {
		if !slices.Contains(names, want) {
			t.Errorf("roles list %v lacks %s", names, want)
		}
	}
	r = h.do("PATCH", roles+"/AUDITOR", token, `{"description":"Reads and updates orders","permissions":["ORDER_VIEW","ORDER_UPDATE"]}`)
	wantStatus(t, "PATCH AUDITOR", r, 200)
	r.decode(t, &role)
	if role.Description != "Reads and updates orders" || len(role.Permissions) != 2 {
		t.Errorf("patched role: %s", r)
	}
	wantProblem(t, "renaming a role", h.do("PATCH", roles+"/AUDITOR", token, `{"name":"OTHER"}`), 400, gatehouse.EINVALID, "renamed")
	wantProblem(t, "changing ENVIRONMENT_ADMIN", h.do("PATCH", roles+"/ENVIRONMENT_ADMIN", token, `{"permissions":[]}`), 400, gatehouse.EINVALID, "cannot be changed")
	wantProblem(t, "deleting built-in STORE_ASSISTANT", h.do("DELETE", roles+"/STORE_ASSISTANT", token, ""), 400, gatehouse.EINVALID, "built-in")
	wantProblem(t, "deleting built-in ENVIRONMENT_ADMIN", h.do("DELETE", roles+"/ENVIRONMENT_ADMIN", token, ""), 400, gatehouse.EINVALID, "built-in")
	wantStatus(t, "DELETE AUDITOR", h.do("DELETE", roles+"/AUDITOR", token, ""), 204)
	wantProblem(t, "GET AUDITOR after DELETE", h.do("GET", roles+"/AUDITOR", token, ""), 404, gatehouse.ENOTFOUND)

	// The password policy.
	policyPath := "/environments/acme/password-policy"
	r = h.do("GET", policyPath, token, "")
	var pol gatehouse.PasswordPolicy
	r.decode(t, &pol)
	if r.status != 200 || pol.Preset != gatehouse.PresetBasic || pol.MinLength != 1 {
		t.Errorf("GET password-policy: %s", r)
	}
	r = h.do("PUT", policyPath, token, `{"preset":"STANDARD"}`)
	wantStatus(t, "PUT preset STANDARD", r, 200)
	r.decode(t, &pol)
	if standard, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetStandard); pol != standard {
		t.Errorf("policy after PUT STANDARD: %+v", pol)
	}
	h.do("GET", policyPath, token, "").decode(t, &pol)
	if pol.Preset != gatehouse.PresetStandard || pol.MinLength != 8 {
		t.Errorf("GET password-policy after PUT: %+v", pol)
	}
	wantProblem(t, "PUT an unknown preset", h.do("PUT", policyPath, token, `{"preset":"NOPE"}`), 400, gatehouse.EINVALID, "unknown password policy preset")
	u := h.newUser("acme", nil, "")
	weak := h.do("PUT", "/environments/acme/users/"+u.ID+"/password", token, `{"password":"short"}`)
	wantProblem(t, "a weak password under STANDARD", weak, 400, gatehouse.EINVALID, "minLength", "minUppercase", "minDigits")
	wantStatus(t, "a strong password under STANDARD", h.do("PUT", "/environments/acme/users/"+u.ID+"/password", token, `{"password":"Tr1cky-Horse!"}`), 200)
	wantProblem(t, "creating a user with a weak password", h.do("POST", "/environments/acme/users", token, `{"username":"weakling","password":"aaaaaaaa"}`), 400, gatehouse.EINVALID, "the password does not meet the password policy")
}

// TestAPIApplicationsAndSecretRotation covers the applications routes and
// shows a rotated secret replacing the old one at the token endpoint.
func TestAPIApplicationsAndSecretRotation(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	token := h.tokens["acme"][envAdmin]
	apps := "/environments/acme/applications"
	grant := form("grant_type", "client_credentials")

	r := h.do("POST", apps, token, `{"name":"Reporting","type":"service","description":"Nightly reports","roles":["READ_ONLY"]}`)
	wantStatus(t, "creating an application", r, 201)
	var created service.CreatedApplication
	r.decode(t, &created)
	if created.Application == nil || created.ClientID == "" || created.ClientSecret == "" || created.Type != "service" ||
		!slices.Equal(created.GrantTypes, []string{gatehouse.GrantClientCredentials}) || !slices.Equal(created.Roles, []string{readOnly}) {
		t.Fatalf("created application: %s", r)
	}
	first := created.ClientSecret
	if loc := r.header.Get("Location"); loc != "/api/v1/environments/acme/applications/"+created.ID {
		t.Errorf("Location of the new application: %q", loc)
	}
	get := h.do("GET", apps+"/"+created.ID, token, "")
	wantStatus(t, "GET the application", get, 200)
	if strings.Contains(get.body, first) || strings.Contains(get.body, "clientSecret") || strings.Contains(strings.ToLower(get.body), "secrethash") {
		t.Errorf("GET shows the secret: %s", get)
	}
	var list struct{ Items []gatehouse.Application }
	h.do("GET", apps, token, "").decode(t, &list)
	if !slices.ContainsFunc(list.Items, func(a gatehouse.Application) bool { return a.ID == created.ID }) {
		t.Errorf("the list lacks the new application")
	}

	tokenWith := func(secret string) *apiResponse {
		return h.tokenRequest("/acme/oauth2/token", "", grant, basicAuth(created.ClientID, secret))
	}
	r = tokenWith(first)
	wantStatus(t, "token with the first secret", r, 200)
	var tok tokenReply
	r.decode(t, &tok)
	wantStatus(t, "the READ_ONLY application reads users", h.do("GET", "/environments/acme/users", tok.AccessToken, ""), 200)
	wantProblem(t, "the READ_ONLY application writes users", h.do("POST", "/environments/acme/users", tok.AccessToken, `{"username":"nope"}`), 403, gatehouse.EFORBIDDEN)

	r = h.do("PATCH", apps+"/"+created.ID, token, `{"name":"Reporting v2","accessTokenSeconds":600}`)
	wantStatus(t, "PATCH the application", r, 200)
	var patched gatehouse.Application
	r.decode(t, &patched)
	if patched.Name != "Reporting v2" || patched.AccessTokenSeconds != 600 || patched.ClientID != created.ClientID {
		t.Errorf("patched application: %s", r)
	}
	r = tokenWith(first)
	r.decode(t, &tok)
	if r.status != 200 || tok.ExpiresIn != 600 {
		t.Errorf("token after accessTokenSeconds 600: %s", r)
	}
	wantProblem(t, "PATCH the type", h.do("PATCH", apps+"/"+created.ID, token, `{"type":"web"}`), 400, gatehouse.EINVALID, "type cannot change")
	wantProblem(t, "PATCH an unknown role", h.do("PATCH", apps+"/"+created.ID, token, `{"roles":["SUPERUSER"]}`), 400, gatehouse.EINVALID, "SUPERUSER")
	wantProblem(t, "creating a spa with a role", h.do("POST", apps, token, `{"name":"SPA","type":"spa","roles":["READ_ONLY"]}`), 400, gatehouse.EINVALID, "client_credentials")
	wantProblem(t, "creating an application of no type", h.do("POST", apps, token, `{"name":"Typeless"}`), 400, gatehouse.EINVALID, "type")

	r = h.do("POST", apps+"/"+created.ID+"/secret", token, "")
	wantStatus(t, "rotating the secret", r, 200)
	var rotated service.CreatedApplication
	r.decode(t, &rotated)
	if rotated.ClientSecret == "" || rotated.ClientSecret == first || rotated.ClientID != created.ClientID {
		t.Fatalf("rotated: %s", r)
	}
	r = tokenWith(first)
	r.decode(t, &tok)
	if r.status != 401 || tok.Error != "invalid_client" {
		t.Errorf("token with the old secret after rotation: %s", r)
	}
	wantStatus(t, "token with the new secret", tokenWith(rotated.ClientSecret), 200)

	spa := h.do("POST", apps, token, `{"name":"Web front","type":"spa","redirectUris":["https://app.example.com/cb"]}`)
	wantStatus(t, "creating a spa", spa, 201)
	var spaApp service.CreatedApplication
	spa.decode(t, &spaApp)
	if spaApp.ClientSecret != "" {
		t.Errorf("a spa got a secret")
	}
	wantProblem(t, "rotating a spa's secret", h.do("POST", apps+"/"+spaApp.ID+"/secret", token, ""), 400, gatehouse.EINVALID, "public clients")

	wantStatus(t, "DELETE the application", h.do("DELETE", apps+"/"+created.ID, token, ""), 204)
	wantProblem(t, "GET after DELETE", h.do("GET", apps+"/"+created.ID, token, ""), 404, gatehouse.ENOTFOUND)
	wantProblem(t, "rotating a deleted application", h.do("POST", apps+"/"+created.ID+"/secret", token, ""), 404, gatehouse.ENOTFOUND)
	if r := tokenWith(rotated.ClientSecret); r.status != 401 {
		t.Errorf("token of a deleted application: %s", r)
	}
}

// TestAPIAuditEvents checks that management calls are audited with the
// calling application as the actor, and the log's filters.
func TestAPIAuditEvents(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	app := h.apps["acme"][envAdmin]
	token := h.tokens["acme"][envAdmin]
	users := "/environments/acme/users"
	r := h.do("POST", users, token, `{"username":"audited","password":"Audit-pass-1"}`)
	wantStatus(t, "creating a user", r, 201)
	var u gatehouse.User
	r.decode(t, &u)
	wantStatus(t, "PATCH", h.do("PATCH", users+"/"+u.ID, token, `{"firstName":"Audrey"}`), 200)
	wantStatus(t, "PUT roles", h.do("PUT", users+"/"+u.ID+"/roles", token, `{"roles":[{"role":"ADMIN"}]}`), 200)
	wantStatus(t, "PUT password", h.do("PUT", users+"/"+u.ID+"/password", token, `{"password":"Audit-pass-2"}`), 200)
	wantStatus(t, "DELETE", h.do("DELETE", users+"/"+u.ID, token, ""), 204)
	other := h.do("POST", users, token, `{"username":"bystander"}`)
	wantStatus(t, "creating another user", other, 201)
	// A refused call is not a change.
	wantProblem(t, "a READ_ONLY write", h.do("POST", users, h.tokens["acme"][readOnly], `{"username":"refused"}`), 403, gatehouse.EFORBIDDEN)

	events := func(query string) []gatehouse.AuditEvent {
		t.Helper()
		r := h.do("GET", "/environments/acme/audit-events?"+query, h.tokens["acme"][readOnly], "")
		if r.status != 200 {
			t.Fatalf("audit-events?%s: %s", query, r)
		}
		var page struct{ Items []gatehouse.AuditEvent }
		r.decode(t, &page)
		return page.Items
	}
	created := events("action=USER_CREATED")
	if len(created) != 2 {
		t.Errorf("USER_CREATED events: %d, want 2", len(created))
	}
	for _, e := range created {
		if e.Action != service.ActionUserCreated || e.ActorID != app.ClientID || e.ActorType != gatehouse.ActorApplication ||
			e.Outcome != gatehouse.OutcomeSuccess || e.ClientIP != "127.0.0.1" || e.EnvironmentID != "acme" {
			t.Errorf("USER_CREATED event: %+v", e)
		}
		if e.Details["username"] == "refused" {
			t.Errorf("a refused call was audited as a creation")
		}
	}
	var actions []string
	for _, e := range events("target=" + u.ID) {
		if e.TargetID != u.ID || e.ActorID != app.ClientID {
			t.Errorf("target filter returned %+v", e)
		}
		actions = append(actions, e.Action)
	}
	if want := []string{"USER_DELETED", "USER_PASSWORD_SET", "USER_ROLES_SET", "USER_UPDATED", "USER_CREATED"}; !slices.Equal(actions, want) {
		t.Errorf("events of the user, newest first: %v, want %v", actions, want)
	}
	if got := events("target=" + u.ID + "&action=USER_UPDATED"); len(got) != 1 || got[0].Details["fields"] != "firstName" {
		t.Errorf("target and action: %+v", got)
	}
	for _, e := range events("actor=" + app.ClientID) {
		if e.ActorID != app.ClientID {
			t.Errorf("actor filter returned %+v", e)
		}
	}
	page := events("limit=2")
	if len(page) != 2 || page[0].Seq <= page[1].Seq {
		t.Fatalf("limit 2: %+v", page)
	}
	older := events("limit=2&cursor=" + strconv.FormatInt(page[1].Seq, 10))
	if len(older) != 2 || older[0].Seq >= page[1].Seq {
		t.Errorf("the page after seq %d: %+v", page[1].Seq, older)
	}
}

// TestAPIOperatorEnvironments: the system environment's administrators list,
// create, change and delete environments.
func TestAPIOperatorEnvironments(t *testing.T) {
	t.Parallel()
	h := newAPI(t)
	operator := h.tokens[gatehouse.SystemEnvironmentID][envAdmin]
	reader := h.tokens[gatehouse.SystemEnvironmentID][readOnly]

	var page service.EnvironmentPage
	r := h.do("GET", "/environments", reader, "")
	wantStatus(t, "GET environments", r, 200)
	r.decode(t, &page)
	var ids []string
	for _, e := range page.Items {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"acme", "globex", gatehouse.SystemEnvironmentID}) {
		t.Errorf("environments: %v", ids)
	}

	r = h.do("POST", "/environments", operator, `{"id":"initech","displayName":"Initech","adminUsername":"boss"}`)
	wantStatus(t, "creating initech", r, 201)
	var created service.CreatedEnvironment
	r.decode(t, &created)
	if created.Environment == nil || created.Environment.ID != "initech" || created.Environment.Status != gatehouse.EnvironmentActive ||
		created.Admin.Username != "boss" || created.Admin.TemporaryPassword == "" {
		t.Fatalf("created environment: %s", r)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/environments/initech" {
		t.Errorf("Location of the new environment: %q", loc)
	}
	boss, err := h.svc.Store.GetUserByUsername(context.Background(), "initech", "boss")
	if err != nil || !slices.ContainsFunc(boss.Roles, func(a gatehouse.RoleAssignment) bool { return a.Role == envAdmin }) {
		t.Errorf("initech's administrator: %+v %v", boss, err)
	}
	wantProblem(t, "creating initech twice", h.do("POST", "/environments", operator, `{"id":"initech"}`), 409, gatehouse.ECONFLICT)
	wantProblem(t, "a reserved id", h.do("POST", "/environments", operator, `{"id":"api"}`), 400, gatehouse.EINVALID, "reserved")
	wantProblem(t, "an upper-case id", h.do("POST", "/environments", operator, `{"id":"Initech"}`), 400, gatehouse.EINVALID, "lowercase")

	var env gatehouse.Environment
	r = h.do("GET", "/environments/initech", reader, "")
	r.decode(t, &env)
	if r.status != 200 || env.DisplayName != "Initech" {
		t.Errorf("GET initech: %s", r)
	}
	wantStatus(t, "paging environments", h.do("GET", "/environments?limit=1&cursor=globex", reader, ""), 200)

	// An application of initech works until initech is disabled.
	initechApp := h.newApp("initech", gatehouse.AppTypeService, []string{envAdmin})
	h.mustToken("initech", initechApp)
	r = h.do("PATCH", "/environments/initech", operator, `{"displayName":"Initech Corp","status":"DISABLED"}`)
	wantStatus(t, "disabling initech", r, 200)
	r.decode(t, &env)
	if env.Status != gatehouse.EnvironmentDisabled || env.DisplayName != "Initech Corp" {
		t.Errorf("disabled initech: %s", r)
	}
	wantProblem(t, "token endpoint of disabled initech",
		h.tokenRequest("/initech/oauth2/token", "", "grant_type=client_credentials", basicAuth(initechApp.ClientID, initechApp.ClientSecret)), 404, gatehouse.ENOTFOUND)
	wantStatus(t, "enabling initech", h.do("PATCH", "/environments/initech", operator, `{"status":"ACTIVE"}`), 200)
	h.mustToken("initech", initechApp)
	wantProblem(t, "a bad status", h.do("PATCH", "/environments/initech", operator, `{"status":"PAUSED"}`), 400, gatehouse.EINVALID, "status")
	wantProblem(t, "disabling system", h.do("PATCH", "/environments/system", operator, `{"status":"DISABLED"}`), 400, gatehouse.EINVALID, "cannot be disabled")
	wantProblem(t, "deleting system", h.do("DELETE", "/environments/system", operator, ""), 400, gatehouse.EINVALID, "cannot be deleted")
	wantProblem(t, "a READ_ONLY operator deleting", h.do("DELETE", "/environments/initech", reader, ""), 403, gatehouse.EFORBIDDEN)

	wantStatus(t, "deleting initech", h.do("DELETE", "/environments/initech", operator, ""), 204)
	wantProblem(t, "GET initech after DELETE", h.do("GET", "/environments/initech", reader, ""), 404, gatehouse.ENOTFOUND)
	if r := h.tokenRequest("/initech/oauth2/token", "", "grant_type=client_credentials", basicAuth(initechApp.ClientID, initechApp.ClientSecret)); r.status != 404 {
		t.Errorf("token endpoint of deleted initech: %s", r)
	}
	if _, err := h.svc.Store.GetUserByUsername(context.Background(), "initech", "boss"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Errorf("initech's administrator outlived it: %v", err)
	}
}
