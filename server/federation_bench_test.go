package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
	oidcconnector "github.com/gatehouse/gatehouse/connector/oidc"
	"github.com/gatehouse/gatehouse/service"
)

// timedOP is a minimal corporate OpenID Provider that counts the time its
// own handlers take, so that a benchmark can subtract the IdP's time from
// a federated sign-in and keep Gatehouse's.
type timedOP struct {
	ts     *httptest.Server
	key    *ecdsa.PrivateKey
	spent  atomic.Int64 // nanoseconds inside the OP's handlers
	mu     sync.Mutex
	nonces map[string]string // code → nonce
}

func newTimedOP(t testing.TB, clientID string) *timedOP {
	op := &timedOP{nonces: map[string]string{}}
	op.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	timed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			h(w, r)
			op.spent.Add(int64(time.Since(start)))
		}
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", timed(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": op.ts.URL, "authorization_endpoint": op.ts.URL + "/authorize",
			"token_endpoint": op.ts.URL + "/token", "jwks_uri": op.ts.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"ES256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}, "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}})
	}))
	mux.HandleFunc("GET /jwks", timed(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: op.key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("POST /token", timed(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		op.mu.Lock()
		nonce := op.nonces[r.PostForm.Get("code")]
		delete(op.nonces, r.PostForm.Get("code"))
		op.mu.Unlock()
		now := time.Now().Unix()
		claims, _ := json.Marshal(map[string]any{"iss": op.ts.URL, "aud": clientID, "sub": "corp-alice", "iat": now, "exp": now + 300,
			"nonce": nonce, "preferred_username": "alice@corp.example", "email": "alice@corp.example", "email_verified": true, "auth_time": now})
		jws, _ := signer.Sign(claims)
		idToken, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + r.PostForm.Get("code"), "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
	}))
	op.ts = httptest.NewServer(mux)
	t.Cleanup(op.ts.Close)
	return op
}

// authorize is the user signing in at the IdP: it answers the request with
// a code, as the IdP's login page would after the password. Its time is
// the IdP's (and the user's), so it is not counted.
func (op *timedOP) authorize(upstream *url.URL) url.Values {
	code := rand.Text()
	op.mu.Lock()
	op.nonces[code] = upstream.Query().Get("nonce")
	op.mu.Unlock()
	return url.Values{"code": {code}, "state": {upstream.Query().Get("state")}}
}

// BenchmarkFederatedSignIn measures what Gatehouse adds to a federated
// sign-in through an OIDC IdP, from the application's authorization
// request to its tokens: the identifier page, the redirect to the IdP, the
// callback (code exchange with the IdP, ID token check, linking), the
// session and code, and the application's token request. The IdP's own
// handler time is subtracted; ns/op is the whole, gatehouse-p50-ms and
// gatehouse-p99-ms are Gatehouse's part (DESIGN budget: p99 ≤ 20 ms).
func BenchmarkFederatedSignIn(b *testing.B) {
	h := newAPI(b)
	h.svc.Connectors = map[string]connector.Kind{gatehouse.IdentityProviderOIDC: oidcconnector.Kind}
	ctx := context.Background()
	redirect := "https://app.example/callback"
	web, err := h.svc.CreateApplication(ctx, service.OperatorActor(), "acme", gatehouse.Application{Name: "Store app", Type: gatehouse.AppTypeWeb,
		RedirectURIs: []string{redirect}})
	if err != nil {
		b.Fatal(err)
	}
	op := newTimedOP(b, "gatehouse")
	idp, err := h.svc.CreateIdentityProvider(ctx, service.OperatorActor(), "acme", gatehouse.IdentityProvider{Name: "Corp",
		Type: gatehouse.IdentityProviderOIDC, OIDC: &gatehouse.OIDCSettings{Issuer: op.ts.URL, ClientID: "gatehouse", ClientSecret: "s"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.svc.CreateDiscoveryRule(ctx, service.OperatorActor(), "acme", gatehouse.DiscoveryRule{EmailDomain: "corp.example",
		IdentityProviderID: idp.ID}); err != nil {
		b.Fatal(err)
	}
	if _, err := h.svc.CreateUser(ctx, service.OperatorActor(), "acme", service.NewUser{User: gatehouse.User{Username: "alice@corp.example",
		IdentityProvider: idp.ID}}); err != nil {
		b.Fatal(err)
	}
	f := &fedFixture{h: h, web: web, idp: idp, redirect: redirect, upstream: op.ts.URL + "/"}
	tb := testing.TB(b)
	var gatehouseTimes []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start, spentBefore := time.Now(), op.spent.Load()
		br := newBrowser(tb, h)
		_, upstream := f.signIn(tb, br, "alice@corp.example")
		idpStart := time.Now()
		answer := op.authorize(upstream)
		idpTime := time.Since(idpStart)
		_, done := f.callback(br, idp.ID, answer)
		f.tokens(tb, f.code(tb, done))
		total := time.Since(start)
		gatehouseTimes = append(gatehouseTimes, total-idpTime-time.Duration(op.spent.Load()-spentBefore))
	}
	b.StopTimer()
	slices.Sort(gatehouseTimes)
	pct := func(p float64) float64 {
		return float64(gatehouseTimes[int(float64(len(gatehouseTimes)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "gatehouse-p50-ms")
	b.ReportMetric(pct(0.99), "gatehouse-p99-ms")
}
