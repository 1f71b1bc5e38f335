package server_test

// Bad input at the authorization endpoint, the hosted sign-in pages and
// the endpoints around them: every refusal must be the right one, sent to
// the client only when its redirect URI is known good, and audited.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// authorizeCase is one authorization request of the suite's web
// application (or SPA), changed to be wrong in one way.
type authorizeCase struct {
	name string
	spa  bool
	// change alters a valid request; raw, when set, is appended to its
	// encoded query as is.
	change func(s *oidcSuite, q url.Values)
	raw    func(s *oidcSuite) string
	// post sends the request as a form body instead of a query.
	post bool

	// page: our own 400 page, never a redirect. errs: a redirect to the
	// client with one of these errors (and pageOK lets our 400 page do
	// too). login: the request is good and goes to the sign-in page.
	page   bool
	pageOK bool
	errs   []string
	login  bool
	// noState skips the state check (the state itself is what is wrong).
	noState bool
}

func set(k, v string) func(*oidcSuite, url.Values) {
	return func(_ *oidcSuite, q url.Values) { q.Set(k, v) }
}

func del(k string) func(*oidcSuite, url.Values) {
	return func(_ *oidcSuite, q url.Values) { q.Del(k) }
}

func dup(k, v string) func(*oidcSuite) string {
	return func(*oidcSuite) string { return "&" + k + "=" + url.QueryEscape(v) }
}

var big = strings.Repeat("x", 20<<10)

