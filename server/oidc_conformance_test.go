package server_test

// Tests named after the OpenID Foundation's Basic OP and Config OP
// conformance checks (oidcc-*), run against a real Gatehouse over HTTP: the
// authorization request, the hosted sign-in pages, the token endpoint, the
// ID token, userinfo and discovery.

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// The registered addresses of the suite's applications.
const (
	ocRedirect    = "https://app.example/cb"
	ocRedirect2   = "https://app.example/cb2"
	ocSPARedirect = "https://spa.example/cb"
	ocLogoutURI   = "https://app.example/bye"
	ocPassword    = "Sunflower-meadow-42"
)

// oidcSuite is one environment of a running Gatehouse with a confidential
// web application (refresh tokens on, two redirect URIs), a public SPA and
// a local user whose password needs no change.
type oidcSuite struct {
	t    *testing.T
	h    *apiHarness
	env  string
	web  *service.CreatedApplication
	spa  *service.CreatedApplication
	user *gatehouse.User
}

// newOIDC starts a Gatehouse of its own for the test, which therefore runs
// in parallel with the others that do.
func newOIDC(t *testing.T) *oidcSuite {
	t.Helper()
	t.Parallel()
	return setupOIDC(t, newAPI(t), "acme")
}

// setupOIDC adds the suite's applications and user to env of h.
func setupOIDC(t *testing.T, h *apiHarness, env string) *oidcSuite {
	t.Helper()
	ctx := context.Background()
	web, err := h.svc.CreateApplication(ctx, service.OperatorActor(), env, gatehouse.Application{Name: "web " + h.next(), Type: gatehouse.AppTypeWeb,
		RedirectURIs:        []string{ocRedirect, ocRedirect2},
		ApplicationSettings: gatehouse.ApplicationSettings{PostLogoutRedirectURIs: []string{ocLogoutURI}, RefreshTokens: true}})
	if err != nil {
		t.Fatal(err)
	}
	spa, err := h.svc.CreateApplication(ctx, service.OperatorActor(), env, gatehouse.Application{Name: "spa " + h.next(), Type: gatehouse.AppTypeSPA,
		RedirectURIs: []string{ocSPARedirect}})
	if err != nil {
		t.Fatal(err)
	}
	s := &oidcSuite{t: t, h: h, env: env, web: web, spa: spa}
	s.user = s.newUser("jane@"+env+".example", ocPassword, false)
	return s
}

// newUser makes a local user with a profile; forceChange leaves the
// password to be changed at the first sign-in.
func (s *oidcSuite) newUser(username, password string, forceChange bool) *gatehouse.User {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.h.svc.CreateUser(ctx, service.OperatorActor(), s.env, service.NewUser{User: gatehouse.User{
		Username: username, FirstName: "Jane", LastName: "Doe", PrimaryEmail: username, Timezone: "Europe/Paris", Language: "fr"}})
	if err != nil {
		s.t.Fatal(err)
	}
	if u, err = s.h.svc.SetPassword(ctx, service.OperatorActor(), s.env, u.ID, password, forceChange); err != nil {
		s.t.Fatal(err)
	}
	return u
}

// installClock makes the service's clock time.Now plus the returned skew,
// which a test may change between requests.
func installClock(h *apiHarness) *atomic.Int64 {
	var skew atomic.Int64
	h.svc.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	return &skew
}

