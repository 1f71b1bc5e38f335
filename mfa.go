package gatehouse

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Second-factor methods (DESIGN.md §2 "MFA policies").
const (
	MethodTOTP         = "TOTP"
	MethodEmail        = "EMAIL"
	MethodWebAuthn     = "WEBAUTHN"
	MethodRecoveryCode = "RECOVERY_CODE"
)

// AllMFAMethods are the methods Gatehouse offers, in the order sign-in
// pages list them.
var AllMFAMethods = []string{MethodWebAuthn, MethodTOTP, MethodEmail, MethodRecoveryCode}

// What happens to a user who must use MFA and has nothing enrolled.
const (
	NotEnrolledEnrol  = "ENROL"
	NotEnrolledBypass = "BYPASS"
	NotEnrolledBlock  = "BLOCK"
)

// MFAPolicy is an environment's multi-factor policy.
type MFAPolicy struct {
	// Enabled asks every local user (and the users of IdPs that require
	// it) for a second factor; applications with MFARequired ask anyway.
	Enabled         bool     `json:"enabled"`
	AllowedMethods  []string `json:"allowedMethods"`
	WhenNotEnrolled string   `json:"whenNotEnrolled"`
	// FailureLimit wrong codes in a row block the user's second factor
	// for BlockSeconds.
	FailureLimit int `json:"failureLimit"`
	BlockSeconds int `json:"blockSeconds"`
	// UserVerification is what WebAuthn asks of the authenticator:
	// "required" (a PIN or biometric on the key), "preferred" or
	// "discouraged".
	UserVerification string `json:"userVerification"`
}

// DefaultMFAPolicy is a new environment's: off, every method allowed,
// enrolment at the next sign-in once it is turned on.
func DefaultMFAPolicy() MFAPolicy {
	return MFAPolicy{AllowedMethods: slices.Clone(AllMFAMethods), WhenNotEnrolled: NotEnrolledEnrol, FailureLimit: 5, BlockSeconds: 900,
		UserVerification: "preferred"}
}

// Validate checks the policy and puts its methods in their usual order.
func (p *MFAPolicy) Validate() error {
	seen := map[string]bool{}
	for _, m := range p.AllowedMethods {
		if !slices.Contains(AllMFAMethods, m) {
			return Errorf(EINVALID, "allowedMethods: %q is not one of %s", truncate(m, 40), strings.Join(AllMFAMethods, ", "))
		}
		seen[m] = true
	}
	p.AllowedMethods = slices.DeleteFunc(slices.Clone(AllMFAMethods), func(m string) bool { return !seen[m] })
	switch {
	case p.Enabled && len(p.AllowedMethods) == 0:
		return Errorf(EINVALID, "allowedMethods must name at least one method when MFA is enabled")
	case p.Enabled && len(p.AllowedMethods) == 1 && p.AllowedMethods[0] == MethodRecoveryCode:
		return Errorf(EINVALID, "recovery codes back up another method: allow at least one of TOTP, EMAIL or WEBAUTHN")
	case p.WhenNotEnrolled != NotEnrolledEnrol && p.WhenNotEnrolled != NotEnrolledBypass && p.WhenNotEnrolled != NotEnrolledBlock:
		return Errorf(EINVALID, `whenNotEnrolled must be "ENROL", "BYPASS" or "BLOCK"`)
	case p.FailureLimit < 1 || p.FailureLimit > 100:
		return Errorf(EINVALID, "failureLimit must be between 1 and 100")
	case p.BlockSeconds < 1 || p.BlockSeconds > 86400*30:
		return Errorf(EINVALID, "blockSeconds must be between 1 and 2592000 (30 days)")
	case p.UserVerification != "required" && p.UserVerification != "preferred" && p.UserVerification != "discouraged":
		return Errorf(EINVALID, `userVerification must be "required", "preferred" or "discouraged"`)
	}
	return nil
}

// Allows reports whether the policy allows a method.
func (p *MFAPolicy) Allows(method string) bool { return slices.Contains(p.AllowedMethods, method) }

// SignOnPolicy is when a session stops answering without a new sign-in.
type SignOnPolicy struct {
	// ReauthenticateAfterHours makes a session older than this sign in
	// again (password, IdP and second factor); 0 means only the session's
	// own lifetime applies.
	ReauthenticateAfterHours int `json:"reauthenticateAfterHours"`
	// SessionHours is how long a single sign-on session lasts; 0 means the
	// default, DefaultSessionHours.
	SessionHours int `json:"sessionHours"`
}

// DefaultSessionHours is a session's lifetime when the policy sets none.
const DefaultSessionHours = 12

// Validate checks the policy.
func (p *SignOnPolicy) Validate() error {
	switch {
	case p.ReauthenticateAfterHours < 0 || p.ReauthenticateAfterHours > 24*365:
		return Errorf(EINVALID, "reauthenticateAfterHours must be between 0 and 8760")
	case p.SessionHours < 0 || p.SessionHours > 24*30:
		return Errorf(EINVALID, "sessionHours must be between 0 (the default, %d) and 720 (30 days)", DefaultSessionHours)
	}
	return nil
}

// SessionLifetime is how long a new session lasts.
func (p *SignOnPolicy) SessionLifetime() time.Duration {
	if p.SessionHours <= 0 {
		return DefaultSessionHours * time.Hour
	}
	return time.Duration(p.SessionHours) * time.Hour
}