var authorizeCases = []authorizeCase{
	// client_id: wrong → our page.
	{name: "client_id missing", change: del("client_id"), page: true},
	{name: "client_id unknown", change: set("client_id", "no-such-client"), page: true},
	{name: "client_id oversized", change: set("client_id", big), page: true},
	{name: "client_id with a control character", change: set("client_id", "a\x00b"), page: true},
	{name: "client_id duplicated", raw: func(s *oidcSuite) string { return "&client_id=" + s.spa.ClientID }, page: true},
	{name: "client_id of another environment", change: func(s *oidcSuite, q url.Values) {
		q.Set("client_id", s.h.apps["globex"][envAdmin].ClientID)
	}, page: true},
	{name: "client_id of a service application", change: func(s *oidcSuite, q url.Values) {
		q.Set("client_id", s.h.apps["acme"][envAdmin].ClientID)
	}, page: true},

	// redirect_uri: wrong → our page.
	{name: "redirect_uri missing with two registered", change: del("redirect_uri"), page: true},
	{name: "redirect_uri unregistered", change: set("redirect_uri", "https://evil.example/cb"), page: true},
	{name: "redirect_uri malformed", change: set("redirect_uri", "::not a uri"), page: true},
	{name: "redirect_uri oversized", change: set("redirect_uri", ocRedirect+"?"+big), page: true},
	{name: "redirect_uri duplicated", raw: dup("redirect_uri", ocRedirect2), page: true},
	{name: "redirect_uri of another client", change: set("redirect_uri", ocSPARedirect), page: true},

	// response_type.
	{name: "response_type missing", change: del("response_type"), errs: []string{"invalid_request", "unsupported_response_type"}},
	{name: "response_type token", change: set("response_type", "token"), errs: []string{"unsupported_response_type"}},
	{name: "response_type id_token", change: set("response_type", "id_token"), errs: []string{"unsupported_response_type"}},
	{name: "response_type code id_token", change: set("response_type", "code id_token"), errs: []string{"unsupported_response_type"}},
	{name: "response_type CODE", change: set("response_type", "CODE"), errs: []string{"unsupported_response_type"}},
	{name: "response_type oversized", change: set("response_type", big), errs: []string{"invalid_request", "unsupported_response_type"}},
	{name: "response_type duplicated", raw: dup("response_type", "code"), pageOK: true, errs: []string{"invalid_request"}},

	// scope.
	{name: "scope unknown", change: set("scope", "openid admin"), errs: []string{"invalid_scope"}},
	{name: "scope oversized", change: set("scope", strings.Repeat("openid ", 3000)), errs: []string{"invalid_request", "invalid_scope"}},
	{name: "scope duplicated", raw: dup("scope", "openid profile"), pageOK: true, errs: []string{"invalid_request"}},
	{name: "scope missing", change: del("scope"), login: true},

	// state.
	{name: "state oversized", change: set("state", big), errs: []string{"invalid_request"}, noState: true},
	{name: "state duplicated", raw: dup("state", "other"), pageOK: true, errs: []string{"invalid_request"}, noState: true},
	{name: "state missing", change: del("state"), login: true},

	// nonce.
	{name: "nonce oversized", change: set("nonce", strings.Repeat("n", 600)), errs: []string{"invalid_request"}},
	{name: "nonce duplicated", raw: dup("nonce", "other"), pageOK: true, errs: []string{"invalid_request"}},
	{name: "nonce missing", change: del("nonce"), login: true},

	// code_challenge and code_challenge_method.
	{name: "code_challenge missing for a public client", spa: true, change: del("code_challenge"), errs: []string{"invalid_request"}},
	{name: "code_challenge too short", change: set("code_challenge", "abc"), errs: []string{"invalid_request"}},
	{name: "code_challenge not base64url", change: set("code_challenge", strings.Repeat("+/=", 14)+"a"), errs: []string{"invalid_request"}},
	{name: "code_challenge oversized", change: set("code_challenge", big), errs: []string{"invalid_request"}},
	{name: "code_challenge duplicated", raw: func(*oidcSuite) string {
		_, c := pkcePair()
		return "&code_challenge=" + c
	}, pageOK: true, errs: []string{"invalid_request"}},
	{name: "code_challenge_method plain", change: set("code_challenge_method", "plain"), errs: []string{"invalid_request"}},
	{name: "code_challenge_method s256 lowercase", change: set("code_challenge_method", "s256"), errs: []string{"invalid_request"}},
	{name: "code_challenge_method unknown", change: set("code_challenge_method", "S512"), errs: []string{"invalid_request"}},
	{name: "code_challenge_method oversized", change: set("code_challenge_method", big), errs: []string{"invalid_request"}},
	// RFC 7636 §4.3: an omitted method means plain, which is not supported:
	// §4.4.1 asks for invalid_request.
	{name: "code_challenge_method omitted means plain", change: del("code_challenge_method"), errs: []string{"invalid_request"}},
	{name: "code_challenge_method duplicated", raw: dup("code_challenge_method", "S256"), pageOK: true, errs: []string{"invalid_request"}},

	// response_mode.
	{name: "response_mode fragment", change: set("response_mode", "fragment"), errs: []string{"invalid_request"}},
	{name: "response_mode unknown", change: set("response_mode", "web_message"), errs: []string{"invalid_request"}},
	{name: "response_mode oversized", change: set("response_mode", big), errs: []string{"invalid_request"}},
	{name: "response_mode duplicated", change: set("response_mode", "form_post"), raw: dup("response_mode", "query"), pageOK: true, errs: []string{"invalid_request"}},

	// prompt.
	{name: "prompt unknown", change: set("prompt", "bogus"), errs: []string{"invalid_request"}},
	{name: "prompt none with login", change: set("prompt", "none login"), errs: []string{"invalid_request"}},
	{name: "prompt oversized", change: set("prompt", big), errs: []string{"invalid_request"}},
	{name: "prompt duplicated", change: set("prompt", "none"), raw: dup("prompt", "login"), pageOK: true, errs: []string{"invalid_request"}},
	{name: "prompt none without a session", change: set("prompt", "none"), errs: []string{"login_required"}},

	// max_age.
	{name: "max_age not a number", change: set("max_age", "abc"), errs: []string{"invalid_request"}},
	{name: "max_age negative", change: set("max_age", "-1"), errs: []string{"invalid_request"}},
	{name: "max_age fractional", change: set("max_age", "1.5"), errs: []string{"invalid_request"}},
	{name: "max_age overflowing", change: set("max_age", "99999999999999999999999"), errs: []string{"invalid_request"}},
	{name: "max_age oversized", change: set("max_age", strings.Repeat("9", 20<<10)), errs: []string{"invalid_request"}},
	{name: "max_age duplicated", change: set("max_age", "0"), raw: dup("max_age", "5"), pageOK: true, errs: []string{"invalid_request"}},

	// login_hint.
	{name: "login_hint oversized", change: set("login_hint", strings.Repeat("h", 600)), errs: []string{"invalid_request"}},
	{name: "login_hint duplicated", change: set("login_hint", "jane@acme.example"), raw: dup("login_hint", "other"), pageOK: true, errs: []string{"invalid_request"}},

	// request objects (OIDC Core §3.1.2.6).
	{name: "request", change: set("request", "eyJhbGciOiJub25lIn0.e30."), errs: []string{"request_not_supported"}},
	{name: "request_uri", change: set("request_uri", "https://app.example/request.jwt"), errs: []string{"request_uri_not_supported"}},
	{name: "request with an unknown client_id", change: func(_ *oidcSuite, q url.Values) {
		q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
		q.Set("client_id", "no-such-client")
	}, page: true},
	{name: "request with an unregistered redirect_uri", change: func(_ *oidcSuite, q url.Values) {
		q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
		q.Set("redirect_uri", "https://evil.example/cb")
	}, page: true},
	{name: "request_uri with an unregistered redirect_uri", change: func(_ *oidcSuite, q url.Values) {
		q.Set("request_uri", "https://evil.example/request.jwt")
		q.Set("redirect_uri", "https://evil.example/cb")
	}, page: true},
	{name: "request with a redirect_uri that does not parse", change: func(_ *oidcSuite, q url.Values) {
		q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
		q.Set("redirect_uri", "::not a uri")
	}, page: true},
	{name: "request with redirect_uri missing with two registered", change: func(_ *oidcSuite, q url.Values) {
		q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
		q.Del("redirect_uri")
	}, page: true},

	// The request as a whole.
	{name: "unknown parameters ignored", change: func(_ *oidcSuite, q url.Values) {
		q.Set("foo", "bar")
		q.Set("display", "popup")
		q.Set("claims", `{"userinfo":{"email":{"essential":true}}}`)
		q.Set("id_token_hint", "x.y.z")
	}, login: true},
	{name: "query string malformed", raw: func(*oidcSuite) string { return "&state=%zz" }, page: true},
	{name: "form body oversized", post: true, change: set("state", big), page: true},
	{name: "form body", post: true, login: true},
}

