package gatehouse

import "time"

// Signing key states. A key is published in the JWKS as NEXT before it signs,
// signs while CURRENT, and keeps verifying as PREVIOUS until its tokens expire.
const (
	KeyNext     = "NEXT"
	KeyCurrent  = "CURRENT"
	KeyPrevious = "PREVIOUS"
)

// SigningKey is one of an environment's token signing keys. Its private half
// is a Secret named by SecretName, encrypted at rest.
type SigningKey struct {
	EnvironmentID string
	KID           string
	Algorithm     string
	State         string
	PublicJWK     []byte
	SecretName    string
	CreatedOn     time.Time
	// StateChangedOn is when the key took its present state.
	StateChangedOn time.Time
}

// Secret is a value encrypted under the key-encryption key. Name is unique
// per environment; the ciphertext is bound to (environment, name).
type Secret struct {
	EnvironmentID string
	Name          string
	Ciphertext    []byte
}
