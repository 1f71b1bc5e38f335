package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
	"github.com/gatehouse/gatehouse/service"
)

// scriptedKind is a corporate IdP whose answers the test writes: what
// Gatehouse does with an identity (routing, linking, refusals, sessions)
// is tested here, and the protocols in connector/oidc, connector/saml and
// the interop test with real IdPs.
type scriptedKind struct{}

func (scriptedKind) Secret(_ *gatehouse.IdentityProvider, previous []byte) ([]byte, error) {
	if previous != nil {
		return previous, nil
	}
	return []byte("scripted"), nil
}

func (scriptedKind) New(cfg connector.Config) (connector.Connector, error) {
	return &scriptedIdP{cfg: cfg}, nil
}

type scriptedIdP struct{ cfg connector.Config }

// Begin sends the browser to https://idp.test/{idp}/authorize with the
// state, the username and a nonce that the answer must repeat.
func (c *scriptedIdP) Begin(_ context.Context, req connector.Request) (*connector.Start, error) {
	nonce := "nonce-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	q := url.Values{"state": {req.State}, "login_hint": {req.LoginHint}, "nonce": {nonce}, "redirect_uri": {c.cfg.CallbackURL}}
	if req.ForceAuthn {
		q.Set("prompt", "login")
	}
	return &connector.Start{URL: "https://idp.test/" + c.cfg.IdentityProvider.ID + "/authorize?" + q.Encode(), Pending: nonce}, nil
}

// Finish reads the identity from the answer's fields.
func (c *scriptedIdP) Finish(_ context.Context, answer url.Values, pending string) (*connector.Identity, error) {
	if e := answer.Get("error"); e != "" {
		return nil, &connector.Refused{Reason: e}
	}
	if answer.Get("nonce") != pending {
		return nil, errors.New("nonce mismatch")
	}
	id := &connector.Identity{Subject: answer.Get("sub"), Username: answer.Get("username"), Email: answer.Get("email"),
		UsernameIsEmail: answer.Get("usernameIsEmail") == "true", EmailVerified: answer.Get("emailVerified") == "true",
		FirstName: answer.Get("givenName"), LastName: answer.Get("familyName"), AssertionID: answer.Get("assertion"),
		AssertionExpires: time.Now().Add(5 * time.Minute), Logout: "logout-" + answer.Get("sub")}
	if at := answer.Get("authTime"); at != "" {
		n, _ := strconv.ParseInt(at, 10, 64)
		id.AuthTime = time.Unix(n, 0)
	}
	if amr := answer.Get("amr"); amr != "" {
		id.AMR = strings.Split(amr, " ")
	}
	return id, nil
}

func (c *scriptedIdP) LogoutURL(_ context.Context, logout, returnTo string) (string, error) {
	return "https://idp.test/" + c.cfg.IdentityProvider.ID + "/logout?hint=" + url.QueryEscape(logout), nil
}

// fedFixture is acme with a web application, a scripted IdP that
// corp.example routes to, and a pre-provisioned corporate user.
type fedFixture struct {
	h        *apiHarness
	web      *service.CreatedApplication
	idp      *service.IdentityProviderView
	alice    *gatehouse.User
	redirect string
	// upstream is where the IdP's sign-in page is (its origin, with "/").
	upstream string
}