// send makes the case's request in a new browser.
func (c authorizeCase) send(t *testing.T, s *oidcSuite) (page, url.Values, string) {
	t.Helper()
	app, redirect := s.web, ocRedirect
	var extra []string
	if c.spa {
		app, redirect = s.spa, ocSPARedirect
	}
	_, challenge := pkcePair()
	extra = append(extra, "code_challenge", challenge, "code_challenge_method", "S256")
	q := s.query(app, redirect, extra...)
	if c.change != nil {
		c.change(s, q)
	}
	b := newBrowser(t, s.h)
	if c.post {
		return b.do(http.MethodPost, "/acme/oauth2/authorize", q), q, redirect
	}
	target := s.authorizePath(q)
	if c.raw != nil {
		target += c.raw(s)
	}
	return b.do(http.MethodGet, target, nil), q, redirect
}

// wantOwnPage checks a refusal shown on a page of ours.
func wantOwnPage(t *testing.T, what string, p page) {
	t.Helper()
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: want our 400 page and no redirect, got %d Location %q", what, p.status, p.header.Get("Location"))
	}
	wantFrameDenied(t, what, p)
}

// wantFrameDenied checks a hosted page's anti-framing headers.
func wantFrameDenied(t *testing.T, what string, p page) {
	t.Helper()
	if p.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("%s: X-Frame-Options %q, CSP %q", what, p.header.Get("X-Frame-Options"), p.header.Get("Content-Security-Policy"))
	}
}