// query is an authorization request of app to redirect, scope openid,
// with state and nonce; kv sets more parameters.
func (s *oidcSuite) query(app *service.CreatedApplication, redirect string, kv ...string) url.Values {
	q := url.Values{"client_id": {app.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"state-" + s.h.next()}, "nonce": {"nonce-" + s.h.next()}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func (s *oidcSuite) authorizePath(q url.Values) string {
	return "/" + s.env + "/oauth2/authorize?" + q.Encode()
}

// startLogin sends the authorization request and expects to be sent to a
// sign-in page; it returns that page's URL.
func (s *oidcSuite) startLogin(b *browser, q url.Values) string {
	s.t.Helper()
	start := b.do(http.MethodGet, s.authorizePath(q), nil)
	loc := start.header.Get("Location")
	if start.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/"+s.env+"/login/") {
		s.t.Fatalf("authorization request %v: want a redirect to the sign-in page, got %d %q\n%s", q, start.status, loc, start.body)
	}
	return loc
}

// signIn sends the authorization request and signs the suite's user in
// through the pages; it returns the answer that goes back to the client.
func (s *oidcSuite) signIn(b *browser, q url.Values) page {
	s.t.Helper()
	return s.completeLogin(b, s.startLogin(b, q), s.user.Username, ocPassword)
}

// completeLogin answers the identifier and password steps of the sign-in at
// loginURL, and returns the first answer that is not a sign-in step.
func (s *oidcSuite) completeLogin(b *browser, loginURL, username, password string) page {
	s.t.Helper()
	p := b.do(http.MethodGet, loginURL, nil)
	for range 6 {
		switch {
		case p.status == http.StatusSeeOther && p.header.Get("Location") == loginURL:
			p = b.do(http.MethodGet, loginURL, nil)
		case p.status != http.StatusOK:
			return p
		case strings.Contains(p.body, `name="current"`):
			s.t.Fatalf("sign-in at %s asks for a password change:\n%s", loginURL, p.body)
		case strings.Contains(p.body, `name="username"`):
			p = b.submit(loginURL, p, "username", username)
		case strings.Contains(p.body, `name="password"`):
			p = b.submit(loginURL, p, "password", password)
		default:
			return p
		}
	}
	s.t.Fatalf("sign-in at %s does not finish: %d %s", loginURL, p.status, p.body)
	return p
}

// ssoResponse sends an authorization request that the browser's session
// answers at once, and returns the response parameters.
func (s *oidcSuite) ssoResponse(b *browser, q url.Values) url.Values {
	s.t.Helper()
	return s.clientResponse(b.do(http.MethodGet, s.authorizePath(q), nil), q.Get("redirect_uri"))
}

var (
	formPostAction = regexp.MustCompile(`<form method="(?:post|get)" action="([^"]*)" id="formpost">`)
	hiddenField    = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// formPostFields reads a response_mode=form_post page: where its form
// posts, and its fields.
func formPostFields(p page) (string, url.Values) {
	m := formPostAction.FindStringSubmatch(p.body)
	if m == nil {
		return "", nil
	}
	fields := url.Values{}
	for _, f := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		fields.Add(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// clientResponse checks that p sends the browser back to redirect (by a
// redirect or a form post) and returns the response parameters.
func (s *oidcSuite) clientResponse(p page, redirect string) url.Values {
	s.t.Helper()
	if p.status == http.StatusOK {
		action, fields := formPostFields(p)
		if action != redirect {
			s.t.Fatalf("form post to %q, want %q:\n%s", action, redirect, p.body)
		}
		return fields
	}
	loc := p.header.Get("Location")
	u, err := url.Parse(loc)
	if p.status != http.StatusSeeOther || err != nil {
		s.t.Fatalf("want a redirect to %s, got %d %q\n%s", redirect, p.status, loc, p.body)
	}
	q := u.Query()
	u.RawQuery = ""
	if u.String() != redirect {
		s.t.Fatalf("redirect to %q, want %s", loc, redirect)
	}
	return q
}

// codeReply is the token response of the code grant.
type codeReply struct {
	userGrantReply
	IDToken string `json:"id_token"`
}

// exchange redeems a code at the token endpoint: a confidential client by
// client_secret_basic, a public one by its client_id.
func (s *oidcSuite) exchange(app *service.CreatedApplication, code, redirect, verifier string) (*apiResponse, codeReply) {
	s.t.Helper()
	fields := []string{"grant_type", "authorization_code", "code", code}
	if redirect != "" {
		fields = append(fields, "redirect_uri", redirect)
	}
	if verifier != "" {
		fields = append(fields, "code_verifier", verifier)
	}
	var auth func(*http.Request)
	if app.ClientSecret != "" {
		auth = basicAuth(app.ClientID, app.ClientSecret)
	} else {
		fields = append(fields, "client_id", app.ClientID)
	}
	return s.tokenCall("/"+s.env+"/oauth2/token", form(fields...), auth)
}

func (s *oidcSuite) tokenCall(path, body string, auth func(*http.Request)) (*apiResponse, codeReply) {
	s.t.Helper()
	r := s.h.tokenRequest(path, "", body, auth)
	var reply codeReply
	json.Unmarshal([]byte(r.body), &reply)
	return r, reply
}

// mustExchange redeems a code that must work.
func (s *oidcSuite) mustExchange(app *service.CreatedApplication, code, redirect, verifier string) codeReply {
	s.t.Helper()
	r, reply := s.exchange(app, code, redirect, verifier)
	if r.status != http.StatusOK || reply.AccessToken == "" {
		s.t.Fatalf("code exchange: %s", r)
	}
	return reply
}

// tokensFor signs in with a fresh browser for scope and returns the tokens.
func (s *oidcSuite) tokensFor(scope string) codeReply {
	s.t.Helper()
	q := s.query(s.web, ocRedirect, "scope", scope)
	resp := s.clientResponse(s.signIn(newBrowser(s.t, s.h), q), ocRedirect)
	return s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
}

// userinfo calls the userinfo endpoint with a bearer header.
func (s *oidcSuite) userinfo(token string) (*apiResponse, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.h.ts.URL+"/"+s.env+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	r := s.h.send(req)
	claims := map[string]any{}
	json.Unmarshal([]byte(r.body), &claims)
	return r, claims
}

// wantAuthorizeError checks an error response sent to the client.
func wantAuthorizeError(t *testing.T, what string, resp url.Values, code, state string) {
	t.Helper()
	if resp.Get("error") != code || resp.Get("code") != "" || resp.Get("state") != state {
		t.Errorf("%s: response %v, want error=%s with state %q and no code", what, resp, code, state)
	}
}

func TestOIDCC_ServerMetadata(t *testing.T) {
	s := newOIDC(t)
	h := s.h
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/acme/.well-known/openid-configuration", nil)
	r := h.send(req)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %s", r)
	}
	var doc map[string]any
	r.decode(t, &doc)
	issuer := h.ts.URL + "/acme"
	if doc["issuer"] != issuer {
		t.Errorf("issuer %v, want exactly %s", doc["issuer"], issuer)
	}
	// OIDC Discovery §3: REQUIRED (and, for a code-flow OP, token_endpoint),
	// and the RECOMMENDED members an OP with these features must carry.
	for _, key := range []string{"issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
		"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
		"scopes_supported", "claims_supported"} {
		if v, ok := doc[key]; !ok || v == nil || v == "" {
			t.Errorf("discovery lacks %s", key)
		}
	}
	strs := func(key string) []string {
		var out []string
		list, _ := doc[key].([]any)
		for _, v := range list {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	for key, path := range map[string]string{"authorization_endpoint": "/oauth2/authorize", "token_endpoint": "/oauth2/token",
		"userinfo_endpoint": "/oauth2/userinfo", "jwks_uri": "/oauth2/jwks", "end_session_endpoint": "/oauth2/logout",
		"introspection_endpoint": "/oauth2/introspect", "revocation_endpoint": "/oauth2/revoke"} {
		if doc[key] != issuer+path {
			t.Errorf("%s = %v, want %s", key, doc[key], issuer+path)
		}
	}
	for key, must := range map[string][]string{
		"scopes_supported":                      {"openid", "profile", "email"},
		"response_types_supported":              {"code"},
		"response_modes_supported":              {"query", "form_post"},
		"grant_types_supported":                 {"authorization_code", "refresh_token"},
		"subject_types_supported":               {"public"},
		"id_token_signing_alg_values_supported": {"RS256"}, // Discovery §3: RS256 MUST be included
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":      {"S256"},
		"claims_supported":                      {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "preferred_username"},
	} {
		for _, v := range must {
			if !slices.Contains(strs(key), v) {
				t.Errorf("%s = %v lacks %q", key, strs(key), v)
			}
		}
	}
	if algs := strs("id_token_signing_alg_values_supported"); slices.Contains(algs, "none") || slices.ContainsFunc(algs, func(a string) bool { return strings.HasPrefix(a, "HS") }) {
		t.Errorf("id_token_signing_alg_values_supported = %v offers none or HMAC", algs)
	}
	if got := strs("code_challenge_methods_supported"); len(got) != 1 {
		t.Errorf("code_challenge_methods_supported = %v, want only S256 (plain is refused)", got)
	}
	if doc["request_parameter_supported"] != false || doc["request_uri_parameter_supported"] != false {
		t.Errorf("request objects are refused, but request_parameter_supported %v, request_uri_parameter_supported %v",
			doc["request_parameter_supported"], doc["request_uri_parameter_supported"])
	}

	// The endpoints it names answer.
	keys, _ := http.NewRequest(http.MethodGet, doc["jwks_uri"].(string), nil)
	jr := h.send(keys)
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if jr.status != http.StatusOK || json.Unmarshal([]byte(jr.body), &jwks) != nil || len(jwks.Keys) == 0 {
		t.Fatalf("jwks: %s", jr)
	}
	for _, k := range jwks.Keys {
		if k["kid"] == nil || k["kty"] == nil || (k["use"] != nil && k["use"] != "sig") {
			t.Errorf("JWKS key %v lacks kid or kty, or is not for signatures", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key %v publishes private member %s", k["kid"], private)
			}
		}
		if alg, ok := k["alg"].(string); ok && !slices.Contains(strs("id_token_signing_alg_values_supported"), alg) {
			t.Errorf("JWKS key alg %s is not in id_token_signing_alg_values_supported", alg)
		}
	}
	if r := h.tokenRequest("/acme/oauth2/token", "", "", nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid_request") {
		t.Errorf("token endpoint without a grant: %s", r)
	}
	if r, _ := s.userinfo(""); r.status != http.StatusUnauthorized {
		t.Errorf("userinfo endpoint without a token: %s", r)
	}
	if _, err := oidc.NewProvider(context.Background(), issuer); err != nil {
		t.Errorf("go-oidc refuses the discovery document: %v", err)
	}

	// Each environment is an issuer of its own.
	greq, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/globex/.well-known/openid-configuration", nil)
	var gdoc map[string]any
	h.send(greq).decode(t, &gdoc)
	if gdoc["issuer"] != h.ts.URL+"/globex" || gdoc["jwks_uri"] != h.ts.URL+"/globex/oauth2/jwks" {
		t.Errorf("globex discovery: issuer %v jwks_uri %v", gdoc["issuer"], gdoc["jwks_uri"])
	}

	// RFC 9207 §3: the authorization response carries iss, so the metadata
	// must say so (omitted means false, and clients then ignore iss).
	t.Run("authorization_response_iss_parameter_supported", func(t *testing.T) {
		resp := s.clientResponse(newBrowser(t, h).do(http.MethodGet, s.authorizePath(s.query(s.web, ocRedirect, "prompt", "none")), nil), ocRedirect)
		if resp.Get("iss") != issuer {
			t.Fatalf("authorization response iss %q", resp.Get("iss"))
		}
		if doc["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("the authorization response carries iss, but discovery has authorization_response_iss_parameter_supported = %v", doc["authorization_response_iss_parameter_supported"])
		}
	})
}

func TestOIDCC_Nonce(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	q := s.query(s.web, ocRedirect, "nonce", "n-0S6_WzA2Mj")
	tokens := s.mustExchange(s.web, s.clientResponse(s.signIn(b, q), ocRedirect).Get("code"), ocRedirect, "")
	if _, claims := jwtParts(t, tokens.IDToken); claims["nonce"] != "n-0S6_WzA2Mj" {
		t.Errorf("ID token nonce %v, want n-0S6_WzA2Mj", claims["nonce"])
	}
	// Single sign-on: each request's own nonce, none when none was sent.
	q = s.query(s.web, ocRedirect, "nonce", "second-nonce")
	tokens = s.mustExchange(s.web, s.ssoResponse(b, q).Get("code"), ocRedirect, "")
	if _, claims := jwtParts(t, tokens.IDToken); claims["nonce"] != "second-nonce" {
		t.Errorf("ID token nonce %v, want second-nonce", claims["nonce"])
	}
	q = s.query(s.web, ocRedirect)
	q.Del("nonce")
	tokens = s.mustExchange(s.web, s.ssoResponse(b, q).Get("code"), ocRedirect, "")
	if _, claims := jwtParts(t, tokens.IDToken); claims["nonce"] != nil {
		t.Errorf("ID token nonce %v for a request without one", claims["nonce"])
	}
}

func TestOIDCC_CodeReuse(t *testing.T) {
	s := newOIDC(t)
	code := s.clientResponse(s.signIn(newBrowser(t, s.h), s.query(s.web, ocRedirect, "scope", "openid offline_access")), ocRedirect).Get("code")
	first := s.mustExchange(s.web, code, ocRedirect, "")
	if first.RefreshToken == "" || first.IDToken == "" {
		t.Fatalf("first exchange gave no refresh or ID token: %+v", first)
	}
	if r, reply := s.exchange(s.web, code, ocRedirect, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" || reply.AccessToken != "" {
		t.Fatalf("second exchange of a code: %s", r)
	}
	// RFC 6749 §4.1.2: what the first exchange issued is revoked.
	r, reply := s.tokenCall("/acme/oauth2/token", form("grant_type", "refresh_token", "refresh_token", first.RefreshToken),
		basicAuth(s.web.ClientID, s.web.ClientSecret))
	if r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("the refresh token of a reused code still works: %s", r)
	}
	if got := s.h.introspect(s.web, first.RefreshToken); got["active"] != false {
		t.Errorf("introspection of the refresh token of a reused code: %v", got)
	}
	if r, _ := s.userinfo(first.AccessToken); r.status != http.StatusUnauthorized {
		// SHOULD, not MUST: the suite warns.
		t.Logf("warning: the access token of a reused code still works at userinfo (RFC 6749 §4.1.2 SHOULD revoke): %s", r)
	}
}

func TestOIDCC_EnsureRedirectURIInAuthorizationRequestMismatch(t *testing.T) {
	s := newOIDC(t)
	before := s.h.auditHead("acme")
	q := s.query(s.web, "https://app.example/not-registered")
	p := newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(q), nil)
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.Contains(p.body, "redirect_uri") {
		t.Fatalf("an unregistered redirect_uri: want our 400 page and no redirect, got %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || strings.Contains(p.body, "app.example/not-registered") {
		t.Errorf("error page: %s %s", p.header.Get("Content-Type"), p.body)
	}
	if len(refusalsSince(t, s.h, "acme", before)) != 1 {
		t.Errorf("the refusal is not audited once")
	}
}

func TestOIDCC_RedirectURIMismatchAtTokenEndpoint(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	code := s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code")
	if r, reply := s.exchange(s.web, code, ocRedirect2, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("exchange with another registered redirect_uri: %s", r)
	}
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	if r, reply := s.exchange(s.web, code, "", ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("exchange without the redirect_uri the request had: %s", r)
	}
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	if r, reply := s.exchange(s.web, code, ocRedirect+"/", ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("exchange with a redirect_uri differing by a slash: %s", r)
	}
	code = s.ssoResponse(b, s.query(s.web, ocRedirect2)).Get("code")
	s.mustExchange(s.web, code, ocRedirect2, "")
}

func TestOIDCC_PromptNoneNotLoggedIn(t *testing.T) {
	s := newOIDC(t)
	q := s.query(s.web, ocRedirect, "prompt", "none")
	p := newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(q), nil)
	resp := s.clientResponse(p, ocRedirect)
	wantAuthorizeError(t, "prompt=none without a session", resp, "login_required", q.Get("state"))
	if resp.Get("iss") != s.h.ts.URL+"/acme" {
		t.Errorf("iss %q", resp.Get("iss"))
	}
	if c := p.header.Get("Set-Cookie"); strings.Contains(c, "gh_login") {
		t.Errorf("prompt=none started a sign-in: %s", c)
	}
}

func TestOIDCC_PromptNoneLoggedIn(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	s.signIn(b, s.query(s.web, ocRedirect))
	q := s.query(s.web, ocRedirect, "prompt", "none")
	p := b.do(http.MethodGet, s.authorizePath(q), nil)
	resp := s.clientResponse(p, ocRedirect)
	if resp.Get("code") == "" || resp.Get("error") != "" || resp.Get("state") != q.Get("state") {
		t.Fatalf("prompt=none with a session: %v", resp)
	}
	tokens := s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
	if _, claims := jwtParts(t, tokens.IDToken); claims["sub"] != s.user.ID {
		t.Errorf("sub %v", claims["sub"])
	}
}

func TestOIDCC_PromptLogin(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	first := s.mustExchange(s.web, s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code"), ocRedirect, "")
	time.Sleep(1100 * time.Millisecond) // auth_time is in whole seconds
	q := s.query(s.web, ocRedirect, "prompt", "login")
	loginURL := s.startLogin(b, q) // a session exists, yet the sign-in page
	if p := b.do(http.MethodGet, loginURL, nil); p.status != http.StatusOK || !strings.Contains(p.body, `name="username"`) {
		t.Fatalf("prompt=login: want the sign-in page, got %d\n%s", p.status, p.body)
	}
	resp := s.clientResponse(s.completeLogin(b, loginURL, s.user.Username, ocPassword), ocRedirect)
	second := s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
	_, c1 := jwtParts(t, first.IDToken)
	_, c2 := jwtParts(t, second.IDToken)
	if !(c2["auth_time"].(float64) > c1["auth_time"].(float64)) {
		t.Errorf("auth_time after prompt=login %v, first %v", c2["auth_time"], c1["auth_time"])
	}
}

func TestOIDCC_MaxAge1(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	first := s.mustExchange(s.web, s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code"), ocRedirect, "")
	time.Sleep(2 * time.Second)
	q := s.query(s.web, ocRedirect, "max_age", "1")
	loginURL := s.startLogin(b, q)
	if p := b.do(http.MethodGet, loginURL, nil); p.status != http.StatusOK || !strings.Contains(p.body, `name="username"`) {
		t.Fatalf("max_age=1 two seconds after sign-in: want the sign-in page, got %d", p.status)
	}
	resp := s.clientResponse(s.completeLogin(b, loginURL, s.user.Username, ocPassword), ocRedirect)
	second := s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
	_, c1 := jwtParts(t, first.IDToken)
	_, c2 := jwtParts(t, second.IDToken)
	a1, _ := c1["auth_time"].(float64)
	a2, ok := c2["auth_time"].(float64)
	if !ok || a2 < a1+2 {
		t.Errorf("auth_time after re-authentication %v, first %v", c2["auth_time"], c1["auth_time"])
	}
	// A fresh session answers max_age at once.
	if resp := s.ssoResponse(b, s.query(s.web, ocRedirect, "max_age", "60")); resp.Get("code") == "" {
		t.Errorf("max_age=60 right after sign-in: %v", resp)
	}
}

// scopeClaims are the claims each scope releases (OIDC Core §5.4) for the
// suite's user.
var scopeClaims = map[string][]string{
	"profile": {"name", "given_name", "family_name", "preferred_username", "zoneinfo", "locale"},
	"email":   {"email", "email_verified"},
}

// checkScopeClaims signs in for scope and checks that the ID token and
// userinfo carry the claims of the scopes asked and none of the others.
func checkScopeClaims(t *testing.T, scope string) {
	s := newOIDC(t)
	tokens := s.tokensFor(scope)
	_, idClaims := jwtParts(t, tokens.IDToken)
	r, info := s.userinfo(tokens.AccessToken)
	if r.status != http.StatusOK {
		t.Fatalf("userinfo: %s", r)
	}
	if info["sub"] != s.user.ID || idClaims["sub"] != s.user.ID {
		t.Errorf("sub: userinfo %v, ID token %v, want %s", info["sub"], idClaims["sub"], s.user.ID)
	}
	want := map[string]any{"name": "Jane Doe", "given_name": "Jane", "family_name": "Doe", "preferred_username": s.user.Username,
		"zoneinfo": "Europe/Paris", "locale": "fr", "email": s.user.Username, "email_verified": false}
	for sc, claims := range scopeClaims {
		asked := slices.Contains(strings.Fields(scope), sc)
		for _, c := range claims {
			for where, got := range map[string]map[string]any{"ID token": idClaims, "userinfo": info} {
				v, present := got[c]
				switch {
				case asked && v != want[c]:
					t.Errorf("scope %q: %s claim %s = %v, want %v", scope, where, c, v, want[c])
				case !asked && present:
					t.Errorf("scope %q: %s releases %s = %v without scope %s", scope, where, c, v, sc)
				}
			}
		}
	}
}

func TestOIDCC_ScopeProfile(t *testing.T) { checkScopeClaims(t, "openid profile") }
func TestOIDCC_ScopeEmail(t *testing.T)   { checkScopeClaims(t, "openid email") }
func TestOIDCC_ScopeAll(t *testing.T)     { checkScopeClaims(t, "openid profile email") }

// TestOIDCC_ScopeOpenidOnly: scope openid alone releases no profile or
// email claim.
func TestOIDCC_ScopeOpenidOnly(t *testing.T) { checkScopeClaims(t, "openid") }

func TestOIDCC_IDTokenSignature(t *testing.T) {
	s := newOIDC(t)
	ctx := context.Background()
	q := s.query(s.web, ocRedirect, "scope", "openid profile")
	tokens := s.mustExchange(s.web, s.clientResponse(s.signIn(newBrowser(t, s.h), q), ocRedirect).Get("code"), ocRedirect, "")
	issuer := s.h.ts.URL + "/acme"
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	// No algorithm list: go-oidc takes the discovery document's.
	verifier := provider.Verifier(&oidc.Config{ClientID: s.web.ClientID})
	tok, err := verifier.Verify(ctx, tokens.IDToken)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if tok.Issuer != issuer || len(tok.Audience) != 1 || tok.Audience[0] != s.web.ClientID || tok.Subject != s.user.ID {
		t.Errorf("iss %s aud %v sub %s", tok.Issuer, tok.Audience, tok.Subject)
	}
	if !tok.Expiry.After(tok.IssuedAt) || tok.IssuedAt.After(time.Now().Add(5*time.Second)) {
		t.Errorf("iat %s exp %s", tok.IssuedAt, tok.Expiry)
	}
	if err := tok.VerifyAccessToken(tokens.AccessToken); err != nil || tok.AccessTokenHash == "" {
		t.Errorf("at_hash %q: %v", tok.AccessTokenHash, err)
	}
	header, claims := jwtParts(t, tokens.IDToken)
	if claims["azp"] != nil && claims["azp"] != s.web.ClientID {
		t.Errorf("azp %v", claims["azp"])
	}
	if _, ok := claims["auth_time"].(float64); !ok {
		t.Errorf("auth_time %v", claims["auth_time"])
	}
	if header["kid"] == nil || header["alg"] == "none" {
		t.Errorf("header %v", header)
	}
	// A token of another client, of another issuer or altered is refused.
	if _, err := provider.Verifier(&oidc.Config{ClientID: s.spa.ClientID}).Verify(ctx, tokens.IDToken); err == nil {
		t.Errorf("the ID token verifies for another client id")
	}
	globex, err := oidc.NewProvider(ctx, s.h.ts.URL+"/globex")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := globex.Verifier(&oidc.Config{ClientID: s.web.ClientID, SkipIssuerCheck: true}).Verify(ctx, tokens.IDToken); err == nil {
		t.Errorf("acme's ID token verifies with globex's keys")
	}
	parts := strings.Split(tokens.IDToken, ".")
	sig := []byte(parts[2])
	sig[5] ^= 'A' ^ 'B'
	if sig[5] == parts[2][5] {
		sig[5] = 'C'
	}
	if _, err := verifier.Verify(ctx, parts[0]+"."+parts[1]+"."+string(sig)); err == nil {
		t.Errorf("an altered signature verifies")
	}
}

func TestOIDCC_UserinfoBearerHeader(t *testing.T) {
	s := newOIDC(t)
	tokens := s.tokensFor("openid email")
	for _, scheme := range []string{"Bearer", "bearer"} {
		req, _ := http.NewRequest(http.MethodGet, s.h.ts.URL+"/acme/oauth2/userinfo", nil)
		req.Header.Set("Authorization", scheme+" "+tokens.AccessToken)
		r := s.h.send(req)
		var info map[string]any
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &info) != nil || info["sub"] != s.user.ID || info["email"] != s.user.Username {
			t.Errorf("userinfo by %s header: %s", scheme, r)
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("userinfo headers: %v", r.header)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, s.h.ts.URL+"/acme/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken+"x")
	if r := s.h.send(req); r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("userinfo with an altered token: %s (WWW-Authenticate %q)", r, r.header.Get("WWW-Authenticate"))
	}
}

func TestOIDCC_UserinfoBearerBody(t *testing.T) {
	s := newOIDC(t)
	tokens := s.tokensFor("openid profile")
	r := s.h.tokenRequest("/acme/oauth2/userinfo", "", form("access_token", tokens.AccessToken), nil)
	var info map[string]any
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &info) != nil || info["sub"] != s.user.ID || info["preferred_username"] != s.user.Username {
		t.Fatalf("userinfo by form parameter: %s", r)
	}
	if r := s.h.tokenRequest("/acme/oauth2/userinfo", "", form("access_token", "not-a-token"), nil); r.status != http.StatusUnauthorized {
		t.Errorf("userinfo by form parameter with a bad token: %s", r)
	}
}

func TestOIDCC_UserinfoRequiresOpenid(t *testing.T) {
	s := newOIDC(t)
	tokens := s.tokensFor("profile email")
	if tokens.IDToken != "" {
		t.Errorf("an ID token for a request without scope openid")
	}
	r, _ := s.userinfo(tokens.AccessToken)
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("userinfo with a token without openid: %s (WWW-Authenticate %q)", r, r.header.Get("WWW-Authenticate"))
	}
}

func TestOIDCC_StateEcho(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	odd := "a b&c=d/é?%25+#x;\"<'"
	resp := s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect, "state", odd)), ocRedirect)
	if resp.Get("state") != odd || resp.Get("code") == "" {
		t.Errorf("state after sign-in %q, want %q", resp.Get("state"), odd)
	}
	if resp := s.ssoResponse(b, s.query(s.web, ocRedirect, "state", "sso-state")); resp.Get("state") != "sso-state" {
		t.Errorf("state by single sign-on %q", resp.Get("state"))
	}
	q := s.query(s.web, ocRedirect)
	q.Del("state")
	if resp := s.ssoResponse(b, q); resp.Has("state") {
		t.Errorf("a state in the response to a request without one: %v", resp)
	}
	q = s.query(s.web, ocRedirect, "state", odd, "scope", "openid unknown-scope")
	wantAuthorizeError(t, "an error response", s.ssoResponse(b, q), "invalid_scope", odd)
}