// MFADevice is one enrolled second factor of a user: an authenticator app
// (TOTP), a security key or passkey (WEBAUTHN), or the user's email
// (EMAIL). Recovery codes are kept apart.
type MFADevice struct {
	EnvironmentID string     `json:"environmentId"`
	ID            string     `json:"id"`
	UserID        string     `json:"userId"`
	Type          string     `json:"type"`
	Name          string     `json:"name"`
	CreatedOn     time.Time  `json:"createdOn"`
	LastUsedOn    *time.Time `json:"lastUsedOn,omitempty"`
	// Confirmed is false until the user proves the device works once;
	// unconfirmed devices never satisfy a sign-in.
	Confirmed bool `json:"confirmed"`
	// Secret is the TOTP key, encrypted under the key-encryption key.
	Secret []byte `json:"-"`
	// Credential is a WebAuthn credential (id, public key, flags), as JSON.
	Credential []byte `json:"-"`
	// CredentialID is the WebAuthn credential id, for lookups.
	CredentialID []byte `json:"-"`
	// Counter is the last TOTP time step used (so no code works twice) or
	// the WebAuthn signature counter (so a cloned key shows).
	Counter int64 `json:"-"`
}

// MaxMFADeviceName bounds a device's name.
const MaxMFADeviceName = 100

// ValidateDeviceName checks a name a user gave a device.
func ValidateDeviceName(name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > MaxMFADeviceName || hasControl(name) || !utf8.ValidString(name) {
		return Errorf(EINVALID, "a device name is 1 to %d printable characters", MaxMFADeviceName)
	}
	return nil
}

// One-time code purposes.
const (
	CodeEmailMFA      = "EMAIL_MFA"
	CodePasswordReset = "PASSWORD_RESET"
	CodeEmailEnrol    = "EMAIL_ENROL"
	// CodeResetThrottle marks a reset email sent in the last minute.
	CodeResetThrottle = "RESET_THROTTLE"
)

// OneTimeCode is a short-lived code sent to a user: a second factor by
// email, or a password reset. Hash is the keyed hash of the code.
type OneTimeCode struct {
	EnvironmentID string
	UserID        string
	Purpose       string
	Hash          []byte
	Attempts      int
	CreatedOn     time.Time
	ExpiresAt     time.Time
}

// MFARepository stores second factors, recovery codes, one-time codes and
// the environment's MFA and sign-on policies.
type MFARepository interface {
	PutMFAPolicy(ctx context.Context, envID string, p *MFAPolicy) error
	// GetMFAPolicy answers the default policy for an environment that set
	// none.
	GetMFAPolicy(ctx context.Context, envID string) (*MFAPolicy, error)
	PutSignOnPolicy(ctx context.Context, envID string, p *SignOnPolicy) error
	GetSignOnPolicy(ctx context.Context, envID string) (*SignOnPolicy, error)

	CreateMFADevice(ctx context.Context, d *MFADevice) error
	GetMFADevice(ctx context.Context, envID, id string) (*MFADevice, error)
	// ListMFADevices lists a user's devices, oldest first.
	ListMFADevices(ctx context.Context, envID, userID string) ([]*MFADevice, error)
	UpdateMFADevice(ctx context.Context, d *MFADevice) error
	// UseMFADeviceCounter moves a device's counter forward to counter and
	// records its use, atomically, only if counter is greater than the
	// stored one; ECONFLICT otherwise (a TOTP step or a WebAuthn signature
	// count seen before).
	UseMFADeviceCounter(ctx context.Context, envID, id string, counter int64, at time.Time) error
	DeleteMFADevice(ctx context.Context, envID, id string) error

	// ReplaceRecoveryCodes drops a user's recovery codes and stores new
	// ones (their hashes).
	ReplaceRecoveryCodes(ctx context.Context, envID, userID string, hashes [][]byte, at time.Time) error
	// UseRecoveryCode marks an unused code used; ENOTFOUND if it is not an
	// unused code of the user.
	UseRecoveryCode(ctx context.Context, envID, userID string, hash []byte, at time.Time) error
	// CountRecoveryCodes counts a user's unused codes.
	CountRecoveryCodes(ctx context.Context, envID, userID string) (int, error)

	// PutOneTimeCode stores a code, replacing the user's code of the same
	// purpose.
	PutOneTimeCode(ctx context.Context, c *OneTimeCode) error
	// UseOneTimeCode deletes and returns the user's code of purpose if hash
	// matches and it is live; otherwise it counts an attempt (deleting the
	// code after maxAttempts) and answers ENOTFOUND.
	UseOneTimeCode(ctx context.Context, envID, userID, purpose string, hash []byte, maxAttempts int, at time.Time) error
	DeleteOneTimeCodes(ctx context.Context, envID, userID string) error

	// RegisterMFAFailure counts a wrong second factor and blocks the user's
	// MFA until blockUntil when the count reaches limit; it returns the
	// count.
	RegisterMFAFailure(ctx context.Context, envID, userID string, limit int, blockUntil time.Time) (int, error)
	// ResetMFAFailures clears the count and any block.
	ResetMFAFailures(ctx context.Context, envID, userID string) error
	// SetMFABypass lets the user sign in without a second factor until
	// the time given (nil ends the bypass).
	SetMFABypass(ctx context.Context, envID, userID string, until *time.Time) error
	// GetMFAState answers a zero state for a user with none.
	GetMFAState(ctx context.Context, envID, userID string) (*MFAState, error)
}

// MFAState is a user's second-factor counters: failures in a row, a block
// after too many, and a bypass an administrator granted.
type MFAState struct {
	Failures     int        `json:"failures"`
	BlockedUntil *time.Time `json:"blockedUntil,omitempty"`
	BypassUntil  *time.Time `json:"bypassUntil,omitempty"`
}
