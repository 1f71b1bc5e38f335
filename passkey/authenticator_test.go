package passkey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// This file is a software authenticator and browser in one: it reads the
// options BeginRegistration and BeginLogin produce, does what a CTAP2
// authenticator with "none" attestation does (WebAuthn §6), and answers
// with the JSON a browser's PublicKeyCredential.toJSON() gives, so the tests
// drive real ceremonies through go-webauthn.

var b64 = base64.RawURLEncoding

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// errInvalidState is what the browser raises when the authenticator already
// holds one of excludeCredentials.
var errInvalidState = errors.New("InvalidStateError: the authenticator already holds an excluded credential")

// softCredential is one key pair the authenticator holds.
type softCredential struct {
	id         []byte
	key        *ecdsa.PrivateKey
	rpID       string
	userHandle []byte
	counter    uint32
}

// softAuthenticator is an ES256 authenticator plus the client around it.
type softAuthenticator struct {
	// origin is what the "browser" puts in clientDataJSON.
	origin string
	// rpID overrides the RP ID whose hash goes into authenticatorData;
	// empty means the one the options name, as a real browser does.
	rpID string
	// uv sets the UV flag (the user gave a PIN or a fingerprint).
	uv bool
	// synced sets BE and BS, as a synced passkey provider does.
	synced bool
	// frozenCounter keeps the signature counter at 0, as synced passkeys
	// do; otherwise it goes up by one per signature.
	frozenCounter bool
	// reregister answers a creation request with the credential it already
	// holds under that ID, ignoring excludeCredentials, as a broken or
	// hostile client might.
	reregister []byte
	aaguid     [16]byte
	creds      map[string]*softCredential
}

func newAuthenticator(origin string) *softAuthenticator {
	a := &softAuthenticator{origin: origin, uv: true, creds: map[string]*softCredential{}}
	copy(a.aaguid[:], []byte("gatehouse-test!!"))
	return a
}

// clone copies the authenticator with its keys and counters, as an attacker
// who extracted the keys would have it.
func (a *softAuthenticator) clone() *softAuthenticator {
	c := *a
	c.creds = maps.Clone(a.creds)
	for k, v := range c.creds {
		cp := *v
		c.creds[k] = &cp
	}
	return &c
}

type descriptorJSON struct {
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	Transports []string `json:"transports"`
}

type creationOptionsJSON struct {
	RP struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rp"`
	User struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	} `json:"user"`
	Challenge        string `json:"challenge"`
	PubKeyCredParams []struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	} `json:"pubKeyCredParams"`
	Timeout                int              `json:"timeout"`
	ExcludeCredentials     []descriptorJSON `json:"excludeCredentials"`
	AuthenticatorSelection struct {
		ResidentKey        string `json:"residentKey"`
		RequireResidentKey *bool  `json:"requireResidentKey"`
		UserVerification   string `json:"userVerification"`
	} `json:"authenticatorSelection"`
	Attestation string `json:"attestation"`
}

type requestOptionsJSON struct {
	Challenge        string           `json:"challenge"`
	Timeout          int              `json:"timeout"`
	RPID             string           `json:"rpId"`
	AllowCredentials []descriptorJSON `json:"allowCredentials"`
	UserVerification string           `json:"userVerification"`
}

func (a *softAuthenticator) clientData(t *testing.T, typ, challenge string) []byte {
	t.Helper()
	cd, err := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, a.origin, false})
	if err != nil {
		t.Fatal(err)
	}
	return cd
}

func (a *softAuthenticator) flags() byte {
	f := byte(flagUP)
	if a.uv {
		f |= flagUV
	}
	if a.synced {
		f |= flagBE | flagBS
	}
	return f
}

func (a *softAuthenticator) nextCount(c *softCredential) uint32 {
	if !a.frozenCounter {
		c.counter++
	}
	return c.counter
}