func TestOIDCC_ResponseModeFormPost(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	check := func(what string, p page, q url.Values) url.Values {
		t.Helper()
		if p.status != http.StatusOK || p.header.Get("Location") != "" {
			t.Fatalf("%s: want the form post page, got %d %q", what, p.status, p.header.Get("Location"))
		}
		action, fields := formPostFields(p)
		if action != ocRedirect || fields.Get("state") != q.Get("state") || fields.Get("iss") != s.h.ts.URL+"/acme" {
			t.Fatalf("%s: form to %q with %v\n%s", what, action, fields, p.body)
		}
		if !strings.Contains(p.body, `<form method="post"`) {
			t.Errorf("%s: the form does not post", what)
		}
		csp := p.header.Get("Content-Security-Policy")
		if !regexp.MustCompile(`form-action [^;]*https://app\.example(\s|;|$)`).MatchString(csp) {
			t.Errorf("%s: CSP %q does not let the form post to https://app.example", what, csp)
		}
		if !strings.Contains(csp, "frame-ancestors 'none'") || p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", what, p.header)
		}
		return fields
	}
	q := s.query(s.web, ocRedirect, "response_mode", "form_post")
	fields := check("after sign-in", s.signIn(b, q), q)
	s.mustExchange(s.web, fields.Get("code"), ocRedirect, "")
	q = s.query(s.web, ocRedirect, "response_mode", "form_post")
	fields = check("by single sign-on", b.do(http.MethodGet, s.authorizePath(q), nil), q)
	s.mustExchange(s.web, fields.Get("code"), ocRedirect, "")
	q = s.query(s.web, ocRedirect, "response_mode", "form_post", "scope", "openid nope")
	if fields := check("an error", b.do(http.MethodGet, s.authorizePath(q), nil), q); fields.Get("error") != "invalid_scope" || fields.Has("code") {
		t.Errorf("error by form post: %v", fields)
	}
}

