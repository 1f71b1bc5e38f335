package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func signJWT(t *testing.T, alg string, signer crypto.Signer, kid string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg),
		Key:       jose.JSONWebKey{Key: signer, KeyID: kid},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{Subject: "user-1", Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRoundTrip(t *testing.T) {
	tests := []struct{ alg, want, kty string }{
		{"", ES256, "EC"},
		{ES256, ES256, "EC"},
		{EdDSA, EdDSA, "OKP"},
		{RS256, RS256, "RSA"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.alg, func(t *testing.T) {
			kid, der, pub, err := Generate(tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := ParsePrivate(der)
			if err != nil {
				t.Fatal(err)
			}
			_, _, otherPub, err := Generate(tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			set, err := JWKS([][]byte{otherPub, pub})
			if err != nil {
				t.Fatal(err)
			}

			// The published JWK carries kid, alg and use, and kid is its thumbprint.
			var members map[string]any
			if err := json.Unmarshal(pub, &members); err != nil {
				t.Fatal(err)
			}
			if members["kid"] != kid || members["alg"] != tt.want || members["use"] != "sig" || members["kty"] != tt.kty {
				t.Fatalf("public JWK = %s; want kid %q, alg %q, use sig, kty %s", pub, kid, tt.want, tt.kty)
			}
			var jwks jose.JSONWebKeySet
			if err := json.Unmarshal(set, &jwks); err != nil {
				t.Fatal(err)
			}
			found := jwks.Key(kid)
			if len(jwks.Keys) != 2 || jwks.Keys[1].KeyID != kid || len(found) != 1 {
				t.Fatalf("JWKS = %s; want 2 keys with %q second", set, kid)
			}
			thumb, err := found[0].Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.RawURLEncoding.EncodeToString(thumb); got != kid {
				t.Fatalf("kid = %q, thumbprint = %q", kid, got)
			}

			// A token signed with the private key verifies with the published key only.
			tok, err := jwt.ParseSigned(signJWT(t, tt.want, signer, kid), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tt.want)})
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Headers[0].KeyID; got != kid {
				t.Fatalf("token kid = %q, want %q", got, kid)
			}
			var claims jwt.Claims
			if err := tok.Claims(found[0], &claims); err != nil || claims.Subject != "user-1" {
				t.Fatalf("verifying with the published key: subject %q, err %v", claims.Subject, err)
			}
			if err := tok.Claims(jwks.Keys[0], &claims); err == nil {
				t.Fatal("token verified with another key")
			}
		})
	}
}

func TestJWKSHasNoPrivateMembers(t *testing.T) {
	var pubs [][]byte
	for _, alg := range []string{ES256, EdDSA, RS256} {
		_, _, pub, err := Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	set, err := JWKS(pubs)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []map[string]any }
	if err := json.Unmarshal(set, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3", len(doc.Keys))
	}
	for i, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %d has private member %q", i, private)
			}
		}
		if k["alg"] != []string{ES256, EdDSA, RS256}[i] {
			t.Errorf("key %d has alg %v; order not preserved", i, k["alg"])
		}
	}
	if empty, err := JWKS(nil); err != nil || string(empty) != `{"keys":[]}` {
		t.Errorf("JWKS(nil) = %s, %v; want {\"keys\":[]}", empty, err)
	}
}

func TestJWKSRejects(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privJWK, err := jose.JSONWebKey{Key: priv, KeyID: "k", Algorithm: ES256, Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	symJWK, err := jose.JSONWebKey{Key: []byte("0123456789abcdef"), KeyID: "s"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"private": privJWK, "symmetric": symJWK, "not JSON": []byte("{")} {
		if _, err := JWKS([][]byte{doc}); err == nil {
			t.Errorf("JWKS accepted a %s JWK", name)
		}
	}
}

func TestErrors(t *testing.T) {
	_, _, _, err := Generate("HS256")
	if err == nil || !strings.Contains(err.Error(), `"HS256"`) || !strings.Contains(err.Error(), "ES256, EdDSA, RS256") {
		t.Fatalf("Generate(HS256): err = %v; want it to name HS256 and the supported algorithms", err)
	}
	if _, err := ParsePrivate([]byte("not DER")); err == nil {
		t.Fatal("ParsePrivate accepted garbage")
	}
}

func BenchmarkGenerateES256(b *testing.B) {
	for b.Loop() {
		if _, _, _, err := Generate(ES256); err != nil {
			b.Fatal(err)
		}
	}
}
