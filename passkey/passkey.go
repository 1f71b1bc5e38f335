// Package passkey runs WebAuthn ceremonies (security keys and passkeys) for
// Gatehouse's second factor. It is a thin, typed adapter over
// github.com/go-webauthn/webauthn that knows nothing of HTTP or storage:
// callers pass users and their credentials in, and get JSON for the browser,
// opaque session blobs and credential records out.
//
// A ceremony is two calls. Begin returns the options the browser script
// hands to navigator.credentials and a session the caller keeps on the
// server (in the sign-in transaction, never in a cookie or a form). Finish
// takes that session and the JSON the browser posted back. The caller must
// use a session for one Finish attempt only and then discard it, whatever
// the outcome, so a captured response cannot be tried again.
//
// What this package cannot check and the caller must:
//   - a new credential's ID is not already registered to any user of the
//     environment (FinishRegistration only checks the user it is given);
//   - the sign count FinishLogin returns is stored, so the next login can
//     detect a cloned authenticator;
//   - ErrReplayed is a security event worth an audit record.
package passkey

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Required, Preferred and Discouraged are the values of the
// userVerification and residentKey settings, as the WebAuthn spec spells
// them; the empty string means Preferred for both.
const (
	Required    = "required"
	Preferred   = "preferred"
	Discouraged = "discouraged"
)

var (
	// ErrReplayed reports an assertion whose signature counter did not
	// increase although the stored counter is non-zero: either the
	// assertion was replayed or the authenticator's key was cloned. The
	// signature itself was valid, so the caller should audit it as an attack
	// rather than as a mistyped code.
	ErrReplayed = errors.New("passkey: signature counter did not increase (replayed assertion or cloned authenticator)")

	// ErrUnknownCredential reports an assertion made with a credential that
	// is not one of the user's.
	ErrUnknownCredential = errors.New("passkey: the credential is not registered to this user")
)

// RelyingParty runs ceremonies for one Gatehouse environment's public
// address. It is safe for concurrent use.
type RelyingParty struct {
	wa *webauthn.WebAuthn
}

// User is the account a ceremony is for.
type User struct {
	// ID is the WebAuthn user handle: 1 to 64 opaque bytes that never
	// change for the account and reveal nothing about it (no username or
	// email), because authenticators store it and show it to no one.
	ID []byte
	// Name is what the authenticator's account chooser shows, usually the
	// username.
	Name string
	// DisplayName is a friendlier label; Name is used when it is empty.
	DisplayName string
	// Credentials are the user's registered credentials.
	Credentials []Credential
}

// Credential is a registered WebAuthn credential as the caller stores it.
type Credential struct {
	// ID is the credential ID the authenticator chose (at most 1023 bytes).
	ID []byte
	// Data is the rest of the credential record as JSON: the COSE public
	// key, attestation type and format, flags, transports and AAGUID.
	// Callers store it as they got it and need not look inside; Details
	// decodes the parts worth showing.
	Data []byte
	// SignCount is the authenticator's signature counter as last seen. It
	// lives outside Data because it changes at every login.
	SignCount uint32
}

// Details is what a stored credential tells about its authenticator, for
// the account page and the admin console.
type Details struct {
	// AAGUID identifies the authenticator model (all zeros when the
	// authenticator does not say), as a UUID string.
	AAGUID string
	// Transports are how the browser reached the authenticator ("usb",
	// "nfc", "ble", "hybrid", "internal", ...).
	Transports []string
	// Attachment is "platform", "cross-platform" or empty when unknown.
	Attachment string
	// UserVerified is whether the user was verified (PIN, biometrics) when
	// the credential was registered.
	UserVerified bool
	// BackupEligible marks a credential that can be synced between devices
	// (a synced passkey) and BackedUp one that currently is.
	BackupEligible, BackedUp bool
}