func newFederation(t *testing.T) *fedFixture {
	h := newAPI(t)
	h.svc.Connectors = map[string]connector.Kind{gatehouse.IdentityProviderOIDC: scriptedKind{}, gatehouse.IdentityProviderSAML: scriptedKind{}}
	ctx := context.Background()
	f := &fedFixture{h: h, redirect: "https://app.example/callback", upstream: "https://idp.test/"}
	var err error
	f.web, err = h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "Store app", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{f.redirect}})
	if err != nil {
		t.Fatal(err)
	}
	f.idp = f.newIdP(t, "acme", "Corp", false)
	if _, err := h.svc.CreateDiscoveryRule(ctx, service.OperatorActor(), "acme", gatehouse.DiscoveryRule{Order: 1, EmailDomain: "corp.example",
		IdentityProviderID: f.idp.ID}); err != nil {
		t.Fatal(err)
	}
	f.alice, err = h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "alice@corp.example",
		FirstName: "Alice", IdentityProvider: f.idp.ID, Roles: []gatehouse.RoleAssignment{{Role: "STORE_ASSISTANT"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fedFixture) newIdP(t *testing.T, env, name string, jit bool) *service.IdentityProviderView {
	t.Helper()
	idp, err := f.h.svc.CreateIdentityProvider(context.Background(), service.OperatorActor(), env, gatehouse.IdentityProvider{
		Name: name, Type: gatehouse.IdentityProviderOIDC, JITProvisioning: jit,
		OIDC: &gatehouse.OIDCSettings{Issuer: "https://idp.test/" + name, ClientID: "gatehouse", ClientSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	return idp
}

// signIn starts at the authorization endpoint, gives username at the
// identifier page and returns the upstream URL the browser is sent to.
func (f *fedFixture) signIn(t testing.TB, b *browser, username string) (loginURL string, upstream *url.URL) {
	t.Helper()
	_, challenge := pkcePair()
	start := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil)
	loginURL = start.header.Get("Location")
	identifier := b.do("GET", loginURL, nil)
	next := b.submit(loginURL, identifier, "username", username)
	link := upstreamLink(next)
	if next.status != http.StatusOK || !strings.HasPrefix(link, f.upstream) {
		t.Fatalf("the identifier page did not send %s to the IdP: %d\n%s", username, next.status, next.body)
	}
	// A link, not a form: the IdP may redirect straight back and on to the
	// application, which a form page's form-action would block.
	if csp := next.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") || strings.Contains(next.body, "<form") ||
		!strings.Contains(next.body, "/continue.js") {
		t.Fatalf("the page that goes on to the IdP: %q\n%s", csp, next.body)
	}
	upstream, _ = url.Parse(link)
	return loginURL, upstream
}

var continueLink = regexp.MustCompile(`<a class="button" id="continue" href="([^"]*)">`)

// upstreamLink is where a page that goes on to the IdP goes.
func upstreamLink(p page) string {
	m := continueLink.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// answer is the IdP's answer for the sign-in it was sent: the state and
// nonce it got, plus the identity fields given as pairs.
func answer(upstream *url.URL, kv ...string) url.Values {
	q := url.Values{"state": {upstream.Query().Get("state")}, "nonce": {upstream.Query().Get("nonce")}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// callback delivers an answer to the IdP's callback and, when Gatehouse
// accepts it, follows on to the sign-in page in the browser.
func (f *fedFixture) callback(b *browser, idpID string, q url.Values) (accepted page, final page) {
	accepted = b.do("GET", "/acme/oidc/"+idpID+"/callback?"+q.Encode(), nil)
	if accepted.status != http.StatusSeeOther {
		return accepted, accepted
	}
	return accepted, b.do("GET", accepted.header.Get("Location"), nil)
}

// code reads the authorization code a finished sign-in sent back.
func (f *fedFixture) code(t testing.TB, p page) string {
	t.Helper()
	back, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || !strings.HasPrefix(back.String(), f.redirect) || back.Query().Get("code") == "" {
		t.Fatalf("not back at the application with a code: %d %s\n%s", p.status, back, p.body)
	}
	return back.Query().Get("code")
}

func (f *fedFixture) tokens(t testing.TB, code string) (idClaims, accessClaims map[string]any) {
	t.Helper()
	verifier, _ := pkcePair()
	r := f.h.tokenRequest("/acme/oauth2/token", "", form("grant_type", "authorization_code", "code", code, "redirect_uri", f.redirect,
		"code_verifier", verifier), basicAuth(f.web.ClientID, f.web.ClientSecret))
	var reply struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &reply) != nil {
		t.Fatalf("code exchange: %s", r)
	}
	return jwtClaims(t, reply.IDToken), jwtClaims(t, reply.AccessToken)
}

func jwtClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func wantRefused(t *testing.T, what string, p page, says string) {
	t.Helper()
	if p.status != http.StatusForbidden || !strings.Contains(p.body, `<h1 id="title">Sign-in refused</h1>`) || !strings.Contains(p.body, says) {
		t.Fatalf("%s: want a 403 \"Sign-in refused\" page saying %q, got %d\n%s", what, says, p.status, p.body)
	}
}

// TestFederatedSignIn: a corporate user is routed to their IdP, linked at
// the first sign-in by username and afterwards by the IdP's subject, and
// gets a session whose amr says "fed", with the IdP's auth time.
func TestFederatedSignIn(t *testing.T) {
	f := newFederation(t)
	b := newBrowser(t, f.h)
	loginURL, upstream := f.signIn(t, b, "Alice@Corp.Example")
	if upstream.Query().Get("login_hint") != "Alice@Corp.Example" || upstream.Query().Get("redirect_uri") != f.idp.Endpoints.RedirectURI ||
		f.idp.Endpoints.RedirectURI != f.h.ts.URL+"/acme/oidc/"+f.idp.ID+"/callback" {
		t.Fatalf("sent upstream as %s (endpoints %+v)", upstream, f.idp.Endpoints)
	}
	authTime := time.Now().Add(-3 * time.Minute).Unix()
	q := answer(upstream, "sub", "okta-00u1", "username", "ALICE@corp.example", "authTime", strconv.FormatInt(authTime, 10), "amr", "pwd mfa")

	// The answer is accepted without the browser's cookie (a SAML IdP posts
	// it cross-site), but only the browser that started can finish.
	stranger := newBrowser(t, f.h)
	accepted, elsewhere := f.callback(stranger, f.idp.ID, q)
	if accepted.status != http.StatusSeeOther || accepted.header.Get("Location") != loginURL || elsewhere.status != http.StatusNotFound {
		t.Fatalf("another browser finished the sign-in: %d %s, then %d", accepted.status, accepted.header.Get("Location"), elsewhere.status)
	}
	done := b.do("GET", loginURL, nil)
	idClaims, access := f.tokens(t, f.code(t, done))
	amr, _ := idClaims["amr"].([]any)
	if idClaims["sub"] != f.alice.ID || len(amr) != 3 || amr[0] != "fed" || amr[1] != "pwd" || amr[2] != "mfa" ||
		int64(idClaims["auth_time"].(float64)) != authTime {
		t.Fatalf("ID token of a federated sign-in: %v", idClaims)
	}
	roles, _ := json.Marshal(access["roles"])
	if access["username"] != "alice@corp.example" || !strings.Contains(string(roles), "STORE_ASSISTANT") {
		t.Fatalf("access token: %v", access)
	}
	// The answer was for one sign-in: a second delivery finds it over.
	_, replay := f.callback(b, f.idp.ID, q)
	if replay.status != http.StatusNotFound {
		t.Fatalf("the same answer twice: %d\n%s", replay.status, replay.body)
	}

	// Afterwards the IdP's subject decides, whatever username it sends.
	b2 := newBrowser(t, f.h)
	_, upstream = f.signIn(t, b2, "alice@corp.example")
	_, done = f.callback(b2, f.idp.ID, answer(upstream, "sub", "okta-00u1", "username", "alice.renamed@corp.example"))
	if idClaims, _ := f.tokens(t, f.code(t, done)); idClaims["sub"] != f.alice.ID {
		t.Fatalf("the linked subject signed in as %v", idClaims["sub"])
	}
	// and another subject with alice's username is someone else.
	b3 := newBrowser(t, f.h)
	_, upstream = f.signIn(t, b3, "alice@corp.example")
	_, refused := f.callback(b3, f.idp.ID, answer(upstream, "sub", "okta-00u9", "username", "alice@corp.example"))
	wantRefused(t, "a second subject for a linked user", refused, "linked to another identity")

	stored, err := f.h.svc.Store.GetUser(context.Background(), "acme", f.alice.ID)
	if err != nil || stored.LastSignOn == nil || stored.PasswordState != gatehouse.PasswordExternal || stored.PasswordHash != "" {
		t.Fatalf("alice after federated sign-ins: %+v %v", stored, err)
	}

	// Sign-out ends the Gatehouse session and offers the IdP's own.
	out := b.do("GET", "/acme/oauth2/logout", nil)
	out = b.submit("/acme/oauth2/logout", out)
	if out.status != 200 || !strings.Contains(out.body, `href="https://idp.test/`+f.idp.ID+`/logout?hint=logout-okta-00u1"`) {
		t.Fatalf("signed-out page of a federated session: %d\n%s", out.status, out.body)
	}
	_, challenge := pkcePair()
	none := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge, "prompt", "none"), nil)
	if back, _ := url.Parse(none.header.Get("Location")); back.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none after sign-out: %s", none.header.Get("Location"))
	}
}

// TestFederatedRefusals: only pre-provisioned, active users whose identity
// the IdP vouches for get in; each refusal is a clear page and an audit
// event, and ends the sign-in.
func TestFederatedRefusals(t *testing.T) {
	f := newFederation(t)
	ctx := context.Background()
	disabled, err := f.h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "dave@corp.example",
		IdentityProvider: f.idp.ID, Status: gatehouse.UserInactive}})
	if err != nil {
		t.Fatal(err)
	}
	local, err := f.h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "carol@corp.example"},
		Password: "Initial-pass-1"})
	if err != nil {
		t.Fatal(err)
	}
	other := f.newIdP(t, "acme", "Other", false)
	cases := []struct {
		name   string
		fields []string
		says   string
	}{
		{"unknown user", []string{"sub", "s-bob", "username", "bob@corp.example"}, "there is no account for you here"},
		{"disabled user", []string{"sub", "s-dave", "username", disabled.Username}, "disabled"},
		{"unverified email", []string{"sub", "s-alice", "username", "alice@corp.example", "usernameIsEmail", "true", "emailVerified", "false"},
			"has not verified your email"},
		{"local user of the same name", []string{"sub", "s-carol", "username", local.Username}, "there is no account for you here"},
		{"no subject", []string{"username", "alice@corp.example"}, "did not say who you are"},
		{"no username", []string{"sub", "s-x"}, "did not send your username"},
		{"the IdP says no", []string{"error", "access_denied"}, "did not sign you in"},
		{"nonce mismatch", []string{"nonce", "forged", "sub", "s-alice", "username", "alice@corp.example"}, "could not be verified"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, f.h)
			before := f.h.auditHead("acme")
			loginURL, upstream := f.signIn(t, b, "someone@corp.example")
			_, refused := f.callback(b, f.idp.ID, answer(upstream, tc.fields...))
			wantRefused(t, tc.name, refused, tc.says)
			events, _ := f.h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{Action: service.ActionFederatedRefused, Limit: 10})
			if len(events) == 0 || events[0].Seq <= before || events[0].Outcome != gatehouse.OutcomeFailure || events[0].TargetID != f.idp.ID {
				t.Fatalf("no audit event for the refusal: %+v", events)
			}
			if again := b.do("GET", loginURL, nil); again.status != http.StatusNotFound {
				t.Fatalf("a refused sign-in goes on: %d", again.status)
			}
		})
	}
	if u, _ := f.h.svc.Store.GetUserByUsername(ctx, "acme", "bob@corp.example"); u != nil {
		t.Fatal("an unknown user was created without just-in-time provisioning")
	}

	forged := []struct {
		name  string
		idp   string
		state func(string) string
	}{
		{"tampered state", f.idp.ID, func(s string) string { return s[:len(s)-2] + "xx" }},
		{"no state", f.idp.ID, func(string) string { return "" }},
		{"another IdP's callback", other.ID, func(s string) string { return s }},
	}
	for _, tc := range forged {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, f.h)
			loginURL, upstream := f.signIn(t, b, "alice@corp.example")
			q := answer(upstream, "sub", "s-alice", "username", "alice@corp.example")
			q.Set("state", tc.state(q.Get("state")))
			if _, p := f.callback(b, tc.idp, q); p.status != http.StatusNotFound {
				t.Fatalf("%s: %d\n%s", tc.name, p.status, p.body)
			}
			// The real answer still works: a forged one changed nothing.
			_, done := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-alice", "username", "alice@corp.example"))
			f.code(t, done)
			_ = loginURL
		})
	}

	// Another environment's callback path never reaches acme's sign-in.
	b := newBrowser(t, f.h)
	_, upstream := f.signIn(t, b, "alice@corp.example")
	q := answer(upstream, "sub", "s-alice", "username", "alice@corp.example")
	if p := b.do("GET", "/globex/oidc/"+f.idp.ID+"/callback?"+q.Encode(), nil); p.status != http.StatusNotFound {
		t.Fatalf("acme's answer at globex: %d\n%s", p.status, p.body)
	}
	if p := b.do("GET", "/nowhere/oidc/"+f.idp.ID+"/callback?"+q.Encode(), nil); p.status != http.StatusNotFound {
		t.Fatalf("an unknown environment's callback: %d", p.status)
	}
}