func TestAuthorizeBadInput_Parameters(t *testing.T) {
	s := newOIDC(t)
	for _, c := range authorizeCases {
		t.Run(c.name, func(t *testing.T) {
			p, q, redirect := c.send(t, s)
			loc := p.header.Get("Location")
			switch {
			case c.login:
				if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/acme/login/") {
					t.Errorf("want the sign-in page, got %d %q\n%.300s", p.status, loc, p.body)
				}
			case c.page || (c.pageOK && p.status == http.StatusBadRequest):
				wantOwnPage(t, c.name, p)
			default:
				if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, redirect+"?") {
					t.Fatalf("want a redirect to %s with an error, got %d %q\n%.300s", redirect, p.status, loc, p.body)
				}
				u, _ := url.Parse(loc)
				resp := u.Query()
				if !slices.Contains(c.errs, resp.Get("error")) || resp.Has("code") {
					t.Errorf("error %q (%s), want one of %v", resp.Get("error"), resp.Get("error_description"), c.errs)
				}
				if !c.noState && resp.Get("state") != q.Get("state") {
					t.Errorf("state %q, want %q", resp.Get("state"), q.Get("state"))
				}
				if resp.Get("iss") != s.h.ts.URL+"/acme" {
					t.Errorf("iss %q", resp.Get("iss"))
				}
			}
		})
	}
	t.Run("unknown environment", func(t *testing.T) {
		p := newBrowser(t, s.h).do(http.MethodGet, "/nowhere/oauth2/authorize?"+s.query(s.web, ocRedirect).Encode(), nil)
		if p.status != http.StatusNotFound || p.header.Get("Location") != "" {
			t.Errorf("got %d %q", p.status, p.header.Get("Location"))
		}
	})
}

// TestAuthorizeBadInput_RefusalsAudited: each refusal at the authorization
// endpoint, shown on our page or sent to the client, is one
// AUTHORIZATION_REFUSED audit event; a good request is none.
func TestAuthorizeBadInput_RefusalsAudited(t *testing.T) {
	s := newOIDC(t)
	for _, c := range authorizeCases {
		t.Run(c.name, func(t *testing.T) {
			before := s.h.auditHead("acme")
			p, _, _ := c.send(t, s)
			got := refusalsSince(t, s.h, "acme", before)
			// What the endpoint did, right or wrong (TestAuthorizeBadInput_Parameters
			// judges that), is what must be audited.
			accepted := p.status == http.StatusSeeOther && strings.HasPrefix(p.header.Get("Location"), "/acme/login/")
			switch {
			case !accepted && len(got) != 1:
				t.Errorf("refused (%d %q), but %d AUTHORIZATION_REFUSED events were recorded", p.status, p.header.Get("Location"), len(got))
			case accepted && len(got) != 0:
				t.Errorf("accepted, but %d AUTHORIZATION_REFUSED events were recorded", len(got))
			}
			for _, e := range got {
				if e.Outcome != gatehouse.OutcomeFailure || e.Details["reason"] == "" {
					t.Errorf("audit event %+v", e)
				}
			}
		})
	}
}

