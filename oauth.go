package gatehouse

import "time"

// Session is a user's single sign-on session in one environment. ID is the
// SHA-256 of the cookie's secret value, so that the store never holds a
// value that signs anyone in.
type Session struct {
	EnvironmentID string
	ID            string
	UserID        string
	AuthTime      time.Time
	AMR           []string
	ClientIP      string
	UserAgent     string
	// IdentityProviderID names the corporate IdP of a federated sign-in,
	// and UpstreamLogout what that IdP needs to end its own session.
	IdentityProviderID string
	UpstreamLogout     string
	CreatedOn          time.Time
	ExpiresAt          time.Time
}

// AuthorizationCode is a single-use code of the authorization code grant.
// Hash is the SHA-256 of the code.
type AuthorizationCode struct {
	EnvironmentID       string
	Hash                string
	ClientID            string
	UserID              string
	SessionID           string
	RedirectURI         string
	Scope               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	AuthTime            time.Time
	AMR                 []string
	ExpiresAt           time.Time
	// UsedOn is set when the code is exchanged; a second exchange finds it
	// set and revokes what the first one issued.
	UsedOn *time.Time
	// AccessJTI and AccessExpiresAt name the access token the first
	// exchange issued.
	AccessJTI       string
	AccessExpiresAt time.Time
}

// RefreshToken is one member of a rotation family: each use issues the next
// and marks this one used; using a used one revokes the whole family.
type RefreshToken struct {
	EnvironmentID string
	Hash          string
	FamilyID      string
	ClientID      string
	UserID        string
	SessionID     string
	Scope         string
	AuthTime      time.Time
	AMR           []string
	CreatedOn     time.Time
	ExpiresAt     time.Time
	UsedOn        *time.Time
	RevokedOn     *time.Time
}

// RevokedToken is an access token (by its jti) revoked before it expires.
type RevokedToken struct {
	EnvironmentID string
	JTI           string
	ExpiresAt     time.Time
}

// Sign-in steps: a login flow is a stored state machine that each page
// advances one step (DESIGN.md §4).
const (
	StepIdentifier     = "IDENTIFIER"
	StepPassword       = "PASSWORD"
	StepChangePassword = "CHANGE_PASSWORD"
	// StepUpstream waits for the browser to come back from a corporate IdP.
	StepUpstream = "UPSTREAM"
	// StepUpstreamDone holds the user a corporate IdP vouched for, until the
	// browser that started the sign-in comes to collect it.
	StepUpstreamDone = "UPSTREAM_DONE"
	// StepMFA asks for a second factor, StepMFAEnrol has the user enrol
	// one first, and StepRecoveryCodes waits for the user to confirm they
	// kept the recovery codes they were shown.
	StepMFA           = "MFA"
	StepMFAEnrol      = "MFA_ENROL"
	StepRecoveryCodes = "RECOVERY_CODES"
	StepDone          = "DONE"
	// StepAccountEnrol is not a sign-in: it holds a second factor that a
	// signed-in user adds on their account page, until they confirm it.
	StepAccountEnrol = "ACCOUNT_ENROL"
)

// AuthorizationRequest is what a client asked for at the authorization
// endpoint, validated.
type AuthorizationRequest struct {
	ClientID    string `json:"clientId"`
	RedirectURI string `json:"redirectUri"`
	// RedirectURIParam is redirect_uri as the client sent it: empty when it
	// left it out (allowed with one registered URI), and then the token
	// request leaves it out too (RFC 6749 §4.1.3).
	RedirectURIParam    string `json:"redirectUriParam"`
	Scope               string `json:"scope"`
	State               string `json:"state"`
	Nonce               string `json:"nonce"`
	CodeChallenge       string `json:"codeChallenge"`
	CodeChallengeMethod string `json:"codeChallengeMethod"`
	ResponseMode        string `json:"responseMode"`
	Prompt              string `json:"prompt"`
	MaxAge              *int   `json:"maxAge,omitempty"`
	LoginHint           string `json:"loginHint"`
}

// LoginFlow is one sign-in in progress. Binding is the SHA-256 of a secret
// held in the browser's cookie, so that only the browser that started the
// flow can advance it; the same secret's HMAC is the forms' CSRF token.
type LoginFlow struct {
	EnvironmentID string
	ID            string
	Binding       string
	Step          string
	Request       AuthorizationRequest
	Username      string
	UserID        string
	Failures      int
	// Upstream is the corporate IdP's part of a federated sign-in.
	Upstream *UpstreamLogin `json:",omitempty"`
	// MFA is the second factor's part, once the first one passed.
	MFA       *MFALogin `json:",omitempty"`
	CreatedOn time.Time
	ExpiresAt time.Time
}

// UpstreamLogin is the state of a sign-in at a corporate IdP: what to
// check when the browser comes back, then what the IdP said.
type UpstreamLogin struct {
	IdentityProviderID string `json:"idp"`
	// StateHash is the SHA-256 of the secret half of the state sent
	// upstream (OIDC state, SAML RelayState).
	StateHash string `json:"stateHash"`
	// Pending is the connector's own state (nonce, PKCE verifier, request
	// id), opaque to everything else.
	Pending string `json:"pending"`
	// Set once the IdP vouched for the user.
	AuthTime time.Time `json:"authTime,omitzero"`
	AMR      []string  `json:"amr,omitempty"`
	Logout   string    `json:"logout,omitempty"`
}

// MFALogin is the state of a sign-in's second factor.
type MFALogin struct {
	// AMR are the first factor's methods.
	AMR []string `json:"amr"`
	// Method is the second factor being asked for or enrolled.
	Method string `json:"method,omitempty"`
	// WebAuthnSession is the pending WebAuthn ceremony (its challenge).
	WebAuthnSession []byte `json:"webauthnSession,omitempty"`
	// EnrolDeviceID is the device being enrolled (a TOTP key not yet
	// confirmed).
	EnrolDeviceID string `json:"enrolDeviceId,omitempty"`
	// EmailSentAt is when the last email code went out.
	EmailSentAt time.Time `json:"emailSentAt,omitzero"`
	// Done holds the second factor's method once it passed, while the user
	// reads their new recovery codes.
	Done string `json:"done,omitempty"`
}
