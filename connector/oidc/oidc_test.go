package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

func TestBeginBuildsAuthorizationRequest(t *testing.T) {
	op := newOP(t, opConfig{})
	c := newConnector(t, op.issuer, nil)
	ctx := context.Background()

	first, err := c.Begin(ctx, connector.Request{State: "state-1", LoginHint: "alice@corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(first.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != op.issuer+"/authorize" {
		t.Errorf("URL goes to %s, want the authorization endpoint", got)
	}
	if first.Form != nil {
		t.Errorf("Form = %v, want none (a redirect)", first.Form)
	}
	var p pending
	if err := json.Unmarshal([]byte(first.Pending), &p); err != nil {
		t.Fatalf("Pending %q is not JSON: %v", first.Pending, err)
	}
	q := u.Query()
	want := map[string]string{
		"response_type":         "code",
		"client_id":             testClientID,
		"redirect_uri":          testCallback,
		"scope":                 "openid profile email",
		"state":                 "state-1",
		"nonce":                 p.Nonce,
		"code_challenge":        oauth2.S256ChallengeFromVerifier(p.Verifier),
		"code_challenge_method": "S256",
		"login_hint":            "alice@corp.example",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(p.Nonce) < 22 || len(p.Verifier) < 43 {
		t.Errorf("nonce %q or verifier %q too short to be unguessable", p.Nonce, p.Verifier)
	}

	if q.Has("prompt") || q.Has("max_age") {
		t.Errorf("prompt %q, max_age %q without the application asking", q.Get("prompt"), q.Get("max_age"))
	}
	age := 300
	forced, err := c.Begin(ctx, connector.Request{State: "state-3", ForceAuthn: true, MaxAge: &age})
	if err != nil {
		t.Fatal(err)
	}
	if fu, _ := url.Parse(forced.URL); fu.Query().Get("prompt") != "login" || fu.Query().Get("max_age") != "300" {
		t.Errorf("a forced sign-in asks %s", forced.URL)
	}

	second, err := c.Begin(ctx, connector.Request{State: "state-2"})
	if err != nil {
		t.Fatal(err)
	}
	var p2 pending
	json.Unmarshal([]byte(second.Pending), &p2)
	if p2.Nonce == p.Nonce || p2.Verifier == p.Verifier {
		t.Error("a second sign-in reused the nonce or the PKCE verifier")
	}
	u2, _ := url.Parse(second.URL)
	if u2.Query().Has("login_hint") {
		t.Error("login_hint sent although the user typed nothing")
	}
}

func TestFinishMapsClaims(t *testing.T) {
	noUserinfo := func(doc map[string]any) { delete(doc, "userinfo_endpoint") }
	tests := []struct {
		name         string
		op           opConfig
		usernameAt   string // settings.UsernameClaim
		want         connector.Identity
		wantUserinfo bool
	}{{
		name: "preferred_username",
		want: connector.Identity{Username: "alice", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: "email verified, no preferred_username",
		op: opConfig{discovery: noUserinfo, claims: func(c map[string]any) {
			delete(c, "preferred_username")
		}},
		want: connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: "email_verified false",
		op: opConfig{discovery: noUserinfo, claims: func(c map[string]any) {
			delete(c, "preferred_username")
			c["email_verified"] = false
		}},
		want: connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: `email_verified "true" as a string`,
		op: opConfig{discovery: noUserinfo, claims: func(c map[string]any) {
			delete(c, "preferred_username")
			c["email_verified"] = "true"
		}},
		want: connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: `email_verified "false" as a string`,
		op: opConfig{discovery: noUserinfo, claims: func(c map[string]any) {
			delete(c, "preferred_username")
			c["email_verified"] = "false"
		}},
		want: connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: "email_verified missing",
		op: opConfig{discovery: noUserinfo, claims: func(c map[string]any) {
			delete(c, "preferred_username")
			delete(c, "email_verified")
		}},
		want: connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: "the ID token's unverified email is not verified by userinfo",
		op: opConfig{
			claims: func(c map[string]any) {
				delete(c, "preferred_username")
				c["email_verified"] = false
			},
			userinfo: func(u map[string]any) { delete(u, "preferred_username") },
		},
		want:         connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", FirstName: "Alice", LastName: "Liddell"},
		wantUserinfo: true,
	}, {
		name:       "custom username claim",
		usernameAt: "upn",
		op:         opConfig{claims: func(c map[string]any) { c["upn"] = "CORP\\alice" }},
		want:       connector.Identity{Username: "CORP\\alice", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}, {
		name:       "custom username claim holding a number",
		usernameAt: "employee_id",
		op:         opConfig{claims: func(c map[string]any) { c["employee_id"] = 100234 }},
		want:       connector.Identity{Username: "100234", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}, {
		name:       "username claim email",
		usernameAt: "email",
		op:         opConfig{claims: func(c map[string]any) { c["email_verified"] = false }},
		want:       connector.Identity{Username: "alice@corp.example", UsernameIsEmail: true, Email: "alice@corp.example", FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: "email from userinfo",
		op: opConfig{
			claims: func(c map[string]any) {
				delete(c, "email")
				delete(c, "email_verified")
			},
			userinfo: func(u map[string]any) { u["email"], u["email_verified"] = "a.liddell@corp.example", "true" },
		},
		want:         connector.Identity{Username: "alice", Email: "a.liddell@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
		wantUserinfo: true,
	}, {
		name: "userinfo's email keeps userinfo's missing email_verified",
		op: opConfig{
			claims:   func(c map[string]any) { delete(c, "email") }, // email_verified true stays
			userinfo: func(u map[string]any) { u["email"] = "other@corp.example"; delete(u, "email_verified") },
		},
		want:         connector.Identity{Username: "alice", Email: "other@corp.example", FirstName: "Alice", LastName: "Liddell"},
		wantUserinfo: true,
	}, {
		name: "username and names from userinfo",
		op: opConfig{
			claims: func(c map[string]any) {
				for _, k := range []string{"preferred_username", "given_name", "family_name"} {
					delete(c, k)
				}
			},
			userinfo: func(u map[string]any) { u["given_name"], u["family_name"] = "Alice", "Liddell" },
		},
		want:         connector.Identity{Username: "alice", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
		wantUserinfo: true,
	}, {
		name: "auth_time and amr",
		op: opConfig{claims: func(c map[string]any) {
			c["auth_time"] = 1767225600
			c["amr"] = []string{"pwd", "mfa"}
		}},
		want: connector.Identity{Username: "alice", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell",
			AuthTime: time.Unix(1767225600, 0).UTC(), AMR: []string{"pwd", "mfa"}},
	}, {
		name: "RS256 and client_secret_post",
		op:   opConfig{rsa: true, authMethod: "client_secret_post"},
		want: connector.Identity{Username: "alice", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}, {
		name: "azp naming this client among several audiences",
		op: opConfig{claims: func(c map[string]any) {
			c["aud"] = []string{testClientID, "api://corp"}
			c["azp"] = testClientID
		}},
		want: connector.Identity{Username: "alice", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice", LastName: "Liddell"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newOP(t, tt.op)
			id, err := signIn(t, op, func(cfg *connector.Config) { cfg.IdentityProvider.OIDC.UsernameClaim = tt.usernameAt })
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Logout == "" || id.Logout != op.idToken() {
				t.Errorf("Logout = %q, want the raw ID token", id.Logout)
			}
			want := tt.want
			want.Subject, want.Logout = testSubject, id.Logout
			if !reflect.DeepEqual(*id, want) {
				t.Errorf("identity\n got %+v\nwant %+v", *id, want)
			}
			if got := op.userinfoHits.Load() > 0; got != tt.wantUserinfo {
				t.Errorf("userinfo fetched: %v, want %v", got, tt.wantUserinfo)
			}
		})
	}
}

func TestFinishRefusesBadAnswers(t *testing.T) {
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherIdP := newOP(t, opConfig{})
	tests := []struct {
		name   string
		op     opConfig
		secret string                                   // client secret, if not the right one
		tamper func(answer url.Values, pending *string) // what reaches Finish
		want   string
	}{{
		name: "wrong issuer in the ID token",
		op:   opConfig{claims: func(c map[string]any) { c["iss"] = "https://idp.evil.example" }},
		want: "issued by a different provider",
	}, {
		name: "wrong audience",
		op:   opConfig{claims: func(c map[string]any) { c["aud"] = "another-client" }},
		want: "expected audience",
	}, {
		name: "several audiences without azp",
		op:   opConfig{claims: func(c map[string]any) { c["aud"] = []string{testClientID, "another-client"} }},
		want: "several audiences and no azp",
	}, {
		name: "azp names another client",
		op:   opConfig{claims: func(c map[string]any) { c["azp"] = "another-client" }},
		want: `issued to client "another-client"`,
	}, {
		name: "tampered payload",
		op: opConfig{sign: func(op *testOP, c map[string]any) string {
			parts := strings.Split(op.sign(c), ".")
			c["sub"] = "admin"
			b, _ := json.Marshal(c)
			parts[1] = base64.RawURLEncoding.EncodeToString(b)
			return strings.Join(parts, ".")
		}},
		want: "failed to verify id token signature",
	}, {
		name: "alg none",
		op: opConfig{sign: func(op *testOP, c map[string]any) string {
			return rawJWT(map[string]any{"alg": "none", "typ": "JWT"}, c, func(string) []byte { return nil })
		}},
		want: `unexpected signature algorithm "none"`,
	}, {
		name: "HS256 keyed with the client secret",
		op: opConfig{sign: func(op *testOP, c map[string]any) string {
			return rawJWT(map[string]any{"alg": "HS256", "typ": "JWT", "kid": op.kid}, c, hs256(testClientSecret))
		}},
		want: `unexpected signature algorithm "HS256"`,
	}, {
		name: "signed by an unknown key",
		op: opConfig{sign: func(op *testOP, c map[string]any) string {
			return signJWT(op.t, jose.ES256, otherKey, "rogue-key", c)
		}},
		want: "failed to verify id token signature",
	}, {
		name: "signed by another key under the IdP's key id",
		op: opConfig{sign: func(op *testOP, c map[string]any) string {
			return signJWT(op.t, jose.ES256, otherKey, op.kid, c)
		}},
		want: "failed to verify id token signature",
	}, {
		name: "ID token from another IdP",
		op: opConfig{sign: func(op *testOP, c map[string]any) string {
			c["iss"] = otherIdP.issuer
			return otherIdP.sign(c)
		}},
		want: "failed to verify id token signature",
	}, {
		name: "nonce mismatch",
		op:   opConfig{claims: func(c map[string]any) { c["nonce"] = "another-sign-in" }},
		want: "nonce is not the one",
	}, {
		name: "nonce missing",
		op:   opConfig{claims: func(c map[string]any) { delete(c, "nonce") }},
		want: "nonce is not the one",
	}, {
		name: "expired ID token",
		op:   opConfig{claims: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
		want: "token is expired",
	}, {
		name: "ID token not yet valid",
		op:   opConfig{claims: func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }},
		want: "nbf",
	}, {
		name: "missing sub",
		op:   opConfig{claims: func(c map[string]any) { delete(c, "sub") }},
		want: "no sub claim",
	}, {
		name: "sub with a control character",
		op:   opConfig{claims: func(c map[string]any) { c["sub"] = "alice\nadmin" }},
		want: "sub claim holds control characters",
	}, {
		name: "at_hash does not match the access token",
		op:   opConfig{claims: func(c map[string]any) { c["at_hash"] = "x6Yo6XGNWuZg0KxLpHwXJQ" }},
		want: "at_hash",
	}, {
		name: "userinfo describes another subject",
		op: opConfig{
			claims:   func(c map[string]any) { delete(c, "email") },
			userinfo: func(u map[string]any) { u["sub"] = "someone-else" },
		},
		want: `userinfo describes subject "someone-else"`,
	}, {
		name: "userinfo fails",
		op: opConfig{
			claims:    func(c map[string]any) { delete(c, "preferred_username") },
			discovery: func(d map[string]any) { d["userinfo_endpoint"] = d["issuer"].(string) + "/nowhere" },
		},
		want: "fetching userinfo: 404",
	}, {
		name: "no username anywhere",
		op: opConfig{
			claims:   func(c map[string]any) { delete(c, "preferred_username"); delete(c, "email") },
			userinfo: func(u map[string]any) { delete(u, "preferred_username"); delete(u, "email") },
		},
		want: "neither the ID token nor userinfo carries preferred_username or email",
	}, {
		name: "username claim of the wrong type",
		op:   opConfig{claims: func(c map[string]any) { c["preferred_username"] = map[string]any{"name": "alice"} }},
		want: "preferred_username claim is an object, not a string",
	}, {
		name: "auth_time not a time",
		op:   opConfig{claims: func(c map[string]any) { c["auth_time"] = "yesterday" }},
		want: "auth_time claim is not a time",
	}, {
		name:   "iss parameter names another IdP",
		tamper: func(a url.Values, _ *string) { a.Set("iss", "https://idp.evil.example") },
		want:   "iss parameter",
	}, {
		name:   "iss parameter missing although advertised",
		tamper: func(a url.Values, _ *string) { a.Del("iss") },
		want:   "lacks the iss parameter",
	}, {
		name:   "no code",
		tamper: func(a url.Values, _ *string) { a.Del("code") },
		want:   "neither a code nor an error",
	}, {
		name:   "pending state not from Begin",
		tamper: func(_ url.Values, p *string) { *p = `{"nonce":""}` },
		want:   "pending state",
	}, {
		name: "wrong PKCE verifier",
		tamper: func(_ url.Values, p *string) {
			var kept pending
			json.Unmarshal([]byte(*p), &kept)
			kept.Verifier = oauth2.GenerateVerifier()
			b, _ := json.Marshal(kept)
			*p = string(b)
		},
		want: "invalid_grant: PKCE verification failed",
	}, {
		name:   "wrong client secret",
		secret: "not the secret",
		want:   "refused the code (HTTP 401): invalid_client",
	}, {
		name: "token endpoint 400",
		op: opConfig{token: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "code expired\r\nFAKE LOG LINE"})
		}},
		want: "refused the code (HTTP 400): invalid_grant: code expired  FAKE LOG LINE",
	}, {
		name: "token endpoint 500",
		op: opConfig{token: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<h1>Internal Server Error</h1>", http.StatusInternalServerError)
		}},
		want: "the token endpoint answered HTTP 500: <h1>Internal Server Error</h1>",
	}, {
		name: "token answer not JSON",
		op: opConfig{token: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>Sign in to continue</html>"))
		}},
		want: "cannot parse json",
	}, {
		name: "token answer oversize",
		op: opConfig{token: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"` + strings.Repeat("a", maxBody) + `","token_type":"Bearer"}`))
		}},
		want: "larger than 512 KiB",
	}, {
		name: "token answer garbage JSON",
		op: opConfig{token: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token": ["x"], "id_token": 7}`))
		}},
		want: "cannot parse json",
	}, {
		name: "token answer without id_token",
		op: opConfig{token: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer"})
		}},
		want: "carries no id_token",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newOP(t, tt.op)
			c := newConnector(t, op.issuer, func(cfg *connector.Config) {
				if tt.secret != "" {
					cfg.Secret = []byte(tt.secret)
				}
			})
			answer, kept := authorize(t, c)
			if tt.tamper != nil {
				tt.tamper(answer, &kept)
			}
			id, err := c.Finish(context.Background(), answer, kept)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Finish = %+v, %v; want an error containing %q", id, err, tt.want)
			}
			t.Logf("%v", err)
			if id != nil {
				t.Errorf("Finish refused but returned identity %+v", id)
			}
			var refused *connector.Refused
			if errors.As(err, &refused) {
				t.Errorf("failed checks reported as the IdP's refusal: %v", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q spans several log lines", err)
			}
		})
	}
}