// TestAuthorizeBadInput_OpenRedirect: a redirect URI that is not exactly a
// registered one is never followed, whatever else the request gets wrong.
func TestAuthorizeBadInput_OpenRedirect(t *testing.T) {
	s := newOIDC(t)
	attempts := []string{
		ocRedirect + "/extra",
		ocRedirect + "?x=1",
		ocRedirect + "#frag",
		"https://APP.example/cb",
		"https://app.example/CB",
		ocRedirect + "/",
		"https://app.example:443/cb",
		"https://app.example/cb/../cb",
		"https://app.example/cb%2F..%2Fevil",
		"https://evil.example@app.example/cb",
		"https://app.example@evil.example/cb",
		"https://app.example.evil.example/cb",
		"javascript:alert(1)//app.example/cb",
		"//evil.example/cb",
		"//app.example/cb",
		"http://app.example/cb",
		" " + ocRedirect,
		ocRedirect + " ",
		"https://evil.example/",
		"/acme/oauth2/authorize",
	}
	// Each with a second fault that would otherwise be sent to the client.
	faults := map[string][]string{
		"alone":               nil,
		"response_type token": {"response_type", "token"},
		"unknown scope":       {"scope", "openid nope"},
		"prompt none":         {"prompt", "none"},
		"request":             {"request", "eyJhbGciOiJub25lIn0.e30."},
		"request_uri":         {"request_uri", "https://evil.example/r"},
		"response_mode bogus": {"response_mode", "bogus"},
		"form_post":           {"response_mode", "form_post"},
		"max_age negative":    {"max_age", "-1"},
		"spa without PKCE":    nil,
	}
	for _, redirect := range attempts {
		for name, fault := range faults {
			t.Run(redirect+" "+name, func(t *testing.T) {
				q := s.query(s.web, redirect, fault...)
				if name == "spa without PKCE" {
					q = s.query(s.spa, redirect)
				}
				p := newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(q), nil)
				loc := p.header.Get("Location")
				if loc != "" {
					u, err := url.Parse(loc)
					offHost := err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/")
					if offHost {
						t.Errorf("OPEN REDIRECT to %q", loc)
					} else {
						t.Errorf("a redirect (to %q) for a request whose redirect_uri is not registered", loc)
					}
					return
				}
				if strings.Contains(p.body, `id="formpost"`) {
					t.Errorf("a form post page for an unregistered redirect_uri:\n%s", p.body)
					return
				}
				wantOwnPage(t, "redirect_uri "+redirect, p)
			})
		}
	}
}

