package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

// The client Gatehouse is at the test OpenID Provider. The secret has
// characters that client_secret_basic must form-encode.
const (
	testClientID     = "gatehouse client"
	testClientSecret = "s3cret: +/=&%"
	testCallback     = "https://gatehouse.example/env1/oidc/idp1/callback"
	testSubject      = "248289761001"
)

// opConfig changes how a test OP behaves; nil fields keep the defaults.
type opConfig struct {
	// discoveryFailures is how many discovery requests fail before one
	// succeeds.
	discoveryFailures int32
	discovery         func(doc map[string]any)
	// claims edits the ID token the token endpoint issues.
	claims func(c map[string]any)
	// sign replaces the OP's signature of the ID token.
	sign func(op *testOP, claims map[string]any) string
	// token answers the token endpoint once code, client and PKCE passed.
	token    http.HandlerFunc
	userinfo func(u map[string]any)
	jwks     http.HandlerFunc
	// answer edits the authorization answer sent back to the callback.
	answer func(q url.Values)
	// authMethod is the one token endpoint auth method the OP supports.
	authMethod string
	// rsa makes the OP sign with RS256 instead of ES256.
	rsa bool
}

// testOP is an OpenID Provider that checks what the connector sends as a
// strict one would: client authentication, redirect_uri, single-use codes
// and the PKCE verifier against the challenge of the authorization request.
type testOP struct {
	t      *testing.T
	cfg    opConfig
	srv    *httptest.Server
	issuer string
	alg    jose.SignatureAlgorithm
	key    crypto.Signer
	kid    string

	discoveryHits atomic.Int32
	userinfoHits  atomic.Int32

	mu        sync.Mutex
	grants    map[string]grant  // by code
	subjects  map[string]string // by access token
	lastToken string            // the last ID token issued
}

type grant struct {
	nonce, challenge, redirectURI string
}

func newOP(t *testing.T, cfg opConfig) *testOP {
	t.Helper()
	op := &testOP{t: t, cfg: cfg, grants: map[string]grant{}, subjects: map[string]string{}, kid: "key-" + rand.Text()[:8]}
	var err error
	if cfg.rsa {
		op.alg, op.key, err = jose.RS256, mustRSA(t), nil
	} else {
		op.alg = jose.ES256
		op.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	if op.cfg.authMethod == "" {
		op.cfg.authMethod = "client_secret_basic"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.serveDiscovery)
	mux.HandleFunc("GET /jwks", op.serveJWKS)
	mux.HandleFunc("GET /authorize", op.serveAuthorize)
	mux.HandleFunc("POST /token", op.serveToken)
	mux.HandleFunc("GET /userinfo", op.serveUserinfo)
	op.srv = httptest.NewServer(mux)
	op.issuer = op.srv.URL
	t.Cleanup(op.srv.Close)
	return op
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (op *testOP) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if op.discoveryHits.Add(1) <= op.cfg.discoveryFailures {
		http.Error(w, "starting up", http.StatusServiceUnavailable)
		return
	}
	doc := map[string]any{
		"issuer":                                         op.issuer,
		"authorization_endpoint":                         op.issuer + "/authorize",
		"token_endpoint":                                 op.issuer + "/token",
		"jwks_uri":                                       op.issuer + "/jwks",
		"userinfo_endpoint":                              op.issuer + "/userinfo",
		"end_session_endpoint":                           op.issuer + "/logout",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported":          []string{op.cfg.authMethod},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
	}
	if op.cfg.discovery != nil {
		op.cfg.discovery(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (op *testOP) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if op.cfg.jwks != nil {
		op.cfg.jwks(w, r)
		return
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: op.key.Public(), KeyID: op.kid, Algorithm: string(op.alg), Use: "sig"}}}
	writeJSON(w, http.StatusOK, set)
}

// serveAuthorize plays the user who signs in at once: it records the
// request and sends the browser back with a code.
func (op *testOP) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code", q.Get("client_id") != testClientID,
		q.Get("redirect_uri") != testCallback, q.Get("code_challenge_method") != "S256",
		q.Get("code_challenge") == "", q.Get("nonce") == "", q.Get("state") == "",
		!slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		op.t.Errorf("authorization request is not acceptable: %s", r.URL.RawQuery)
		http.Error(w, "invalid_request", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	op.mu.Lock()
	op.grants[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
	op.mu.Unlock()
	answer := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer}}
	if op.cfg.answer != nil {
		op.cfg.answer(answer)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+answer.Encode(), http.StatusFound)
}