func TestOIDCC_ClientAuthBasic(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	code := s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code")
	r, reply := s.tokenCall("/acme/oauth2/token", form("grant_type", "authorization_code", "code", code, "redirect_uri", ocRedirect),
		basicAuth(s.web.ClientID, s.web.ClientSecret))
	if r.status != http.StatusOK || reply.AccessToken == "" || reply.IDToken == "" || !strings.EqualFold(reply.TokenType, "bearer") {
		t.Fatalf("client_secret_basic: %s", r)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q", r.header.Get("Cache-Control"))
	}
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	r, reply = s.tokenCall("/acme/oauth2/token", form("grant_type", "authorization_code", "code", code, "redirect_uri", ocRedirect),
		basicAuth(s.web.ClientID, "wrong-secret"))
	if r.status != http.StatusUnauthorized || reply.Error != "invalid_client" || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("client_secret_basic with a wrong secret: %s", r)
	}
}

func TestOIDCC_ClientAuthPost(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	code := s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code")
	r, reply := s.tokenCall("/acme/oauth2/token", form("grant_type", "authorization_code", "code", code, "redirect_uri", ocRedirect,
		"client_id", s.web.ClientID, "client_secret", s.web.ClientSecret), nil)
	if r.status != http.StatusOK || reply.AccessToken == "" || reply.IDToken == "" {
		t.Fatalf("client_secret_post: %s", r)
	}
	// A confidential client that sends no secret is not a public client.
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	r, reply = s.tokenCall("/acme/oauth2/token", form("grant_type", "authorization_code", "code", code, "redirect_uri", ocRedirect,
		"client_id", s.web.ClientID), nil)
	if r.status != http.StatusUnauthorized || reply.Error != "invalid_client" {
		t.Errorf("a confidential client without its secret: %s", r)
	}
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	r, reply = s.tokenCall("/acme/oauth2/token", form("grant_type", "authorization_code", "code", code, "redirect_uri", ocRedirect,
		"client_id", s.web.ClientID, "client_secret", s.web.ClientSecret), basicAuth(s.web.ClientID, s.web.ClientSecret))
	if r.status != http.StatusBadRequest || reply.Error != "invalid_request" {
		t.Errorf("two client authentication methods at once: %s", r)
	}
}