// TestAuthorizeBadInput_RedirectURIOmittedWithOneRegistered: RFC 6749
// §4.1.1 lets a client with one registered redirect URI omit it; §4.1.3
// then asks for none at the token endpoint.
func TestAuthorizeBadInput_RedirectURIOmittedWithOneRegistered(t *testing.T) {
	s := newOIDC(t)
	one, err := s.h.svc.CreateApplication(t.Context(), service.OperatorActor(), "acme", gatehouse.Application{Name: "one redirect", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{ocRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	q := s.query(one, ocRedirect, "scope", "profile")
	q.Del("redirect_uri")
	b := newBrowser(t, s.h)
	code := s.clientResponse(s.signIn(b, q), ocRedirect).Get("code")
	if r, _ := s.exchange(one, code, "", ""); r.status != http.StatusOK {
		t.Errorf("a code from a request without redirect_uri, redeemed without redirect_uri: %s", r)
	}
	// OAuth 2.1 §4.1.3: then redirect_uri is OPTIONAL at the token
	// endpoint; sent, it is the registered one the response went to.
	code = s.clientResponse(b.do(http.MethodGet, s.authorizePath(q), nil), ocRedirect).Get("code")
	if r, _ := s.exchange(one, code, ocRedirect, ""); r.status != http.StatusOK {
		t.Errorf("a code from a request without redirect_uri, redeemed with the registered redirect_uri: %s", r)
	}
	code = s.clientResponse(b.do(http.MethodGet, s.authorizePath(q), nil), ocRedirect).Get("code")
	if r, reply := s.exchange(one, code, ocRedirect2, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("a code from a request without redirect_uri, redeemed with another redirect_uri: %s", r)
	}
}

func TestAuthorizeBadInput_CodeOfAnotherClient(t *testing.T) {
	s := newOIDC(t)
	other, err := s.h.svc.CreateApplication(t.Context(), service.OperatorActor(), "acme", gatehouse.Application{Name: "other web", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{ocRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.h)
	code := s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code")
	if r, reply := s.exchange(other, code, ocRedirect, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" || reply.AccessToken != "" {
		t.Errorf("another confidential client redeems the code: %s", r)
	}
	code = s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	verifier, _ := pkcePair()
	if r, reply := s.exchange(s.spa, code, ocRedirect, verifier); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" || reply.AccessToken != "" {
		t.Errorf("a public client redeems a confidential client's code: %s", r)
	}
}

func TestAuthorizeBadInput_CodeOfAnotherEnvironment(t *testing.T) {
	s := newOIDC(t)
	g := setupOIDC(t, s.h, "globex")
	code := s.clientResponse(s.signIn(newBrowser(t, s.h), s.query(s.web, ocRedirect)), ocRedirect).Get("code")
	if r, reply := g.exchange(g.web, code, ocRedirect, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("acme's code at globex's token endpoint, by a globex client: %s", r)
	}
	r, reply := s.tokenCall("/globex/oauth2/token", form("grant_type", "authorization_code", "code", code, "redirect_uri", ocRedirect),
		basicAuth(s.web.ClientID, s.web.ClientSecret))
	if r.status != http.StatusUnauthorized || reply.Error != "invalid_client" {
		t.Errorf("acme's client at globex's token endpoint: %s", r)
	}
	// Nothing at globex touched acme's code.
	s.mustExchange(s.web, code, ocRedirect, "")
}

func TestAuthorizeBadInput_CodeExpired(t *testing.T) {
	s := newOIDC(t)
	skew := installClock(s.h)
	defer skew.Store(0)
	b := newBrowser(t, s.h)
	code := s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code")
	late := s.ssoResponse(b, s.query(s.web, ocRedirect)).Get("code")
	skew.Store(int64(59 * time.Second))
	s.mustExchange(s.web, code, ocRedirect, "")
	skew.Store(int64(61 * time.Second))
	if r, reply := s.exchange(s.web, late, ocRedirect, ""); r.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Errorf("a code 61 s old: %s", r)
	}
}

// loginCookie is the sign-in binding cookie an authorization response set.
func loginCookie(t *testing.T, p page) string {
	t.Helper()
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "gh_login" {
			return c.Value
		}
	}
	t.Fatalf("no gh_login cookie in %v", p.header)
	return ""
}

func TestAuthorizeBadInput_CSRF(t *testing.T) {
	s := newOIDC(t)
	forced := s.newUser("forced@acme.example", "Initial-pass-93", true)
	b := newBrowser(t, s.h)
	loginURL := s.startLogin(b, s.query(s.web, ocRedirect))
	otherB := newBrowser(t, s.h)
	otherURL := s.startLogin(otherB, s.query(s.web, ocRedirect))
	otherToken := csrfField.FindStringSubmatch(otherB.do(http.MethodGet, otherURL, nil).body)[1]

	// refuse posts fields with no, a wrong, and another sign-in's CSRF
	// token and checks that each is refused and the step stays.
	refuse := func(step, at, stays string, fields ...string) {
		t.Helper()
		for name, token := range map[string]string{"no": "", "a wrong": "AAAA" + otherToken[4:], "another sign-in's": otherToken, "an empty": "-"} {
			form := url.Values{}
			for i := 0; i+1 < len(fields); i += 2 {
				form.Set(fields[i], fields[i+1])
			}
			if token != "" {
				form.Set("csrf", strings.TrimPrefix(token, "-"))
			}
			before := s.h.auditHead("acme")
			p := b.do(http.MethodPost, at, form)
			if p.status != http.StatusForbidden || p.header.Get("Location") != "" || strings.Contains(p.body, "csrf") {
				t.Errorf("%s step, %s CSRF token: %d %q", step, name, p.status, p.header.Get("Location"))
			}
			wantFrameDenied(t, step+" CSRF refusal", p)
			if at == loginURL && len(refusalsSince(t, s.h, "acme", before)) != 1 {
				t.Errorf("%s step, %s CSRF token: the refusal is not audited", step, name)
			}
			if now := b.do(http.MethodGet, loginURL, nil); now.status != http.StatusOK || !strings.Contains(now.body, stays) {
				t.Fatalf("%s step advanced after a refused post (%s CSRF token):\n%s", step, name, now.body)
			}
		}
	}
	refuse("identifier", loginURL, `name="username"`, "username", forced.Username)
	identifier := b.do(http.MethodGet, loginURL, nil)
	b.submit(loginURL, identifier, "username", forced.Username)
	refuse("password", loginURL, `name="password"`, "password", "Initial-pass-93")
	refuse("restart", loginURL+"/restart", `name="password"`)
	passwordPage := b.do(http.MethodGet, loginURL, nil)
	if p := b.submit(loginURL, passwordPage, "password", "Initial-pass-93"); p.status != http.StatusSeeOther {
		t.Fatalf("password step: %d", p.status)
	}
	refuse("change", loginURL, `name="current"`, "current", "Initial-pass-93", "new", "Changed-pass-71", "confirm", "Changed-pass-71")
	// The refused change changed nothing: the first password is still current.
	change := b.do(http.MethodGet, loginURL, nil)
	done := b.submit(loginURL, change, "current", "Initial-pass-93", "new", "Changed-pass-71", "confirm", "Changed-pass-71")
	if resp := s.clientResponse(done, ocRedirect); resp.Get("code") == "" {
		t.Errorf("change step after the refused posts: %v", resp)
	}
}

func TestAuthorizeBadInput_LoginFlowOfAnotherEnvironment(t *testing.T) {
	s := newOIDC(t)
	setupOIDC(t, s.h, "globex")
	start := newBrowser(t, s.h).do(http.MethodGet, s.authorizePath(s.query(s.web, ocRedirect)), nil)
	secret := loginCookie(t, start)
	flow := strings.TrimPrefix(start.header.Get("Location"), "/acme/login/")
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, s.h.ts.URL+"/globex/login/"+flow, strings.NewReader("username=jane%40globex.example"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "gh_login", Value: secret})
		r := s.h.send(req)
		if r.status != http.StatusNotFound || !strings.Contains(r.body, "expired") {
			t.Errorf("%s acme's sign-in at /globex/login: %s", method, r)
		}
	}
	// It still works where it belongs.
	req, _ := http.NewRequest(http.MethodGet, s.h.ts.URL+"/acme/login/"+flow, nil)
	req.AddCookie(&http.Cookie{Name: "gh_login", Value: secret})
	if r := s.h.send(req); r.status != http.StatusOK {
		t.Errorf("the sign-in at /acme/login: %s", r)
	}
}

