// Package signing makes and loads the per-environment key pairs that sign
// tokens, and publishes their public halves as a JWK Set.
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Supported algorithms; DefaultAlg is used when Generate is given "".
const (
	ES256      = "ES256"
	EdDSA      = "EdDSA"
	RS256      = "RS256"
	DefaultAlg = ES256
)

// Generate makes a new key pair for alg ("ES256" default, "EdDSA", "RS256"
// 2048-bit). kid is the RFC 7638 JWK thumbprint (SHA-256, base64url). private
// is PKCS#8 DER. publicJWK is the JSON of the public JWK with kid, alg and
// "use":"sig".
func Generate(alg string) (kid string, private []byte, publicJWK []byte, err error) {
	if alg == "" {
		alg = DefaultAlg
	}
	var priv crypto.Signer
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return "", nil, nil, fmt.Errorf("signing: unsupported algorithm %q (supported: %s, %s, %s)", alg, ES256, EdDSA, RS256)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("signing: generating %s key: %w", alg, err)
	}
	private, err = x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", nil, nil, fmt.Errorf("signing: encoding %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", nil, nil, fmt.Errorf("signing: thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	publicJWK, err = jwk.MarshalJSON()
	if err != nil {
		return "", nil, nil, fmt.Errorf("signing: encoding public JWK: %w", err)
	}
	return jwk.KeyID, private, publicJWK, nil
}

// ParsePrivate parses PKCS#8 DER into a crypto.Signer (*ecdsa.PrivateKey,
// ed25519.PrivateKey or *rsa.PrivateKey).
func ParsePrivate(der []byte) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing: parsing private key: %w", err)
	}
	switch key.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
		return key.(crypto.Signer), nil
	}
	return nil, fmt.Errorf("signing: private key of type %T cannot sign", key)
}

// JWKS returns the JSON of {"keys":[...]} from public JWK JSON documents, in
// the given order. It fails if a document is not a valid public key, so a
// private key can never be published.
func JWKS(publicJWKs [][]byte) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(publicJWKs))}
	for i, doc := range publicJWKs {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(doc); err != nil {
			return nil, fmt.Errorf("signing: JWK %d: %w", i+1, err)
		}
		if !k.IsPublic() || !k.Valid() {
			return nil, fmt.Errorf("signing: JWK %d is not a public key", i+1)
		}
		set.Keys = append(set.Keys, k)
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("signing: encoding JWKS: %w", err)
	}
	return out, nil
}