// TestFederatedRouting: discovery rules decide by the username alone, so
// an unknown username gets what a local user gets; login_hint skips the
// identifier page.
func TestFederatedRouting(t *testing.T) {
	f := newFederation(t)
	ctx := context.Background()
	pattern := f.newIdP(t, "acme", "Stores", false)
	if _, err := f.h.svc.CreateDiscoveryRule(ctx, service.OperatorActor(), "acme", gatehouse.DiscoveryRule{Order: 0,
		Pattern: `store-[0-9]+@.*`, IdentityProviderID: pattern.ID}); err != nil {
		t.Fatal(err)
	}
	_, challenge := pkcePair()
	for _, tc := range []struct {
		username, idp string
	}{
		{"alice@corp.example", f.idp.ID},
		{"nobody@corp.example", f.idp.ID},
		{"STORE-42@corp.example", pattern.ID}, // order 0 comes first
		{"someone@corp.example.evil", ""},
		{"corp.example", ""},
		{"nobody@elsewhere.example", ""},
	} {
		b := newBrowser(t, f.h)
		start := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge), nil)
		loginURL := start.header.Get("Location")
		next := b.submit(loginURL, b.do("GET", loginURL, nil), "username", tc.username)
		action := upstreamLink(next)
		switch {
		case tc.idp == "" && (next.status != http.StatusSeeOther || !strings.Contains(b.do("GET", loginURL, nil).body, `name="password"`)):
			t.Errorf("%s: not the password page: %d %s", tc.username, next.status, action)
		case tc.idp != "" && !strings.HasPrefix(action, "https://idp.test/"+tc.idp+"/"):
			t.Errorf("%s: sent to %q, want IdP %s", tc.username, action, tc.idp)
		}
	}
	// login_hint goes straight to the IdP, by redirect.
	b := newBrowser(t, f.h)
	start := b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge, "login_hint", "alice@corp.example"), nil)
	next := b.do("GET", start.header.Get("Location"), nil)
	if loc := next.header.Get("Location"); next.status != http.StatusSeeOther || !strings.HasPrefix(loc, "https://idp.test/"+f.idp.ID+"/authorize?") {
		t.Fatalf("login_hint: %d %s", next.status, loc)
	}
	// prompt=login asks the IdP to authenticate afresh.
	b = newBrowser(t, f.h)
	start = b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge, "login_hint", "alice@corp.example", "prompt", "login"), nil)
	next = b.do("GET", start.header.Get("Location"), nil)
	if up, _ := url.Parse(next.header.Get("Location")); up.Query().Get("prompt") != "login" {
		t.Fatalf("prompt=login upstream: %s", next.header.Get("Location"))
	}
	// A rule change is seen without a restart.
	rules, _ := f.h.svc.ListDiscoveryRules(ctx, "acme")
	for _, r := range rules {
		if err := f.h.svc.DeleteDiscoveryRule(ctx, service.OperatorActor(), "acme", r.ID); err != nil {
			t.Fatal(err)
		}
	}
	b = newBrowser(t, f.h)
	start = b.do("GET", authorizeURL(f.web.ClientID, f.redirect, challenge, "login_hint", "alice@corp.example"), nil)
	if p := b.do("GET", start.header.Get("Location"), nil); p.status != 200 || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("with no rules, alice gets: %d", p.status)
	}
}