// create answers navigator.credentials.create with options as
// BeginRegistration made them.
func (a *softAuthenticator) create(t *testing.T, options []byte) ([]byte, error) {
	t.Helper()
	var o creationOptionsJSON
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("creation options: %v", err)
	}
	rpID := o.RP.ID
	if a.rpID != "" {
		rpID = a.rpID
	}
	userHandle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		t.Fatalf("user.id is not base64url: %v", err)
	}
	var c *softCredential
	if a.reregister != nil {
		c = a.creds[b64.EncodeToString(a.reregister)]
	} else {
		for _, d := range o.ExcludeCredentials {
			if _, ok := a.creds[d.ID]; ok {
				return nil, errInvalidState
			}
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c = &softCredential{id: make([]byte, 32), key: key, rpID: rpID, userHandle: userHandle}
		rand.Read(c.id)
		a.creds[b64.EncodeToString(c.id)] = c
	}
	id, key := c.id, c.key

	// COSE_Key for EC2 P-256 / ES256 (RFC 9053 §7.1), CTAP2-canonical.
	point, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := point.Bytes() // 0x04 || x || y
	enc, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	coseKey, err := enc.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		t.Fatal(err)
	}

	// authenticatorData with attestedCredentialData (WebAuthn §6.1, §6.5.1).
	rpIDHash := sha256.Sum256([]byte(rpID))
	var authData bytes.Buffer
	authData.Write(rpIDHash[:])
	authData.WriteByte(a.flags() | flagAT)
	binary.Write(&authData, binary.BigEndian, c.counter)
	authData.Write(a.aaguid[:])
	binary.Write(&authData, binary.BigEndian, uint16(len(id)))
	authData.Write(id)
	authData.Write(coseKey)

	attObj, err := enc.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, map[string]any{
		"id":                      b64.EncodeToString(id),
		"rawId":                   b64.EncodeToString(id),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":     b64.EncodeToString(a.clientData(t, "webauthn.create", o.Challenge)),
			"attestationObject":  b64.EncodeToString(attObj),
			"authenticatorData":  b64.EncodeToString(authData.Bytes()),
			"publicKey":          b64.EncodeToString(spki),
			"publicKeyAlgorithm": -7,
			"transports":         []string{"hybrid", "internal"},
		},
	}), nil
}

// assertion is the parts of a navigator.credentials.get answer, kept apart
// so tests can tamper with one before encoding.
type assertion struct {
	credentialID   []byte
	clientDataJSON []byte
	authData       []byte
	signature      []byte
	userHandle     []byte
}

func (s assertion) json(t *testing.T) []byte {
	t.Helper()
	return marshal(t, map[string]any{
		"id":                      b64.EncodeToString(s.credentialID),
		"rawId":                   b64.EncodeToString(s.credentialID),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(s.clientDataJSON),
			"authenticatorData": b64.EncodeToString(s.authData),
			"signature":         b64.EncodeToString(s.signature),
			"userHandle":        b64.EncodeToString(s.userHandle),
		},
	})
}

// get answers navigator.credentials.get with options as BeginLogin made
// them, using the first allowed credential it holds.
func (a *softAuthenticator) get(t *testing.T, options []byte) assertion {
	t.Helper()
	var o requestOptionsJSON
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("request options: %v", err)
	}
	for _, d := range o.AllowCredentials {
		if c, ok := a.creds[d.ID]; ok {
			return a.sign(t, c, o)
		}
	}
	t.Fatal("NotAllowedError: the authenticator holds none of allowCredentials")
	return assertion{}
}

// getWith signs with a given credential whatever allowCredentials says, as a
// hostile client could.
func (a *softAuthenticator) getWith(t *testing.T, options []byte, credentialID []byte) assertion {
	t.Helper()
	var o requestOptionsJSON
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("request options: %v", err)
	}
	c, ok := a.creds[b64.EncodeToString(credentialID)]
	if !ok {
		t.Fatal("the authenticator does not hold that credential")
	}
	return a.sign(t, c, o)
}

func (a *softAuthenticator) sign(t *testing.T, c *softCredential, o requestOptionsJSON) assertion {
	t.Helper()
	rpID := o.RPID
	if a.rpID != "" {
		rpID = a.rpID
	}
	rpIDHash := sha256.Sum256([]byte(rpID))
	var authData bytes.Buffer
	authData.Write(rpIDHash[:])
	authData.WriteByte(a.flags())
	binary.Write(&authData, binary.BigEndian, a.nextCount(c))
	cd := a.clientData(t, "webauthn.get", o.Challenge)
	s := assertion{credentialID: c.id, clientDataJSON: cd, authData: authData.Bytes(), userHandle: c.userHandle}
	s.signature = signAssertion(t, c.key, s.authData, cd)
	return s
}

// signAssertion signs authenticatorData || SHA-256(clientDataJSON), the
// assertion signature of WebAuthn §6.3.3.
func signAssertion(t *testing.T, key *ecdsa.PrivateKey, authData, clientDataJSON []byte) []byte {
	t.Helper()
	cdHash := sha256.Sum256(clientDataJSON)
	digest := sha256.Sum256(append(bytes.Clone(authData), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