// New returns the relying party for an environment. rpID is the host of
// Gatehouse's base URL (a domain name, not an IP address: browsers refuse
// those), displayName the name authenticators show, and origins the
// scheme://host[:port] values the browser reports, whose hosts must be rpID
// or its subdomains.
func New(rpID, displayName string, origins []string) (*RelyingParty, error) {
	rpID = strings.ToLower(strings.TrimSpace(rpID))
	if rpID == "" {
		return nil, errors.New("passkey: the relying party ID is empty")
	}
	if err := protocol.ValidateRPID(rpID); err != nil {
		return nil, fmt.Errorf("passkey: relying party ID %q: %w (it must be a domain name such as login.example.com; browsers refuse IP addresses)", rpID, err)
	}
	if strings.TrimSpace(displayName) == "" {
		displayName = rpID
	}
	if len(origins) == 0 {
		return nil, errors.New("passkey: at least one origin is required")
	}
	clean := make([]string, 0, len(origins))
	for _, o := range origins {
		c, err := checkOrigin(rpID, o)
		if err != nil {
			return nil, err
		}
		clean = append(clean, c)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: displayName,
		RPOrigins:     clean,
		// A session outlives the browser's own timeout by nothing: an
		// abandoned ceremony cannot be finished later with a stolen
		// session record.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true},
			Registration: webauthn.TimeoutConfig{Enforce: true},
		},
		// We request no extensions and act on none, so an output a
		// password manager or platform adds on its own (the spec allows
		// that) must not lock its user out.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RelyingParty{wa: wa}, nil
}

// checkOrigin returns origin as scheme://host[:port] after checking that a
// browser could run a ceremony for rpID there.
func checkOrigin(rpID, origin string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(origin), "/"))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("passkey: origin %q is not of the form scheme://host[:port]", origin)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("passkey: origin %q must be scheme://host[:port] only, without path, query or credentials", origin)
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		// Browsers offer WebAuthn only in secure contexts, and plain HTTP is
		// one only on localhost.
		if host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return "", fmt.Errorf("passkey: origin %q uses http: browsers allow WebAuthn only over https (or on http://localhost)", origin)
		}
	default:
		return "", fmt.Errorf("passkey: origin %q must use https", origin)
	}
	// The RP ID must be the origin's host or a registrable suffix of it, or
	// browsers refuse every ceremony.
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("passkey: origin %q is not on relying party ID %q or one of its subdomains", origin, rpID)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}

// credentialParameters are the algorithms we accept, in our order of
// preference. ES256 and RS256 are the two the spec asks every relying party
// to list (Windows Hello keys are RS256); EdDSA serves newer security keys.
var credentialParameters = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
}

// BeginRegistration starts adding a credential to u. userVerification and
// residentKey are "required", "preferred" or "discouraged" (empty means
// "preferred"; a preferred resident key lets platforms create a passkey).
// options is the PublicKeyCredentialCreationOptionsJSON for the browser
// script; session is opaque and stays on the server until
// FinishRegistration. The user's existing credentials are excluded, so an
// authenticator is not registered twice, and no attestation is asked for.
func (rp *RelyingParty) BeginRegistration(u User, userVerification, residentKey string) (options, session []byte, err error) {
	uv, err := requirement("user verification", userVerification)
	if err != nil {
		return nil, nil, err
	}
	rk, err := requirement("resident key", residentKey)
	if err != nil {
		return nil, nil, err
	}
	wu, err := adapt(u)
	if err != nil {
		return nil, nil, err
	}
	if u.Name == "" {
		return nil, nil, errors.New("passkey: the user has no name for the authenticator to show")
	}
	exclude := make([]protocol.CredentialDescriptor, len(wu.creds))
	for i := range wu.creds {
		exclude[i] = wu.creds[i].Descriptor()
	}
	creation, sd, err := rp.wa.BeginRegistration(wu,
		webauthn.WithCredentialParameters(credentialParameters),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.UserVerificationRequirement(uv)}),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirement(rk)),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: starting registration: %w", err)
	}
	return encode(ceremonyRegistration, creation.Response, sd)
}

// FinishRegistration checks the browser's answer to BeginRegistration's
// options (the PublicKeyCredential as JSON) against session and returns the
// new credential for the caller to store with u.
func (rp *RelyingParty) FinishRegistration(u User, session, response []byte) (Credential, error) {
	sd, err := decodeSession(ceremonyRegistration, session)
	if err != nil {
		return Credential{}, err
	}
	wu, err := adapt(u)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, refused("registration", err)
	}
	c, err := rp.wa.CreateCredential(wu, sd, parsed)
	if err != nil {
		return Credential{}, refused("registration", err)
	}
	// excludeCredentials is only a request to the browser; an authenticator
	// that ignores it would otherwise get a second record for one key.
	for _, have := range u.Credentials {
		if string(have.ID) == string(c.ID) {
			return Credential{}, fmt.Errorf("passkey: registration refused: credential %s is already registered to this user", shortID(c.ID))
		}
	}
	data, err := json.Marshal(newRecord(c))
	if err != nil {
		return Credential{}, fmt.Errorf("passkey: encoding credential: %w", err)
	}
	return Credential{ID: c.ID, Data: data, SignCount: c.Authenticator.SignCount}, nil
}