// TestJustInTimeProvisioning: an IdP that allows it creates the corporate
// user at the first sign-in, with mapped attributes and default roles.
func TestJustInTimeProvisioning(t *testing.T) {
	f := newFederation(t)
	ctx := context.Background()
	jit, err := f.h.svc.UpdateIdentityProvider(ctx, service.OperatorActor(), "acme", f.idp.ID, func(p *gatehouse.IdentityProvider) error {
		p.JITProvisioning, p.JITRoles = true, []string{"STORE_ASSISTANT"}
		return nil
	})
	if err != nil || !jit.JITProvisioning {
		t.Fatal(err)
	}
	b := newBrowser(t, f.h)
	_, upstream := f.signIn(t, b, "erin@corp.example")
	_, done := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-erin", "username", "erin@corp.example", "email", "erin@corp.example",
		"usernameIsEmail", "true", "emailVerified", "true", "givenName", "Erin", "familyName", "Example"))
	idClaims, access := f.tokens(t, f.code(t, done))
	u, err := f.h.svc.Store.GetUserByUsername(ctx, "acme", "erin@corp.example")
	if err != nil || idClaims["sub"] != u.ID || u.IdentityProvider != f.idp.ID || u.PasswordState != gatehouse.PasswordExternal ||
		u.FirstName != "Erin" || u.LastName != "Example" || u.PrimaryEmail != "erin@corp.example" || len(u.Roles) != 1 || u.Roles[0].Role != "STORE_ASSISTANT" {
		t.Fatalf("provisioned user %+v (%v), token sub %v", u, err, idClaims["sub"])
	}
	if access["username"] != "erin@corp.example" {
		t.Fatalf("access token %v", access)
	}
	// Administrator roles are never handed out just in time.
	if _, err := f.h.svc.UpdateIdentityProvider(ctx, service.OperatorActor(), "acme", f.idp.ID, func(p *gatehouse.IdentityProvider) error {
		p.JITRoles = []string{gatehouse.RoleEnvironmentAdmin}
		return nil
	}); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Fatalf("an admin role for JIT users: %v", err)
	}
	// An unverified email is not a username, even with JIT.
	b = newBrowser(t, f.h)
	_, upstream = f.signIn(t, b, "mallory@corp.example")
	_, refused := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-m", "username", "alice@corp.example", "usernameIsEmail", "true"))
	wantRefused(t, "unverified email with JIT", refused, "has not verified your email")
}