func TestOIDCC_PKCE_S256Required_PublicClient(t *testing.T) {
	s := newOIDC(t)
	q := s.query(s.spa, ocSPARedirect)
	resp := s.clientResponse(newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(q), nil), ocSPARedirect)
	wantAuthorizeError(t, "a public client without code_challenge", resp, "invalid_request", q.Get("state"))
	// With S256, the SPA signs in and redeems its code without a secret.
	verifier, challenge := pkcePair()
	q = s.query(s.spa, ocSPARedirect, "code_challenge", challenge, "code_challenge_method", "S256")
	code := s.clientResponse(s.signIn(newBrowser(t, s.h), q), ocSPARedirect).Get("code")
	if tokens := s.mustExchange(s.spa, code, ocSPARedirect, verifier); tokens.IDToken == "" {
		t.Errorf("no ID token for the SPA")
	}
}

func TestOIDCC_PKCE_PlainRefused(t *testing.T) {
	s := newOIDC(t)
	verifier, _ := pkcePair()
	for _, app := range []struct {
		app      *service.CreatedApplication
		redirect string
	}{{s.spa, ocSPARedirect}, {s.web, ocRedirect}} {
		q := s.query(app.app, app.redirect, "code_challenge", verifier, "code_challenge_method", "plain")
		resp := s.clientResponse(newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(q), nil), app.redirect)
		wantAuthorizeError(t, app.app.Type+" with code_challenge_method=plain", resp, "invalid_request", q.Get("state"))
	}
}