func TestFinishRefusesReusedCode(t *testing.T) {
	op := newOP(t, opConfig{})
	c := newConnector(t, op.issuer, nil)
	answer, kept := authorize(t, c)
	if _, err := c.Finish(context.Background(), answer, kept); err != nil {
		t.Fatalf("first Finish: %v", err)
	}
	_, err := c.Finish(context.Background(), answer, kept)
	if err == nil || !strings.Contains(err.Error(), "invalid_grant: unknown code") {
		t.Fatalf("replayed answer: %v, want the token endpoint's invalid_grant", err)
	}
}

func TestFinishReportsIdPRefusal(t *testing.T) {
	tests := []struct {
		name   string
		answer url.Values
		want   string
	}{{
		name:   "access denied with description",
		answer: url.Values{"error": {"access_denied"}, "error_description": {"User cancelled the sign-in"}, "state": {"s"}},
		want:   "access_denied: User cancelled the sign-in",
	}, {
		name:   "error alone",
		answer: url.Values{"error": {"login_required"}},
		want:   "login_required",
	}, {
		name:   "error with the right iss",
		answer: url.Values{"error": {"access_denied"}, "iss": {"ISSUER"}},
		want:   "access_denied",
	}, {
		name:   "control characters and length",
		answer: url.Values{"error": {"access_denied\nforged"}, "error_description": {strings.Repeat("x", 1000)}},
		want:   "access_denied forged: " + strings.Repeat("x", 300) + "…",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The IdP is unreachable: a refusal needs no discovery.
			c := newConnector(t, "http://127.0.0.1:1", nil)
			if iss := tt.answer["iss"]; iss != nil {
				iss[0] = "http://127.0.0.1:1"
			}
			_, err := c.Finish(context.Background(), tt.answer, `{"nonce":"n","verifier":"v"}`)
			var refused *connector.Refused
			if !errors.As(err, &refused) {
				t.Fatalf("Finish = %v, want *connector.Refused", err)
			}
			if refused.Reason != tt.want {
				t.Errorf("Reason = %q, want %q", refused.Reason, tt.want)
			}
		})
	}

	t.Run("error from another IdP", func(t *testing.T) {
		c := newConnector(t, "http://127.0.0.1:1", nil)
		answer := url.Values{"error": {"access_denied"}, "iss": {"https://idp.evil.example"}}
		_, err := c.Finish(context.Background(), answer, `{"nonce":"n","verifier":"v"}`)
		var refused *connector.Refused
		if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "iss parameter") {
			t.Fatalf("Finish = %v, want an iss mismatch, not a refusal", err)
		}
	})
}