func TestAuthorizeBadInput_ClickjackingHeaders(t *testing.T) {
	s := newOIDC(t)
	forced := s.newUser("forced@acme.example", "Initial-pass-93", true)
	b := newBrowser(t, s.h)
	loginURL := s.startLogin(b, s.query(s.web, ocRedirect))
	pages := map[string]page{}
	pages["identifier"] = b.do(http.MethodGet, loginURL, nil)
	b.submit(loginURL, pages["identifier"], "username", forced.Username)
	pages["password"] = b.do(http.MethodGet, loginURL, nil)
	pages["password, wrong"] = b.submit(loginURL, pages["password"], "password", "not-it")
	b.submit(loginURL, pages["password"], "password", "Initial-pass-93")
	pages["change"] = b.do(http.MethodGet, loginURL, nil)
	pages["change, mismatch"] = b.submit(loginURL, pages["change"], "current", "Initial-pass-93", "new", "Changed-pass-71", "confirm", "x")
	pages["CSRF refusal"] = b.do(http.MethodPost, loginURL, url.Values{"current": {"x"}})
	b.submit(loginURL, pages["change"], "current", "Initial-pass-93", "new", "Changed-pass-71", "confirm", "Changed-pass-71")
	pages["form_post"] = b.do(http.MethodGet, s.authorizePath(s.query(s.web, ocRedirect, "response_mode", "form_post")), nil)
	pages["message: bad request"] = b.do(http.MethodGet, s.authorizePath(s.query(s.web, "https://evil.example/")), nil)
	pages["message: expired"] = b.do(http.MethodGet, loginURL, nil)
	pages["logout confirmation"] = b.do(http.MethodGet, "/acme/oauth2/logout", nil)
	pages["message: signed out"] = b.submit("/acme/oauth2/logout", pages["logout confirmation"])
	pages["message: unknown environment"] = b.do(http.MethodGet, "/nowhere/oauth2/authorize", nil)
	for name, want := range map[string]string{"identifier": `name="username"`, "password": `name="password"`, "change": `name="current"`,
		"form_post": `id="formpost"`, "message: expired": "expired", "logout confirmation": "Sign out?", "message: signed out": "signed out"} {
		if !strings.Contains(pages[name].body, want) {
			t.Errorf("%s page is not what it should be (%d):\n%s", name, pages[name].status, pages[name].body)
		}
	}
	for name, p := range pages {
		wantFrameDenied(t, name+" page", p)
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s page: Cache-Control %q", name, p.header.Get("Cache-Control"))
		}
		if csp := p.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s page: CSP %q", name, csp)
		}
	}
}