// BeginLogin starts proving u holds one of u.Credentials. userVerification
// is "required", "preferred" or "discouraged" (empty means "preferred");
// with "required" an assertion without the UV flag is refused. options is
// the PublicKeyCredentialRequestOptionsJSON for the browser script; session
// stays on the server until FinishLogin.
func (rp *RelyingParty) BeginLogin(u User, userVerification string) (options, session []byte, err error) {
	uv, err := requirement("user verification", userVerification)
	if err != nil {
		return nil, nil, err
	}
	wu, err := adapt(u)
	if err != nil {
		return nil, nil, err
	}
	if len(wu.creds) == 0 {
		return nil, nil, errors.New("passkey: the user has no registered credential to log in with")
	}
	assertion, sd, err := rp.wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.UserVerificationRequirement(uv)))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: starting login: %w", err)
	}
	return encode(ceremonyLogin, assertion.Response, sd)
}

// FinishLogin checks the browser's answer to BeginLogin's options against
// session and u's credentials. It refuses a wrong origin, RP ID or
// challenge, a credential that is not u's, a bad signature and a missing
// UV flag when verification was required. It returns the credential used
// and its new signature counter, which the caller stores. When the counter
// did not increase it returns ErrReplayed together with the credential ID
// and the stored counter, unchanged, so the caller can record which
// credential is suspect.
func (rp *RelyingParty) FinishLogin(u User, session, response []byte) (credentialID []byte, newSignCount uint32, err error) {
	sd, err := decodeSession(ceremonyLogin, session)
	if err != nil {
		return nil, 0, err
	}
	wu, err := adapt(u)
	if err != nil {
		return nil, 0, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, 0, refused("login", err)
	}
	c, err := rp.wa.ValidateLogin(wu, sd, parsed)
	if err != nil {
		if _, ok := errors.AsType[*protocol.ErrorUnknownCredential](err); ok {
			return nil, 0, fmt.Errorf("%w (credential %s)", ErrUnknownCredential, shortID(parsed.RawID))
		}
		return nil, 0, refused("login", err)
	}
	if c.Authenticator.CloneWarning {
		var stored uint32
		for _, have := range u.Credentials {
			if string(have.ID) == string(c.ID) {
				stored = have.SignCount
			}
		}
		return c.ID, stored, fmt.Errorf("%w: credential %s presented counter %d, stored counter is %d",
			ErrReplayed, shortID(c.ID), parsed.Response.AuthenticatorData.Counter, stored)
	}
	return c.ID, c.Authenticator.SignCount, nil
}

// Details decodes what c's stored record says about its authenticator.
func (c Credential) Details() (Details, error) {
	var r record
	if err := json.Unmarshal(c.Data, &r); err != nil {
		return Details{}, fmt.Errorf("passkey: credential %s: unreadable record: %w", shortID(c.ID), err)
	}
	return Details{
		AAGUID:         r.AAGUID,
		Transports:     r.Transports,
		Attachment:     r.Attachment,
		UserVerified:   r.UserVerified,
		BackupEligible: r.BackupEligible,
		BackedUp:       r.BackupState,
	}, nil
}

// requirement checks a "required"/"preferred"/"discouraged" setting.
func requirement(what, v string) (string, error) {
	switch v {
	case "":
		return Preferred, nil
	case Required, Preferred, Discouraged:
		return v, nil
	}
	return "", fmt.Errorf("passkey: %s %q must be %q, %q or %q", what, v, Required, Preferred, Discouraged)
}

// refused turns a go-webauthn error into one an operator can read: the
// library puts the short reason in Error() and the specifics (which origin,
// which flag) beside it.
func refused(ceremony string, err error) error {
	pe, ok := errors.AsType[*protocol.Error](err)
	if !ok || pe.DevInfo == "" || pe.DevInfo == pe.Details ||
		// The challenge mismatch's specifics are the challenges themselves,
		// which have no place in a log.
		pe.Details == "Error validating challenge" {
		return fmt.Errorf("passkey: %s refused: %w", ceremony, err)
	}
	info := strings.Join(strings.Fields(pe.DevInfo), " ")
	return fmt.Errorf("passkey: %s refused: %w (%s)", ceremony, err, info)
}

// shortID names a credential in messages by the start of its base64url ID,
// enough to find it in the console without filling the log line.
func shortID(id []byte) string {
	s := protocol.URLEncodedBase64(id).String()
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