func TestDiscoveryRefused(t *testing.T) {
	tests := []struct {
		name   string
		op     opConfig
		issuer func(op *testOP) string
		want   string
	}{{
		name: "issuer differs from the configured one",
		op:   opConfig{discovery: func(d map[string]any) { d["issuer"] = "https://idp.evil.example" }},
		want: "did not match the issuer URL returned by provider",
	}, {
		name:   "configured issuer has a trailing slash",
		issuer: func(op *testOP) string { return op.issuer + "/" },
		want:   "did not match the issuer URL returned by provider",
	}, {
		name: "only symmetric or no signatures",
		op: opConfig{discovery: func(d map[string]any) {
			d["id_token_signing_alg_values_supported"] = []string{"HS256", "none"}
		}},
		want: `ID tokens are signed only with ["HS256" "none"]`,
	}, {
		name: "no client authentication we can do",
		op: opConfig{discovery: func(d map[string]any) {
			d["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"}
		}},
		want: "neither client_secret_basic nor client_secret_post",
	}, {
		name: "no token endpoint",
		op:   opConfig{discovery: func(d map[string]any) { delete(d, "token_endpoint") }},
		want: "the token_endpoint is missing",
	}, {
		name: "not found",
		op:   opConfig{discoveryFailures: 1 << 30},
		want: "503 Service Unavailable",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newOP(t, tt.op)
			issuer := op.issuer
			if tt.issuer != nil {
				issuer = tt.issuer(op)
			}
			c := newConnector(t, issuer, nil)
			start, err := c.Begin(context.Background(), connector.Request{State: "s"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Begin = %+v, %v; want an error containing %q", start, err, tt.want)
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), "discovery document of "+issuer) {
				t.Errorf("error %q does not name the discovery document", err)
			}
		})
	}
}