func TestAuthorizeBadInput_LoginFlowExpired(t *testing.T) {
	s := newOIDC(t)
	skew := installClock(s.h)
	defer skew.Store(0)
	b := newBrowser(t, s.h)
	loginURL := s.startLogin(b, s.query(s.web, ocRedirect))
	identifier := b.do(http.MethodGet, loginURL, nil)
	skew.Store(int64(service.LoginFlowTTL - time.Minute))
	if p := b.do(http.MethodGet, loginURL, nil); p.status != http.StatusOK {
		t.Fatalf("the sign-in page a minute before its end: %d", p.status)
	}
	skew.Store(int64(service.LoginFlowTTL + time.Minute))
	if p := b.do(http.MethodGet, loginURL, nil); p.status != http.StatusNotFound || !strings.Contains(p.body, "expired") {
		t.Errorf("the sign-in page after its lifetime: %d\n%s", p.status, p.body)
	}
	if p := b.submit(loginURL, identifier, "username", s.user.Username); p.status != http.StatusNotFound || !strings.Contains(p.body, "expired") {
		t.Errorf("a post to the sign-in page after its lifetime: %d\n%s", p.status, p.body)
	}
}

func TestAuthorizeBadInput_UserinfoWithClientToken(t *testing.T) {
	s := newOIDC(t)
	g := setupOIDC(t, s.h, "globex")
	foreign := g.tokensFor("openid profile")
	for name, token := range map[string]string{
		"a client_credentials token": s.h.tokens["acme"][envAdmin],
		"globex's user token":        foreign.AccessToken,
		"an ID token":                foreign.IDToken,
		"no token":                   "",
	} {
		r, _ := s.userinfo(token)
		if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("userinfo with %s: %s (WWW-Authenticate %q)", name, r, r.header.Get("WWW-Authenticate"))
		}
	}
}

func TestAuthorizeBadInput_LogoutForeignIDTokenHint(t *testing.T) {
	s := newOIDC(t)
	g := setupOIDC(t, s.h, "globex")
	foreign := g.tokensFor("openid")
	b := newBrowser(t, s.h)
	own := s.mustExchange(s.web, s.clientResponse(s.signIn(b, s.query(s.web, ocRedirect)), ocRedirect).Get("code"), ocRedirect, "")
	logout := func(hint, to string) page {
		return b.do(http.MethodGet, "/acme/oauth2/logout?"+url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {to}, "state": {"s1"}}.Encode(), nil)
	}
	parts := strings.Split(own.IDToken, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for name, hint := range map[string]string{"globex's ID token": foreign.IDToken, "an ID token with a bad signature": forged,
		"an access token": own.AccessToken, "garbage": "x.y.z"} {
		if p := logout(hint, ocLogoutURI); p.status != http.StatusOK || p.header.Get("Location") != "" {
			t.Errorf("logout with %s: %d %q", name, p.status, p.header.Get("Location"))
		}
	}
	if p := logout(own.IDToken, "https://evil.example/bye"); p.status != http.StatusOK || p.header.Get("Location") != "" {
		t.Errorf("logout to an unregistered address: %d %q", p.status, p.header.Get("Location"))
	}
	if p := logout(own.IDToken, ocLogoutURI); p.status != http.StatusSeeOther || p.header.Get("Location") != ocLogoutURI+"?state=s1" {
		t.Errorf("logout with acme's own ID token: %d %q", p.status, p.header.Get("Location"))
	}
}
