package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// browser is a cookie-keeping client that stops at every redirect, so the
// test sees each step of the flow as a browser would take it.
type browser struct {
	t      testing.TB
	h      *apiHarness
	client *http.Client
}

func newBrowser(t testing.TB, h *apiHarness) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, h: h, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, target string, form url.Values) page {
	b.t.Helper()
	return b.doWith(method, target, form, nil)
}

// doWith is do with more request headers, such as htmx's HX-Request.
func (b *browser) doWith(method, target string, form url.Values, header http.Header) page {
	b.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = b.h.ts.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(data)}
}

var csrfField = regexp.MustCompile(`name="(?:csrf|confirm)" value="([^"]+)"`)

// submit posts a page's form (its CSRF token included) to the page's URL.
func (b *browser) submit(at string, p page, fields ...string) page {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF field on the page at %s:\n%s", at, p.body)
	}
	field := "csrf"
	if strings.Contains(m[0], `name="confirm"`) {
		field = "confirm"
	}
	form := url.Values{field: {m[1]}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	return b.do(http.MethodPost, at, form)
}

func pkcePair() (verifier, challenge string) {
	verifier = strings.Repeat("v", 20) + "verifier-of-pkce-0123456789abc"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeURL(clientID, redirect, challenge string, extra ...string) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st-1"}, "nonce": {"n-1"}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/acme/oauth2/authorize?" + q.Encode()
}

