package saml

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// spKeyBits is the size of the SP's RSA key: RSA because XML signature
// support for other keys is patchy among IdPs, 2048 bits because that is
// what they all accept.
const spKeyBits = 2048

// spCertYears is how long the SP certificate is valid. IdPs pin it, and a
// rotation needs the IdP's administrator, so it is long-lived.
const spCertYears = 10

// spKey is the SP's signing key and its self-signed certificate.
type spKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// generateSPKey makes a key pair and returns it PEM-encoded: the PKCS #8
// private key, then the certificate.
func generateSPKey(commonName string, now time.Time) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, spKeyBits)
	if err != nil {
		return nil, fmt.Errorf("saml: generating the SP key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("saml: generating the SP certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		// An hour back so that an IdP whose clock is behind ours does not
		// see a certificate that is not yet valid.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(spCertYears, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("saml: creating the SP certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("saml: encoding the SP key: %w", err)
	}
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}); err != nil {
		return nil, err
	}
	if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseSPKey reads what generateSPKey wrote and checks that the certificate
// is the key's.
func parseSPKey(secret []byte) (*spKey, error) {
	var k spKey
	for rest := secret; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY":
			parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("saml: the SP key: %w", err)
			}
			rsaKey, ok := parsed.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("saml: the SP key is not an RSA key")
			}
			k.key = rsaKey
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("saml: the SP certificate: %w", err)
			}
			k.cert = cert
		}
	}
	if k.key == nil || k.cert == nil {
		return nil, errors.New("saml: the secret does not hold the SP key and certificate")
	}
	if pub, ok := k.cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&k.key.PublicKey) {
		return nil, errors.New("saml: the SP certificate is not the SP key's")
	}
	return &k, nil
}