// TestAssertionReplay: an assertion id is accepted once, whatever sign-in
// it is delivered to.
func TestAssertionReplay(t *testing.T) {
	f := newFederation(t)
	b := newBrowser(t, f.h)
	_, upstream := f.signIn(t, b, "alice@corp.example")
	_, done := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-a", "username", "alice@corp.example", "assertion", "_a1"))
	f.code(t, done)
	b = newBrowser(t, f.h)
	_, upstream = f.signIn(t, b, "alice@corp.example")
	_, refused := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-a", "username", "alice@corp.example", "assertion", "_a1"))
	wantRefused(t, "a replayed assertion", refused, "already used")
}

// TestForgedAnswersAreLimited: an address that sends many refused answers
// is answered 429 before anything is checked or audited.
func TestForgedAnswersAreLimited(t *testing.T) {
	f := newFederation(t)
	b := newBrowser(t, f.h)
	statuses := map[int]int{}
	for i := range 40 {
		p := b.do("GET", "/acme/oidc/"+f.idp.ID+"/callback?state=forged."+strconv.Itoa(i)+"&code=x", nil)
		statuses[p.status]++
	}
	if statuses[http.StatusNotFound] == 0 || statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusNotFound] > 31 {
		t.Fatalf("40 forged answers from one address: %v", statuses)
	}
	events, _ := f.h.svc.Store.ListAuditEvents(context.Background(), "acme", gatehouse.AuditFilter{Action: service.ActionFederatedRefused, Limit: 100})
	if len(events) != statuses[http.StatusNotFound] {
		t.Fatalf("%d refusals audited for %d checked answers", len(events), statuses[http.StatusNotFound])
	}
}