func TestOIDCC_PKCE_WrongVerifier(t *testing.T) {
	s := newOIDC(t)
	verifier, challenge := pkcePair()
	b := newBrowser(t, s.h)
	q := s.query(s.spa, ocSPARedirect, "code_challenge", challenge, "code_challenge_method", "S256")
	code := s.clientResponse(s.signIn(b, q), ocSPARedirect).Get("code")
	wrong := strings.Repeat("w", 43)
	if r, reply := s.exchange(s.spa, code, ocSPARedirect, wrong); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("a wrong verifier: %s", r)
	}
	// The refused attempt used the code up.
	if r, _ := s.exchange(s.spa, code, ocSPARedirect, verifier); r.status != http.StatusBadRequest {
		t.Errorf("the right verifier after a wrong one: %s", r)
	}
	// The challenge itself is not the verifier.
	q = s.query(s.spa, ocSPARedirect, "code_challenge", challenge, "code_challenge_method", "S256")
	code = s.ssoResponse(b, q).Get("code")
	if r, _ := s.exchange(s.spa, code, ocSPARedirect, challenge); r.status != http.StatusBadRequest {
		t.Errorf("the challenge sent as the verifier: %s", r)
	}
}

func TestOIDCC_PKCE_DowngradeNoVerifier(t *testing.T) {
	s := newOIDC(t)
	verifier, challenge := pkcePair()
	b := newBrowser(t, s.h)
	q := s.query(s.spa, ocSPARedirect, "code_challenge", challenge, "code_challenge_method", "S256")
	code := s.clientResponse(s.signIn(b, q), ocSPARedirect).Get("code")
	if r, reply := s.exchange(s.spa, code, ocSPARedirect, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("a public client's PKCE code without code_verifier: %s", r)
	}
	// A confidential client that used PKCE must finish it too.
	q = s.query(s.web, ocRedirect, "code_challenge", challenge, "code_challenge_method", "S256")
	code = s.ssoResponse(b, q).Get("code")
	if r, reply := s.exchange(s.web, code, ocRedirect, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("a confidential client's PKCE code without code_verifier: %s", r)
	}
	// And one that did not may not add a verifier afterwards.
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	if r, reply := s.exchange(s.web, code, ocRedirect, verifier); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("a code_verifier for a code without challenge: %s", r)
	}
}