// TestSignInFlow walks the hosted sign-in from the authorization request
// to tokens that go-oidc verifies, with the forced password change of a
// first sign-in, single sign-on for a second request, and sign-out.
func TestSignInFlow(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	const redirect = "https://app.example/callback"
	web, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "Store app", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{redirect}, ApplicationSettings: gatehouse.ApplicationSettings{PostLogoutRedirectURIs: []string{"https://app.example/bye"}, RefreshTokens: true}})
	if err != nil {
		t.Fatal(err)
	}
	user, err := h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{
		Username: "jane@acme.example", FirstName: "Jane", LastName: "Doe", PrimaryEmail: "jane@acme.example",
		Roles: []gatehouse.RoleAssignment{{Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}}}, Password: "first-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	verifier, challenge := pkcePair()
	b := newBrowser(t, h)

	start := b.do("GET", authorizeURL(web.ClientID, redirect, challenge), nil)
	loginURL := start.header.Get("Location")
	if start.status != http.StatusSeeOther || !strings.HasPrefix(loginURL, "/acme/login/") {
		t.Fatalf("authorize: %d %s", start.status, loginURL)
	}
	identifier := b.do("GET", loginURL, nil)
	if identifier.status != 200 || !strings.Contains(identifier.body, `name="username"`) {
		t.Fatalf("identifier page: %d %s", identifier.status, identifier.body)
	}
	for header, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if identifier.header.Get(header) != want {
			t.Errorf("%s = %q", header, identifier.header.Get(header))
		}
	}
	if csp := identifier.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if r := b.do("POST", loginURL, url.Values{"username": {"jane@acme.example"}}); r.status != http.StatusForbidden {
		t.Fatalf("a form without its CSRF token: %d", r.status)
	}
	if r := newBrowser(t, h).do("GET", loginURL, nil); r.status != http.StatusNotFound || !strings.Contains(r.body, "expired") {
		t.Fatalf("the sign-in page in another browser: %d", r.status)
	}
	b.submit(loginURL, identifier, "username", "JANE@acme.example")
	passwordPage := b.do("GET", loginURL, nil)
	wrong := b.submit(loginURL, passwordPage, "password", "not-it")
	if !strings.Contains(wrong.body, "The username or password is not right") {
		t.Fatalf("wrong password page: %s", wrong.body)
	}
	changed := b.submit(loginURL, wrong, "password", "first-password-1")
	change := b.do("GET", changed.header.Get("Location"), nil)
	if !strings.Contains(change.body, "Change your password") {
		t.Fatalf("a first sign-in does not ask for a new password: %s", change.body)
	}
	mismatch := b.submit(loginURL, change, "current", "first-password-1", "new", "new-password-22", "confirm", "other")
	if !strings.Contains(mismatch.body, "differ") {
		t.Fatalf("mismatched new passwords: %s", mismatch.body)
	}
	done := b.submit(loginURL, mismatch, "current", "first-password-1", "new", "new-password-22", "confirm", "new-password-22")
	back, _ := url.Parse(done.header.Get("Location"))
	code := back.Query().Get("code")
	if done.status != http.StatusSeeOther || !strings.HasPrefix(back.String(), redirect) || code == "" ||
		back.Query().Get("state") != "st-1" || back.Query().Get("iss") != h.ts.URL+"/acme" {
		t.Fatalf("back to the application: %d %s", done.status, back)
	}

	exchange := func(code, verifier string) (*apiResponse, userGrantReply) {
		r := h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "authorization_code", "code", code, "redirect_uri", redirect,
			"code_verifier", verifier), basicAuth(web.ClientID, web.ClientSecret))
		var reply userGrantReply
		json.Unmarshal([]byte(r.body), &reply)
		return r, reply
	}
	if r, reply := exchange(code, "wrong-verifier-wrong-verifier-wrong-verifier-1"); r.status != 400 || reply.Error != "invalid_grant" {
		t.Fatalf("a wrong PKCE verifier: %s", r)
	}
	// The wrong verifier used the code up: sign in again (single sign-on now).
	again := b.do("GET", authorizeURL(web.ClientID, redirect, challenge), nil)
	back, _ = url.Parse(again.header.Get("Location"))
	if !strings.HasPrefix(back.String(), redirect) || back.Query().Get("code") == "" {
		t.Fatalf("single sign-on did not answer at once: %d %s", again.status, back)
	}
	r, tokens := exchange(back.Query().Get("code"), verifier)
	var idToken struct {
		IDToken string `json:"id_token"`
	}
	json.Unmarshal([]byte(r.body), &idToken)
	if r.status != 200 || tokens.AccessToken == "" || tokens.RefreshToken == "" || idToken.IDToken == "" {
		t.Fatalf("code exchange: %s", r)
	}

	provider, err := oidc.NewProvider(ctx, h.ts.URL+"/acme")
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	verified, err := provider.Verifier(&oidc.Config{ClientID: web.ClientID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, idToken.IDToken)
	if err != nil {
		t.Fatalf("go-oidc rejects our ID token: %v", err)
	}
	raw := map[string]any{}
	verified.Claims(&raw)
	if verified.Subject != user.ID || raw["nonce"] != "n-1" || raw["preferred_username"] != "jane@acme.example" || raw["email"] != "jane@acme.example" || raw["auth_time"] == nil {
		t.Fatalf("ID token claims: %v", raw)
	}
	if err := verified.VerifyAccessToken(tokens.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tokens.AccessToken, TokenType: "Bearer"}))
	if err != nil || info.Subject != user.ID || info.Email != "jane@acme.example" {
		t.Fatalf("userinfo: %+v %v", info, err)
	}
	// A code used twice revokes what its first use issued (RFC 6749 §4.1.2).
	if r, _ := exchange(back.Query().Get("code"), verifier); r.status != 400 {
		t.Fatalf("a code used twice: %s", r)
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tokens.AccessToken, TokenType: "Bearer"})); err == nil {
		t.Fatal("the access token of a reused code still works")
	}

	// Sign out, back to a registered address with the client's state.
	out := b.do("GET", "/acme/oauth2/logout?"+url.Values{"id_token_hint": {idToken.IDToken},
		"post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"bye-1"}}.Encode(), nil)
	if out.status != http.StatusSeeOther || out.header.Get("Location") != "https://app.example/bye?state=bye-1" {
		t.Fatalf("logout: %d %s", out.status, out.header.Get("Location"))
	}
	none := b.do("GET", authorizeURL(web.ClientID, redirect, challenge, "prompt", "none"), nil)
	if back, _ := url.Parse(none.header.Get("Location")); back.Query().Get("error") != "login_required" || back.Query().Get("state") != "st-1" {
		t.Fatalf("prompt=none after sign-out: %s", none.header.Get("Location"))
	}
	// An unregistered post-logout address is never followed.
	if out := b.do("GET", "/acme/oauth2/logout?"+url.Values{"id_token_hint": {idToken.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode(), nil); out.status != 200 {
		t.Fatalf("logout to an unregistered address: %d %s", out.status, out.header.Get("Location"))
	}
}

// TestExpiredSignInStartsAgain: a sign-in page left open past its
// lifetime explains itself and offers to start again with the client's
// original request, so its state and PKCE verifier still match.
func TestExpiredSignInStartsAgain(t *testing.T) {
	h := newAPI(t)
	app, err := h.svc.CreateApplication(context.Background(), service.OperatorActor(), "acme", gatehouse.Application{Name: "shop", Type: gatehouse.AppTypeSPA, RedirectURIs: []string{"https://shop.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	_, challenge := pkcePair()
	b := newBrowser(t, h)
	loginURL := b.do("GET", authorizeURL(app.ClientID, "https://shop.example/cb", challenge), nil).header.Get("Location")
	h.svc.Now = func() time.Time { return time.Now().Add(service.LoginFlowTTL + time.Minute) }
	expired := b.do("GET", loginURL, nil)
	h.svc.Now = nil
	link := regexp.MustCompile(`href="(/acme/oauth2/authorize\?[^"]+)"`).FindStringSubmatch(expired.body)
	if expired.status != http.StatusNotFound || link == nil {
		t.Fatalf("expired page: %d %s", expired.status, expired.body)
	}
	restart, _ := url.Parse(html.UnescapeString(link[1]))
	if restart.Query().Get("state") != "st-1" || restart.Query().Get("code_challenge") != challenge || restart.Query().Get("client_id") != app.ClientID {
		t.Fatalf("restart link %s", restart)
	}
	again := b.do("GET", restart.String(), nil)
	if again.status != http.StatusSeeOther || !strings.HasPrefix(again.header.Get("Location"), "/acme/login/") {
		t.Fatalf("starting again: %d %s", again.status, again.header.Get("Location"))
	}
}