func (op *testOP) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if !op.clientAuthenticated(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	op.mu.Lock()
	g, ok := op.grants[r.PostForm.Get("code")]
	delete(op.grants, r.PostForm.Get("code"))
	op.mu.Unlock()
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || !ok:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown code"})
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri differs"})
		return
	case oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier")) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	if op.cfg.token != nil {
		op.cfg.token(w, r)
		return
	}
	accessToken := rand.Text()
	idToken := op.issue(g.nonce, accessToken)
	op.mu.Lock()
	op.subjects[accessToken] = testSubject
	op.lastToken = idToken
	op.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

// clientAuthenticated checks the client by the one method the OP
// advertises, decoding client_secret_basic as RFC 6749 §2.3.1 asks.
func (op *testOP) clientAuthenticated(r *http.Request) bool {
	var id, secret string
	switch op.cfg.authMethod {
	case "client_secret_basic":
		u, p, ok := r.BasicAuth()
		if !ok || r.PostForm.Has("client_secret") {
			return false
		}
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	case "client_secret_post":
		if r.Header.Get("Authorization") != "" {
			return false
		}
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == testClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(testClientSecret)) == 1
}

// issue makes the ID token for a grant.
func (op *testOP) issue(nonce, accessToken string) string {
	now := time.Now()
	claims := map[string]any{
		"iss":                op.issuer,
		"sub":                testSubject,
		"aud":                testClientID,
		"exp":                now.Add(5 * time.Minute).Unix(),
		"iat":                now.Unix(),
		"nonce":              nonce,
		"preferred_username": "alice",
		"email":              "alice@corp.example",
		"email_verified":     true,
		"given_name":         "Alice",
		"family_name":        "Liddell",
		"at_hash":            atHash(accessToken),
	}
	if op.cfg.claims != nil {
		op.cfg.claims(claims)
	}
	if op.cfg.sign != nil {
		return op.cfg.sign(op, claims)
	}
	return op.sign(claims)
}

// atHash binds the access token to the ID token (OpenID Connect Core
// §3.1.3.6) for the SHA-256 algorithms the OP signs with.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func (op *testOP) sign(claims map[string]any) string {
	return signJWT(op.t, op.alg, op.key, op.kid, claims)
}

// signJWT signs claims as a JWS. It runs in the OP's handlers, off the
// test's goroutine, so it reports failures with Errorf, not Fatal.
func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Errorf("signer: %v", err)
		return ""
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Errorf("signing: %v", err)
		return ""
	}
	s, _ := jws.CompactSerialize()
	return s
}

// rawJWT builds a compact JWT by hand, for what go-jose will not sign.
func rawJWT(header, claims map[string]any, sign func(input string) []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

func hs256(secret string) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

func (op *testOP) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	op.userinfoHits.Add(1)
	op.mu.Lock()
	sub, ok := op.subjects[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	op.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid_token", http.StatusUnauthorized)
		return
	}
	u := map[string]any{
		"sub":                sub,
		"preferred_username": "alice",
		"email":              "alice@corp.example",
		"email_verified":     true,
	}
	if op.cfg.userinfo != nil {
		op.cfg.userinfo(u)
	}
	writeJSON(w, http.StatusOK, u)
}

func (op *testOP) idToken() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.lastToken
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// newConnector makes a connector for issuer; edit changes its settings
// or config before New.
func newConnector(t *testing.T, issuer string, edit func(*connector.Config)) connector.Connector {
	t.Helper()
	cfg := connector.Config{
		IdentityProvider: &gatehouse.IdentityProvider{
			ID:   "idp1",
			Type: gatehouse.IdentityProviderOIDC,
			OIDC: &gatehouse.OIDCSettings{Issuer: issuer, ClientID: testClientID, Scopes: []string{"openid", "profile", "email"}},
		},
		Secret:      []byte(testClientSecret),
		CallbackURL: testCallback,
		HTTPClient:  &http.Client{},
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := Kind.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// authorize plays the browser: it begins a sign-in, follows the start URL
// to the OP and returns the answer the OP sends to the callback.
func authorize(t *testing.T, c connector.Connector) (answer url.Values, pending string) {
	t.Helper()
	start, err := c.Begin(context.Background(), connector.Request{State: "state-1", LoginHint: "alice"})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint answered %s", resp.Status)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != testCallback {
		t.Fatalf("OP sent the browser to %s, want %s", got, testCallback)
	}
	return back.Query(), start.Pending
}

// signIn runs a whole sign-in against op.
func signIn(t *testing.T, op *testOP, edit func(*connector.Config)) (*connector.Identity, error) {
	t.Helper()
	c := newConnector(t, op.issuer, edit)
	answer, pending := authorize(t, c)
	return c.Finish(context.Background(), answer, pending)
}