func TestNewDoesNotCallTheIdP(t *testing.T) {
	op := newOP(t, opConfig{})
	c := newConnector(t, op.issuer, nil)
	if n := op.discoveryHits.Load(); n != 0 {
		t.Fatalf("New fetched discovery %d times", n)
	}
	for range 3 {
		if _, err := c.Begin(context.Background(), connector.Request{State: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := op.discoveryHits.Load(); n != 1 {
		t.Errorf("discovery fetched %d times for three sign-ins, want once", n)
	}

	unreachable := newConnector(t, "http://127.0.0.1:1", nil)
	_, err := unreachable.Begin(context.Background(), connector.Request{State: "s"})
	if err == nil || !strings.Contains(err.Error(), "fetching the discovery document of http://127.0.0.1:1") {
		t.Fatalf("Begin at an unreachable IdP = %v, want an error naming its discovery", err)
	}
}

func TestDiscoveryRetriedAfterFailure(t *testing.T) {
	op := newOP(t, opConfig{discoveryFailures: 1})
	c := newConnector(t, op.issuer, nil)
	if _, err := c.Begin(context.Background(), connector.Request{State: "s"}); err == nil {
		t.Fatal("Begin succeeded although discovery failed")
	}
	if _, err := c.Begin(context.Background(), connector.Request{State: "s"}); err != nil {
		t.Fatalf("Begin after the IdP recovered: %v", err)
	}
	if n := op.discoveryHits.Load(); n != 2 {
		t.Errorf("discovery fetched %d times, want 2", n)
	}
}

func TestDiscoveryFetchedOnceUnderConcurrency(t *testing.T) {
	op := newOP(t, opConfig{})
	c := newConnector(t, op.issuer, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.Begin(context.Background(), connector.Request{State: "s"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := op.discoveryHits.Load(); n != 1 {
		t.Errorf("discovery fetched %d times by 20 concurrent sign-ins, want once", n)
	}
}

func TestDiscoveryWaitHonoursContext(t *testing.T) {
	c := newConnector(t, "http://127.0.0.1:1", nil).(*conn)
	c.fetching <- struct{}{} // another caller is fetching
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := c.Begin(ctx, connector.Request{State: "s"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Begin = %v, want the context's deadline", err)
	}
}

func TestNewChecksSettings(t *testing.T) {
	tests := []struct {
		name string
		edit func(*connector.Config)
		want string
	}{
		{"no IdP", func(c *connector.Config) { c.IdentityProvider = nil }, "not an OIDC identity provider"},
		{"SAML type", func(c *connector.Config) { c.IdentityProvider.Type = gatehouse.IdentityProviderSAML }, "not an OIDC identity provider"},
		{"no settings", func(c *connector.Config) { c.IdentityProvider.OIDC = nil }, "not an OIDC identity provider"},
		{"issuer not http", func(c *connector.Config) { c.IdentityProvider.OIDC.Issuer = "ftp://idp.example" }, "issuer"},
		{"issuer relative", func(c *connector.Config) { c.IdentityProvider.OIDC.Issuer = "/idp" }, "issuer"},
		{"no client id", func(c *connector.Config) { c.IdentityProvider.OIDC.ClientID = "" }, "client id"},
		{"no openid scope", func(c *connector.Config) { c.IdentityProvider.OIDC.Scopes = []string{"profile"} }, `"openid"`},
		{"no callback", func(c *connector.Config) { c.CallbackURL = "" }, "callback URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := connector.Config{
				IdentityProvider: &gatehouse.IdentityProvider{
					Type: gatehouse.IdentityProviderOIDC,
					OIDC: &gatehouse.OIDCSettings{Issuer: "https://idp.example", ClientID: "c", Scopes: []string{"openid"}},
				},
				CallbackURL: testCallback,
			}
			tt.edit(&cfg)
			c, err := Kind.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", c, err, tt.want)
			}
			t.Logf("%v", err)
		})
	}

	t.Run("default scopes", func(t *testing.T) {
		op := newOP(t, opConfig{})
		c := newConnector(t, op.issuer, func(cfg *connector.Config) { cfg.IdentityProvider.OIDC.Scopes = nil })
		start, err := c.Begin(context.Background(), connector.Request{State: "s"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(start.URL)
		if got := u.Query().Get("scope"); got != "openid profile email" {
			t.Errorf("scope = %q, want the defaults", got)
		}
	})
}

func TestSecret(t *testing.T) {
	tests := []struct {
		name      string
		given     string
		previous  []byte
		want      []byte
		wantError bool
	}{
		{name: "new secret", given: "fresh", previous: []byte("old"), want: []byte("fresh")},
		{name: "edit keeps the previous secret", given: "", previous: []byte("old"), want: []byte("old")},
		{name: "created without a secret", given: "", previous: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := &gatehouse.IdentityProvider{Type: gatehouse.IdentityProviderOIDC, OIDC: &gatehouse.OIDCSettings{ClientSecret: tt.given}}
			got, err := Kind.Secret(idp, tt.previous)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Secret = %q, want %q", got, tt.want)
			}
			if idp.OIDC.ClientSecret != "" {
				t.Errorf("ClientSecret left as %q; it is write-only", idp.OIDC.ClientSecret)
			}
		})
	}
	t.Run("not OIDC", func(t *testing.T) {
		_, err := Kind.Secret(&gatehouse.IdentityProvider{Type: gatehouse.IdentityProviderSAML}, nil)
		if err == nil || !strings.Contains(err.Error(), "not an OIDC identity provider") {
			t.Fatalf("Secret = %v, want an error", err)
		}
	})
}

func TestLogoutURL(t *testing.T) {
	tests := []struct {
		name      string
		endpoint  func(issuer string) any // nil: the OP's default
		returnTo  string
		wantQuery url.Values
		wantErr   error
	}{{
		name:      "with return",
		returnTo:  "https://gatehouse.example/env1/signed-out",
		wantQuery: url.Values{"id_token_hint": {"ID.TOKEN.HINT"}, "client_id": {testClientID}, "post_logout_redirect_uri": {"https://gatehouse.example/env1/signed-out"}},
	}, {
		name:      "without return",
		wantQuery: url.Values{"id_token_hint": {"ID.TOKEN.HINT"}, "client_id": {testClientID}},
	}, {
		name:      "endpoint with its own query",
		endpoint:  func(issuer string) any { return issuer + "/logout?tenant=corp" },
		wantQuery: url.Values{"tenant": {"corp"}, "id_token_hint": {"ID.TOKEN.HINT"}, "client_id": {testClientID}},
	}, {
		name:     "no end_session_endpoint",
		endpoint: func(string) any { return nil },
		wantErr:  ErrNoEndSession,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newOP(t, opConfig{discovery: func(d map[string]any) {
				if tt.endpoint != nil {
					d["end_session_endpoint"] = tt.endpoint(d["issuer"].(string))
				}
			}})
			c := newConnector(t, op.issuer, nil).(connector.Logouter)
			got, err := c.LogoutURL(context.Background(), "ID.TOKEN.HINT", tt.returnTo)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("LogoutURL = %q, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(got)
			if base := u.Scheme + "://" + u.Host + u.Path; base != op.issuer+"/logout" {
				t.Errorf("LogoutURL goes to %s, want the end_session_endpoint", base)
			}
			if !reflect.DeepEqual(u.Query(), tt.wantQuery) {
				t.Errorf("query = %v, want %v", u.Query(), tt.wantQuery)
			}
		})
	}
}

func TestTest(t *testing.T) {
	tests := []struct {
		name   string
		op     opConfig
		issuer string
		want   string // "" passes
	}{{
		name: "reachable and configured",
	}, {
		name:   "unreachable",
		issuer: "http://127.0.0.1:1",
		want:   "fetching the discovery document of http://127.0.0.1:1",
	}, {
		name: "key set not JSON",
		op: opConfig{jwks: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>maintenance</html>"))
		}},
		want: "not a JSON Web Key Set",
	}, {
		name: "key set unavailable",
		op: opConfig{jwks: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "gone", http.StatusInternalServerError)
		}},
		want: "HTTP 500: gone",
	}, {
		name: "key set empty",
		op: opConfig{jwks: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
		}},
		want: "holds no public key",
	}, {
		name: "key set with only a symmetric key",
		op: opConfig{jwks: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]string{"kty": "oct", "k": "c2VjcmV0"}}})
		}},
		want: "holds no public key",
	}, {
		name: "key set oversize",
		op: opConfig{jwks: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[],"x":"` + strings.Repeat("a", maxBody) + `"}`))
		}},
		want: "larger than 512 KiB",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := tt.issuer
			if issuer == "" {
				issuer = newOP(t, tt.op).issuer
			}
			c := newConnector(t, issuer, nil).(connector.Tester)
			err := c.Test(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Test = %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Test = %v, want an error containing %q", err, tt.want)
			}
			t.Logf("%v", err)
		})
	}
}

func TestCappedBody(t *testing.T) {
	tests := []struct {
		size    int
		wantErr error
	}{{maxBody - 1, nil}, {maxBody, nil}, {maxBody + 1, errBodyTooLarge}}
	for _, tt := range tests {
		b := &cappedBody{ReadCloser: readCloser{strings.NewReader(strings.Repeat("a", tt.size))}, left: maxBody}
		var n int
		var err error
		buf := make([]byte, 7000)
		for err == nil {
			var k int
			k, err = b.Read(buf)
			n += k
		}
		if tt.wantErr == nil && (err.Error() != "EOF" || n != tt.size) {
			t.Errorf("size %d: read %d, %v; want all of it", tt.size, n, err)
		}
		if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("size %d: %v, want %v", tt.size, err, tt.wantErr)
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func TestAllRequestsUseTheConfiguredClient(t *testing.T) {
	op := newOP(t, opConfig{claims: func(c map[string]any) { delete(c, "email") }})
	rt := &recordingTransport{}
	id, err := signIn(t, op, func(cfg *connector.Config) { cfg.HTTPClient = &http.Client{Transport: rt} })
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "alice@corp.example" {
		t.Fatalf("email %q, want the one from userinfo", id.Email)
	}
	want := []string{"GET /.well-known/openid-configuration", "POST /token", "GET /jwks", "GET /userinfo"}
	if got := rt.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests through the configured client = %q, want %q", got, want)
	}
}

// recordingTransport records the requests it carries.
type recordingTransport struct {
	mu   sync.Mutex
	seen []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.seen = append(rt.seen, r.Method+" "+r.URL.Path)
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *recordingTransport) requests() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.seen)
}