// TestFederatedMFA: the environment's MFA policy leaves corporate users to
// their IdP's own MFA, unless the IdP is configured to require it here too.
func TestFederatedMFA(t *testing.T) {
	f := newFederation(t)
	ctx := context.Background()
	pol := gatehouse.DefaultMFAPolicy()
	pol.Enabled, pol.AllowedMethods = true, []string{gatehouse.MethodTOTP}
	if _, err := f.h.svc.SetMFAPolicy(ctx, service.OperatorActor(), "acme", pol); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.h)
	_, upstream := f.signIn(t, b, "alice@corp.example")
	_, done := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-alice", "username", "alice@corp.example", "amr", "pwd mfa"))
	if idClaims, _ := f.tokens(t, f.code(t, done)); idClaims["sub"] != f.alice.ID {
		t.Fatalf("a corporate user was held for Gatehouse's MFA: %v", idClaims)
	}
	if _, err := f.h.svc.UpdateIdentityProvider(ctx, service.OperatorActor(), "acme", f.idp.ID, func(p *gatehouse.IdentityProvider) error {
		p.MFARequired = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b = newBrowser(t, f.h)
	loginURL, upstream := f.signIn(t, b, "alice@corp.example")
	accepted, next := f.callback(b, f.idp.ID, answer(upstream, "sub", "s-alice", "username", "alice@corp.example"))
	if accepted.status != http.StatusSeeOther || next.status != http.StatusSeeOther || next.header.Get("Location") != loginURL {
		t.Fatalf("after the IdP with mfaRequired: %d then %d %s", accepted.status, next.status, next.header.Get("Location"))
	}
	if p := b.do("GET", loginURL, nil); !strings.Contains(p.body, "Set up a second factor") {
		t.Fatalf("an IdP that requires MFA here: no enrolment\n%s", p.body)
	}
}