func TestOIDCC_LoginHint(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	q := s.query(s.web, ocRedirect, "login_hint", s.user.Username)
	loginURL := s.startLogin(b, q)
	p := b.do(http.MethodGet, loginURL, nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) || strings.Contains(p.body, `name="username"`) ||
		!strings.Contains(p.body, "<strong>"+html.EscapeString(s.user.Username)+"</strong>") {
		t.Fatalf("login_hint: want the password step for %s, got %d\n%s", s.user.Username, p.status, p.body)
	}
	resp := s.clientResponse(b.submit(loginURL, p, "password", ocPassword), ocRedirect)
	tokens := s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
	if _, claims := jwtParts(t, tokens.IDToken); claims["sub"] != s.user.ID {
		t.Errorf("sub %v", claims["sub"])
	}
	// The hint is shown, never run.
	q = s.query(s.web, ocRedirect, "login_hint", `<script>alert(1)</script>`)
	b2 := newBrowser(t, s.h)
	p = b2.do(http.MethodGet, s.startLogin(b2, q), nil)
	if strings.Contains(p.body, "<script>alert") {
		t.Errorf("login_hint is not escaped:\n%s", p.body)
	}
}

// refusalsSince lists env's AUTHORIZATION_REFUSED audit events after seq.
func refusalsSince(t *testing.T, h *apiHarness, env string, seq int64) []*gatehouse.AuditEvent {
	t.Helper()
	page, err := h.svc.ListAuditEvents(context.Background(), env, gatehouse.AuditFilter{Action: "AUTHORIZATION_REFUSED", Limit: service.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var out []*gatehouse.AuditEvent
	for _, e := range page.Items {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

func TestOIDCC_EnsureRequestWithUnknownParameterSucceeds(t *testing.T) {
	s := newOIDC(t)
	q := s.query(s.web, ocRedirect, "extra", "foobar", "display", "page", "ui_locales", "fr", "acr_values", "1")
	tokens := s.mustExchange(s.web, s.clientResponse(s.signIn(newBrowser(t, s.h), q), ocRedirect).Get("code"), ocRedirect, "")
	if tokens.IDToken == "" {
		t.Errorf("no ID token")
	}
}

func TestOIDCC_EnsureOtherScopeOrderSucceeds(t *testing.T) {
	s := newOIDC(t)
	tokens := s.tokensFor("email openid")
	if _, claims := jwtParts(t, tokens.IDToken); claims["email"] != s.user.Username {
		t.Errorf("scope \"email openid\": ID token %v", claims)
	}
}

func TestOIDCC_EnsurePostRequestSucceeds(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	q := s.query(s.web, ocRedirect)
	start := b.do(http.MethodPost, "/acme/oauth2/authorize", q)
	loginURL := start.header.Get("Location")
	if start.status != http.StatusSeeOther || !strings.HasPrefix(loginURL, "/acme/login/") {
		t.Fatalf("authorization request by POST: %d %q", start.status, loginURL)
	}
	resp := s.clientResponse(s.completeLogin(b, loginURL, s.user.Username, ocPassword), ocRedirect)
	if resp.Get("state") != q.Get("state") {
		t.Errorf("state %q", resp.Get("state"))
	}
	s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
}

func TestOIDCC_IDTokenHint(t *testing.T) {
	s := newOIDC(t)
	b := newBrowser(t, s.h)
	first := s.mustExchange(s.web, s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code"), ocRedirect, "")
	resp := s.ssoResponse(b, s.query(s.web, ocRedirect, "prompt", "none", "id_token_hint", first.IDToken))
	second := s.mustExchange(s.web, resp.Get("code"), ocRedirect, "")
	_, c1 := jwtParts(t, first.IDToken)
	_, c2 := jwtParts(t, second.IDToken)
	if c1["sub"] != c2["sub"] {
		t.Errorf("sub %v, then %v", c1["sub"], c2["sub"])
	}
}

func TestOIDCC_RefreshToken(t *testing.T) {
	s := newOIDC(t)
	tokens := s.tokensFor("openid profile offline_access")
	refresh := func(token string) (*apiResponse, codeReply) {
		return s.tokenCall("/acme/oauth2/token", form("grant_type", "refresh_token", "refresh_token", token),
			basicAuth(s.web.ClientID, s.web.ClientSecret))
	}
	r, next := refresh(tokens.RefreshToken)
	if r.status != http.StatusOK || next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == tokens.RefreshToken {
		t.Fatalf("refresh: %s", r)
	}
	if next.Scope != "openid profile offline_access" {
		t.Errorf("scope after refresh %q", next.Scope)
	}
	// OIDC Core §12.2: an ID token from a refresh keeps iss, sub and aud.
	if next.IDToken != "" {
		_, c1 := jwtParts(t, tokens.IDToken)
		_, c2 := jwtParts(t, next.IDToken)
		for _, k := range []string{"iss", "sub", "aud"} {
			if c1[k] != c2[k] {
				t.Errorf("refreshed ID token %s %v, first %v", k, c2[k], c1[k])
			}
		}
	}
	if r, info := s.userinfo(next.AccessToken); r.status != http.StatusOK || info["sub"] != s.user.ID {
		t.Errorf("userinfo with the refreshed access token: %s", r)
	}
}

// TestOIDCC_RedirectURIQueryOK, _QueryMismatch and _QueryAdded: a
// registered redirect URI with a query matches exactly, and the response
// keeps its query.
func TestOIDCC_RedirectURIQueryOK(t *testing.T) {
	s := newOIDC(t)
	app := s.queryApp()
	q := s.query(app, "https://app.example/q?foo=bar")
	resp := s.clientResponse(s.signIn(newBrowser(t, s.h), q), "https://app.example/q")
	if resp.Get("foo") != "bar" || resp.Get("code") == "" || resp.Get("state") != q.Get("state") {
		t.Fatalf("response %v", resp)
	}
	s.mustExchange(app, resp.Get("code"), "https://app.example/q?foo=bar", "")
}

func TestOIDCC_RedirectURIQueryMismatch(t *testing.T) {
	s := newOIDC(t)
	app := s.queryApp()
	for _, redirect := range []string{"https://app.example/q?foo=zap", "https://app.example/q", "https://app.example/q?foo=bar&foo=bar", "https://app.example/q?foo=bar&x=1"} {
		p := newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(s.query(app, redirect)), nil)
		if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("redirect_uri %s for a registered https://app.example/q?foo=bar: %d %q", redirect, p.status, p.header.Get("Location"))
		}
	}
}

func TestOIDCC_RedirectURIQueryAdded(t *testing.T) {
	s := newOIDC(t)
	p := newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(s.query(s.web, ocRedirect+"?foo=bar")), nil)
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
		t.Errorf("a query added to the registered redirect_uri: %d %q", p.status, p.header.Get("Location"))
	}
}

// queryApp registers a web application whose redirect URI has a query.
func (s *oidcSuite) queryApp() *service.CreatedApplication {
	s.t.Helper()
	app, err := s.h.svc.CreateApplication(context.Background(), service.OperatorActor(), s.env, gatehouse.Application{Name: "query " + s.h.next(),
		Type: gatehouse.AppTypeWeb, RedirectURIs: []string{"https://app.example/q?foo=bar"}})
	if err != nil {
		s.t.Fatal(err)
	}
	return app
}
