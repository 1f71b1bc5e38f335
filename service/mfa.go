package service

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/otp"
	"github.com/gatehouse/gatehouse/passkey"
)

// Audit actions of second factors.
const (
	ActionMFAPolicyChanged     = "MFA_POLICY_CHANGED"
	ActionSignOnPolicyChanged  = "SIGN_ON_POLICY_CHANGED"
	ActionMFASucceeded         = "MFA_SUCCEEDED"
	ActionMFAFailed            = "MFA_FAILED"
	ActionMFABlocked           = "MFA_BLOCKED"
	ActionMFAEnrolled          = "MFA_DEVICE_ENROLLED"
	ActionMFADeviceRenamed     = "MFA_DEVICE_RENAMED"
	ActionMFADeviceRemoved     = "MFA_DEVICE_REMOVED"
	ActionMFABypassSet         = "MFA_BYPASS_SET"
	ActionRecoveryCodesCreated = "RECOVERY_CODES_CREATED"
)

// Lifetimes and limits of codes sent by email.
const (
	EmailCodeTTL      = 10 * time.Minute
	EmailCodeAttempts = 5
	// emailResendAfter keeps one sign-in from sending a code more than
	// twice a minute.
	emailResendAfter = 30 * time.Second
	// RecoveryCodeCount is how many recovery codes a user gets at a time.
	RecoveryCodeCount = 10
)

// Mailer sends email (codes, password resets). Without one, Gatehouse
// refuses to offer email codes rather than drop a message.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// MFAPolicy returns the environment's MFA policy.
func (s *Service) MFAPolicy(ctx context.Context, envID string) (*gatehouse.MFAPolicy, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.Store.GetMFAPolicy(ctx, envID)
}

// SetMFAPolicy replaces the environment's MFA policy.
func (s *Service) SetMFAPolicy(ctx context.Context, actor Actor, envID string, p gatehouse.MFAPolicy) (*gatehouse.MFAPolicy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Enabled && p.Allows(gatehouse.MethodEmail) && s.Mail == nil && len(p.AllowedMethods) == 1 {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "EMAIL codes need an SMTP server (the smtp-url setting), and none is configured")
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		if err := r.PutMFAPolicy(ctx, envID, &p); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionMFAPolicyChanged, TargetType: "ENVIRONMENT", TargetID: envID,
			Details: map[string]string{"enabled": boolText(p.Enabled), "allowedMethods": strings.Join(p.AllowedMethods, " "),
				"whenNotEnrolled": p.WhenNotEnrolled}})
	})
	return &p, err
}

// SignOnPolicy returns the environment's sign-on policy.
func (s *Service) SignOnPolicy(ctx context.Context, envID string) (*gatehouse.SignOnPolicy, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.Store.GetSignOnPolicy(ctx, envID)
}

// SetSignOnPolicy replaces the environment's sign-on policy.
func (s *Service) SetSignOnPolicy(ctx context.Context, actor Actor, envID string, p gatehouse.SignOnPolicy) (*gatehouse.SignOnPolicy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		if err := r.PutSignOnPolicy(ctx, envID, &p); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionSignOnPolicyChanged, TargetType: "ENVIRONMENT", TargetID: envID,
			Details: map[string]string{"reauthenticateAfterHours": itoa(p.ReauthenticateAfterHours), "sessionHours": itoa(p.SessionHours)}})
	})
	s.cache.signOn.forget(envID)
	return &p, err
}

// signOnPolicy is the sign-on policy every authorization with a session
// and every sign-in reads, cached like the other hot reads.
func (s *Service) signOnPolicy(ctx context.Context, envID string) (*gatehouse.SignOnPolicy, error) {
	return s.cache.signOn.get(envID, func() (*gatehouse.SignOnPolicy, error) { return s.Store.GetSignOnPolicy(ctx, envID) })
}

// secondFactorNeeded decides whether a sign-in that passed its first
// factor needs a second: never for API users; for corporate users only
// when their IdP asks for it too; for everyone when the environment's
// policy is on or the application requires it, unless an administrator
// granted a bypass that has not expired.
func (s *Service) secondFactorNeeded(ctx context.Context, f *gatehouse.LoginFlow, u *gatehouse.User) (bool, *gatehouse.MFAPolicy, error) {
	if u.Type == gatehouse.UserTypeAPI {
		return false, nil, nil
	}
	p, err := s.Store.GetMFAPolicy(ctx, f.EnvironmentID)
	if err != nil {
		return false, nil, err
	}
	need := p.Enabled
	if f.Request.ClientID != "" {
		if app, err := s.applicationByClientID(ctx, f.EnvironmentID, f.Request.ClientID); err == nil && app.MFARequired {
			need = true
		}
	}
	if need && u.Corporate() {
		idp, err := s.Store.GetIdentityProvider(ctx, f.EnvironmentID, u.IdentityProvider)
		need = err == nil && idp.MFARequired
	}
	if !need {
		return false, p, nil
	}
	st, err := s.Store.GetMFAState(ctx, f.EnvironmentID, u.ID)
	if err != nil {
		return false, nil, err
	}
	if st.BypassUntil != nil && s.now().Before(*st.BypassUntil) {
		return false, p, nil
	}
	return true, p, nil
}

// afterFirstFactor goes on from a password or an IdP: to the second
// factor when one is needed, else to the end of the sign-in.
func (s *Service) afterFirstFactor(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, u *gatehouse.User, amr []string) (*LoginResult, error) {
	need, p, err := s.secondFactorNeeded(ctx, f, u)
	if err != nil {
		return nil, err
	}
	if !need {
		return s.finishLogin(ctx, actor, f, u, amr)
	}
	f.UserID, f.MFA = u.ID, &gatehouse.MFALogin{AMR: amr}
	methods, err := s.enrolledMethods(ctx, f.EnvironmentID, u.ID, p)
	if err != nil {
		return nil, err
	}
	switch {
	case len(methods) > 0:
		f.Step = gatehouse.StepMFA
	case p.WhenNotEnrolled == gatehouse.NotEnrolledBypass:
		return s.finishLogin(ctx, actor, f, u, amr)
	case p.WhenNotEnrolled == gatehouse.NotEnrolledBlock:
		s.Store.DeleteLoginFlow(ctx, f.EnvironmentID, f.ID)
		s.recordMFA(ctx, f, actor, ActionMFAFailed, gatehouse.OutcomeFailure, "", "no second factor enrolled and the policy blocks")
		return nil, &Refusal{Message: "This account needs a second factor to sign in, and has none. Ask your administrator to set one up.",
			reason: "no second factor enrolled"}
	default:
		f.Step = gatehouse.StepMFAEnrol
	}
	return nil, s.Store.UpdateLoginFlow(ctx, f)
}

// enrolledMethods are the methods a user can use now: confirmed devices of
// allowed types, and recovery codes left when they are allowed.
func (s *Service) enrolledMethods(ctx context.Context, envID, userID string, p *gatehouse.MFAPolicy) ([]string, error) {
	devices, err := s.Store.ListMFADevices(ctx, envID, userID)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	webauthn := s.webAuthnAvailable(ctx, envID)
	for _, d := range devices {
		if s.deviceUsable(d, p, webauthn) {
			have[d.Type] = true
		}
	}
	if len(have) > 0 && p.Allows(gatehouse.MethodRecoveryCode) {
		if n, err := s.Store.CountRecoveryCodes(ctx, envID, userID); err != nil {
			return nil, err
		} else if n > 0 {
			have[gatehouse.MethodRecoveryCode] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(gatehouse.AllMFAMethods), func(m string) bool { return !have[m] }), nil
}

// deviceUsable reports whether a device can answer a sign-in now: it is
// confirmed, the policy allows its type, and the server can use it.
func (s *Service) deviceUsable(d *gatehouse.MFADevice, p *gatehouse.MFAPolicy, webauthn bool) bool {
	return d.Confirmed && p.Allows(d.Type) && (d.Type != gatehouse.MethodEmail || s.Mail != nil) && (d.Type != gatehouse.MethodWebAuthn || webauthn)
}

// webAuthnAvailable reports whether the environment can use WebAuthn:
// browsers need Gatehouse on a domain name (not an IP address), over https
// unless on localhost.
func (s *Service) webAuthnAvailable(ctx context.Context, envID string) bool {
	_, err := s.relyingParty(ctx, envID)
	return err == nil
}

// enrollableMethods are the methods a user may enrol at sign-in.
func (s *Service) enrollableMethods(ctx context.Context, u *gatehouse.User, p *gatehouse.MFAPolicy) []string {
	var out []string
	for _, m := range p.AllowedMethods {
		switch {
		case m == gatehouse.MethodRecoveryCode:
		case m == gatehouse.MethodWebAuthn && !s.webAuthnAvailable(ctx, u.EnvironmentID):
		case m == gatehouse.MethodEmail && (s.Mail == nil || u.PrimaryEmail == ""):
		default:
			out = append(out, m)
		}
	}
	return out
}

// MFAPrompt is what a second-factor page shows.
type MFAPrompt struct {
	// Methods the user may choose from, and the one asked for now.
	Methods []string
	Method  string
	// WebAuthnOptions are the options for navigator.credentials, as JSON.
	WebAuthnOptions []byte
	// TOTPKey and TOTPQR show a new authenticator-app key as text and as a
	// QR code (a PNG data URL).
	TOTPKey, TOTPQR string
	// EmailTo is the masked address an email code went to.
	EmailTo string
	// BlockedUntil is set while too many wrong codes block the user.
	BlockedUntil *time.Time
}

// PrepareMFA readies a second-factor page (StepMFA or StepMFAEnrol) for a
// method ("" for the first available): a WebAuthn challenge, a new TOTP
// key to enrol, or an email code.
func (s *Service) PrepareMFA(ctx context.Context, f *gatehouse.LoginFlow, method string) (*MFAPrompt, error) {
	if f.MFA == nil || (f.Step != gatehouse.StepMFA && f.Step != gatehouse.StepMFAEnrol) {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "this sign-in is not asking for a second factor")
	}
	u, p, err := s.flowUser(ctx, f)
	if err != nil {
		return nil, err
	}
	prompt := &MFAPrompt{}
	if st, err := s.Store.GetMFAState(ctx, f.EnvironmentID, u.ID); err != nil {
		return nil, err
	} else if st.BlockedUntil != nil && s.now().Before(*st.BlockedUntil) {
		prompt.BlockedUntil = st.BlockedUntil
		return prompt, nil
	}
	if f.Step == gatehouse.StepMFA {
		prompt.Methods, err = s.enrolledMethods(ctx, f.EnvironmentID, u.ID, p)
	} else {
		prompt.Methods = s.enrollableMethods(ctx, u, p)
	}
	if err != nil {
		return nil, err
	}
	if len(prompt.Methods) == 0 {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "no second factor is available for this account")
	}
	prompt.Method = prompt.Methods[0]
	if method != "" {
		if !slices.Contains(prompt.Methods, method) {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "that method is not available")
		}
		prompt.Method = method
	}
	f.MFA.Method = prompt.Method
	if err := s.prepareMethod(ctx, f.MFA, u, p, f.Step == gatehouse.StepMFAEnrol, prompt); err != nil {
		return nil, err
	}
	return prompt, s.Store.UpdateLoginFlow(ctx, f)
}

// prepareMethod readies the method of st for a page that checks it, or
// that enrols it (enrol): a WebAuthn challenge, a new TOTP key, or an
// email code. The sign-in and the account page both keep st in a stored
// flow, so that any node can take the next step.
func (s *Service) prepareMethod(ctx context.Context, st *gatehouse.MFALogin, u *gatehouse.User, p *gatehouse.MFAPolicy, enrol bool, prompt *MFAPrompt) error {
	switch {
	case st.Method == gatehouse.MethodWebAuthn:
		return s.prepareWebAuthn(ctx, st, u, p, enrol, prompt)
	case st.Method == gatehouse.MethodTOTP && enrol:
		return s.prepareTOTPEnrolment(ctx, st, u, prompt)
	case st.Method == gatehouse.MethodEmail:
		prompt.EmailTo = maskEmail(u.PrimaryEmail)
		if st.EmailSentAt.IsZero() {
			return s.sendEmailCode(ctx, st, u, enrol)
		}
	}
	return nil
}

// ResendEmailCode sends a new email code for the sign-in (or the account
// page's enrolment), at most twice a minute.
func (s *Service) ResendEmailCode(ctx context.Context, f *gatehouse.LoginFlow) error {
	if f.MFA == nil || f.MFA.Method != gatehouse.MethodEmail {
		return gatehouse.Errorf(gatehouse.EINVALID, "no email code was asked for")
	}
	if s.now().Sub(f.MFA.EmailSentAt) < emailResendAfter {
		return gatehouse.Errorf(gatehouse.ETOOMANY, "A code was sent a moment ago: wait half a minute before asking for another.")
	}
	u, _, err := s.flowUser(ctx, f)
	if err != nil {
		return err
	}
	if err := s.sendEmailCode(ctx, f.MFA, u, f.Step == gatehouse.StepMFAEnrol || f.Step == gatehouse.StepAccountEnrol); err != nil {
		return err
	}
	return s.Store.UpdateLoginFlow(ctx, f)
}

func (s *Service) flowUser(ctx context.Context, f *gatehouse.LoginFlow) (*gatehouse.User, *gatehouse.MFAPolicy, error) {
	u, err := s.Store.GetUser(ctx, f.EnvironmentID, f.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u.Status != gatehouse.UserActive {
		return nil, nil, &Refusal{Message: "Your account here is disabled. Ask your administrator to enable it.", reason: "user disabled during sign-in"}
	}
	p, err := s.Store.GetMFAPolicy(ctx, f.EnvironmentID)
	return u, p, err
}

func maskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 {
		return "your email address"
	}
	return addr[:1] + strings.Repeat("•", min(at-1, 6)) + addr[at:]
}

// codeKey is the environment's key for hashing one-time and recovery codes.
func (s *Service) codeKey(ctx context.Context, envID string) ([]byte, error) {
	return s.environmentKey(ctx, s.Store, envID, "one-time-code-key")
}

func (s *Service) sendEmailCode(ctx context.Context, st *gatehouse.MFALogin, u *gatehouse.User, enrol bool) error {
	purpose := gatehouse.CodeEmailMFA
	if enrol {
		purpose = gatehouse.CodeEmailEnrol
	}
	code, err := s.issueCode(ctx, u.EnvironmentID, u, purpose)
	if err != nil {
		return err
	}
	if err := s.mail(ctx, u.PrimaryEmail, "Your sign-in code", "Your sign-in code is "+code+".\n\n"+
		"It works once, for "+itoa(int(EmailCodeTTL.Minutes()))+" minutes. If you did not try to sign in, someone may know your password: change it.\n"); err != nil {
		return err
	}
	st.EmailSentAt = s.now()
	return nil
}

// issueCode stores a new one-time code of a purpose for the user and
// returns it.
func (s *Service) issueCode(ctx context.Context, envID string, u *gatehouse.User, purpose string) (string, error) {
	key, err := s.codeKey(ctx, envID)
	if err != nil {
		return "", err
	}
	code := otp.NewNumericCode(6)
	now := s.now()
	return code, s.Store.PutOneTimeCode(ctx, &gatehouse.OneTimeCode{EnvironmentID: envID, UserID: u.ID, Purpose: purpose,
		Hash: otp.HashCode(key, purpose, u.ID, code), CreatedOn: now, ExpiresAt: now.Add(EmailCodeTTL)})
}

func (s *Service) mail(ctx context.Context, to, subject, text string) error {
	if s.Mail == nil {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "email is not set up on this server")
	}
	if to == "" {
		return gatehouse.Errorf(gatehouse.EINVALID, "the account has no email address")
	}
	if err := s.Mail.Send(ctx, mail.Message{To: to, Subject: subject, Text: text}); err != nil {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "the email could not be sent: %v", err)
	}
	return nil
}

// relyingParty is the environment's WebAuthn relying party: Gatehouse's
// host, named after the environment.
func (s *Service) relyingParty(ctx context.Context, envID string) (*passkey.RelyingParty, error) {
	u, err := url.Parse(s.BaseURL)
	if err != nil || u.Hostname() == "" {
		return nil, gatehouse.Errorf(gatehouse.EINTERNAL, "the base URL %q has no host for WebAuthn", s.BaseURL)
	}
	name := envID
	if e, err := s.ActiveEnvironment(ctx, envID); err == nil && e.DisplayName != "" {
		name = e.DisplayName
	}
	return s.passkeys.get(u.Hostname()+" "+name, func() (*passkey.RelyingParty, error) {
		return passkey.New(u.Hostname(), name, []string{u.Scheme + "://" + u.Host})
	})
}

// rpCache keeps relying parties by host and name.
type rpCache struct {
	mu sync.Mutex
	m  map[string]*passkey.RelyingParty
}

func (c *rpCache) get(key string, make func() (*passkey.RelyingParty, error)) (*passkey.RelyingParty, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rp, ok := c.m[key]; ok {
		return rp, nil
	}
	rp, err := make()
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]*passkey.RelyingParty{}
	}
	c.m[key] = rp
	return rp, nil
}

// passkeyUser is the user with their WebAuthn credentials.
func (s *Service) passkeyUser(ctx context.Context, u *gatehouse.User) (passkey.User, error) {
	devices, err := s.Store.ListMFADevices(ctx, u.EnvironmentID, u.ID)
	if err != nil {
		return passkey.User{}, err
	}
	pu := passkey.User{ID: []byte(u.ID), Name: u.Username, DisplayName: strings.TrimSpace(u.FirstName + " " + u.LastName)}
	for _, d := range devices {
		if d.Type == gatehouse.MethodWebAuthn && d.Confirmed {
			pu.Credentials = append(pu.Credentials, passkey.Credential{ID: d.CredentialID, Data: d.Credential, SignCount: uint32(d.Counter)})
		}
	}
	return pu, nil
}

func (s *Service) prepareWebAuthn(ctx context.Context, st *gatehouse.MFALogin, u *gatehouse.User, p *gatehouse.MFAPolicy, register bool, prompt *MFAPrompt) error {
	rp, err := s.relyingParty(ctx, u.EnvironmentID)
	if err != nil {
		return err
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return err
	}
	if register {
		prompt.WebAuthnOptions, st.WebAuthnSession, err = rp.BeginRegistration(pu, p.UserVerification, "preferred")
	} else {
		prompt.WebAuthnOptions, st.WebAuthnSession, err = rp.BeginLogin(pu, p.UserVerification)
	}
	return err
}

// prepareTOTPEnrolment makes a new, unconfirmed authenticator-app key for
// the enrolment st (one per enrolment: showing the page again shows the
// same key).
func (s *Service) prepareTOTPEnrolment(ctx context.Context, st *gatehouse.MFALogin, u *gatehouse.User, prompt *MFAPrompt) error {
	envID := u.EnvironmentID
	var d *gatehouse.MFADevice
	if st.EnrolDeviceID != "" {
		if got, err := s.Store.GetMFADevice(ctx, envID, st.EnrolDeviceID); err == nil && got.UserID == u.ID && !got.Confirmed {
			d = got
		}
	}
	issuer := envID
	if e, err := s.ActiveEnvironment(ctx, envID); err == nil && e.DisplayName != "" {
		issuer = e.DisplayName
	}
	if d == nil {
		key, err := otp.NewTOTPKey(issuer, u.Username)
		if err != nil {
			return err
		}
		d = &gatehouse.MFADevice{EnvironmentID: envID, ID: gatehouse.NewID(), UserID: u.ID, Type: gatehouse.MethodTOTP,
			Name: "Authenticator app", CreatedOn: s.now()}
		if d.Secret, err = s.Keyring.Encrypt(key.Secret, aad(envID, "mfa-device/"+d.ID)); err != nil {
			return err
		}
		if err := s.Store.CreateMFADevice(ctx, d); err != nil {
			return err
		}
		st.EnrolDeviceID = d.ID
	}
	secret, err := s.Keyring.Decrypt(d.Secret, aad(envID, "mfa-device/"+d.ID))
	if err != nil {
		return err
	}
	key, err := otp.TOTPKeyFromSecret(issuer, u.Username, secret)
	if err != nil {
		return err
	}
	prompt.TOTPKey, prompt.TOTPQR = key.Display, key.QRCode
	return nil
}

// MFAInput is what a second-factor form sent.
type MFAInput struct {
	Method string
	// Code is a TOTP, email or recovery code.
	Code string
	// Credential is the browser's WebAuthn answer, as JSON.
	Credential []byte
	// Name names a device being enrolled.
	Name string
}

// MFAResult is a second factor that passed: the sign-in is finished, or
// waits while the user keeps the recovery codes they are shown once.
type MFAResult struct {
	*LoginResult
	RecoveryCodes []string
}

// ErrMFABlocked answers a second factor while too many wrong ones block it.
var ErrMFABlocked = gatehouse.Errorf(gatehouse.ETOOMANY, "too many wrong codes: this account's second factor is blocked for a while")

// SubmitMFA checks a second factor, or confirms one being enrolled.
func (s *Service) SubmitMFA(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, in MFAInput) (*MFAResult, error) {
	if f.MFA == nil || (f.Step != gatehouse.StepMFA && f.Step != gatehouse.StepMFAEnrol) || in.Method != f.MFA.Method {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "this form is out of date: start the step again")
	}
	u, p, err := s.flowUser(ctx, f)
	if err != nil {
		return nil, err
	}
	st, err := s.Store.GetMFAState(ctx, f.EnvironmentID, u.ID)
	if err != nil {
		return nil, err
	}
	if st.BlockedUntil != nil && s.now().Before(*st.BlockedUntil) {
		return nil, ErrMFABlocked
	}
	enrol := f.Step == gatehouse.StepMFAEnrol
	allowed := p.Allows(in.Method)
	if enrol {
		allowed = allowed && slices.Contains(s.enrollableMethods(ctx, u, p), in.Method)
	}
	if !allowed {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "that method is not allowed")
	}
	var checkErr error
	if enrol {
		checkErr = s.confirmEnrolment(ctx, actor, f.MFA, u, in)
	} else {
		checkErr = s.checkSecondFactor(ctx, f, u, in)
	}
	if checkErr != nil {
		if !errors.Is(checkErr, errWrongFactor) && !errors.Is(checkErr, errReplayedFactor) {
			return nil, checkErr
		}
		return nil, s.mfaFailed(ctx, actor, f, u, p, checkErr)
	}
	s.Store.ResetMFAFailures(ctx, f.EnvironmentID, u.ID)
	s.recordMFA(ctx, f, actor, ActionMFASucceeded, gatehouse.OutcomeSuccess, in.Method, "")
	f.MFA.Done = in.Method
	result := &MFAResult{}
	if enrol && p.Allows(gatehouse.MethodRecoveryCode) {
		if n, err := s.Store.CountRecoveryCodes(ctx, f.EnvironmentID, u.ID); err == nil && n == 0 {
			if result.RecoveryCodes, err = s.NewRecoveryCodes(ctx, actor, u); err != nil {
				return nil, err
			}
			f.Step = gatehouse.StepRecoveryCodes
			return result, s.Store.UpdateLoginFlow(ctx, f)
		}
	}
	result.LoginResult, err = s.finishLogin(ctx, actor, f, u, withSecondFactor(f.MFA.AMR, in.Method))
	return result, err
}

// KeptRecoveryCodes finishes a sign-in once the user has seen their
// recovery codes.
func (s *Service) KeptRecoveryCodes(ctx context.Context, actor Actor, f *gatehouse.LoginFlow) (*LoginResult, error) {
	if f.Step != gatehouse.StepRecoveryCodes || f.MFA == nil || f.MFA.Done == "" {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "this sign-in is not showing recovery codes")
	}
	u, _, err := s.flowUser(ctx, f)
	if err != nil {
		return nil, err
	}
	return s.finishLogin(ctx, actor, f, u, withSecondFactor(f.MFA.AMR, f.MFA.Done))
}

// withSecondFactor is the amr of a sign-in with both factors (RFC 8176).
func withSecondFactor(first []string, method string) []string {
	amr := slices.Clone(first)
	switch method {
	case gatehouse.MethodTOTP:
		amr = append(amr, "otp")
	case gatehouse.MethodEmail:
		amr = append(amr, "otp", "mca")
	case gatehouse.MethodWebAuthn:
		amr = append(amr, "hwk")
	case gatehouse.MethodRecoveryCode:
		amr = append(amr, "kba")
	}
	return append(amr, "mfa")
}

var (
	errWrongFactor    = gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "That code is not right, or has expired.")
	errReplayedFactor = gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "That code was already used: wait for the next one.")
)

// mfaFailed counts a wrong second factor; at the policy's limit the user's
// second factor is blocked for its block time.
func (s *Service) mfaFailed(ctx context.Context, actor Actor, f *gatehouse.LoginFlow, u *gatehouse.User, p *gatehouse.MFAPolicy, why error) error {
	n, err := s.Store.RegisterMFAFailure(ctx, f.EnvironmentID, u.ID, p.FailureLimit, s.now().Add(time.Duration(p.BlockSeconds)*time.Second))
	if err != nil {
		return err
	}
	s.recordMFA(ctx, f, actor, ActionMFAFailed, gatehouse.OutcomeFailure, f.MFA.Method, gatehouse.ErrorMessage(why))
	if n >= p.FailureLimit {
		s.recordMFA(ctx, f, actor, ActionMFABlocked, gatehouse.OutcomeFailure, f.MFA.Method, "failure limit reached")
		return ErrMFABlocked
	}
	return why
}

func (s *Service) recordMFA(ctx context.Context, f *gatehouse.LoginFlow, actor Actor, action, outcome, method, reason string) {
	details := map[string]string{"method": method, "clientId": f.Request.ClientID}
	if reason != "" {
		details["reason"] = reason
	}
	s.record(ctx, s.event(f.EnvironmentID, actor, Change{Action: action, TargetType: "USER", TargetID: f.UserID, Outcome: outcome, Details: details}))
}

// checkSecondFactor checks a second factor of an enrolled user.
func (s *Service) checkSecondFactor(ctx context.Context, f *gatehouse.LoginFlow, u *gatehouse.User, in MFAInput) error {
	switch in.Method {
	case gatehouse.MethodTOTP:
		devices, err := s.Store.ListMFADevices(ctx, f.EnvironmentID, u.ID)
		if err != nil {
			return err
		}
		for _, d := range devices {
			if d.Type != gatehouse.MethodTOTP || !d.Confirmed {
				continue
			}
			if err := s.useTOTP(ctx, d, in.Code); !errors.Is(err, errWrongFactor) {
				return err
			}
		}
		return errWrongFactor
	case gatehouse.MethodEmail:
		return s.useCode(ctx, f.EnvironmentID, u.ID, gatehouse.CodeEmailMFA, in.Code)
	case gatehouse.MethodRecoveryCode:
		key, err := s.codeKey(ctx, f.EnvironmentID)
		if err != nil {
			return err
		}
		err = s.Store.UseRecoveryCode(ctx, f.EnvironmentID, u.ID,
			otp.HashCode(key, gatehouse.MethodRecoveryCode, u.ID, otp.NormalizeRecoveryCode(in.Code)), s.now())
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return errWrongFactor
		}
		return err
	case gatehouse.MethodWebAuthn:
		return s.useWebAuthn(ctx, f, u, in.Credential)
	}
	return gatehouse.Errorf(gatehouse.EINVALID, "unknown method")
}

// useTOTP checks a code against one device: a step is accepted once.
func (s *Service) useTOTP(ctx context.Context, d *gatehouse.MFADevice, code string) error {
	secret, err := s.Keyring.Decrypt(d.Secret, aad(d.EnvironmentID, "mfa-device/"+d.ID))
	if err != nil {
		return err
	}
	step, ok := otp.ValidateTOTP(secret, code, s.now())
	if !ok {
		return errWrongFactor
	}
	err = s.Store.UseMFADeviceCounter(ctx, d.EnvironmentID, d.ID, step, s.now())
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return errReplayedFactor
	}
	return err
}

func (s *Service) useCode(ctx context.Context, envID, userID, purpose, code string) error {
	key, err := s.codeKey(ctx, envID)
	if err != nil {
		return err
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return errWrongFactor
	}
	err = s.Store.UseOneTimeCode(ctx, envID, userID, purpose, otp.HashCode(key, purpose, userID, code), EmailCodeAttempts, s.now())
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return errWrongFactor
	}
	return err
}

func (s *Service) useWebAuthn(ctx context.Context, f *gatehouse.LoginFlow, u *gatehouse.User, credential []byte) error {
	rp, err := s.relyingParty(ctx, f.EnvironmentID)
	if err != nil {
		return err
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return err
	}
	session := f.MFA.WebAuthnSession
	f.MFA.WebAuthnSession = nil // a challenge answers once
	if len(session) == 0 {
		return errWrongFactor
	}
	id, count, err := rp.FinishLogin(pu, session, credential)
	if errors.Is(err, passkey.ErrReplayed) {
		return errReplayedFactor
	}
	if err != nil {
		return gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the security key's answer was not accepted: %v", err)
	}
	devices, err := s.Store.ListMFADevices(ctx, f.EnvironmentID, u.ID)
	if err != nil {
		return err
	}
	for _, d := range devices {
		if d.Type == gatehouse.MethodWebAuthn && string(d.CredentialID) == string(id) {
			// Authenticators that keep no counter always say 0.
			if count == 0 && d.Counter == 0 {
				now := s.now()
				d.LastUsedOn = &now
				return s.Store.UpdateMFADevice(ctx, d)
			}
			err := s.Store.UseMFADeviceCounter(ctx, d.EnvironmentID, d.ID, int64(count), s.now())
			if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
				return errReplayedFactor
			}
			return err
		}
	}
	return errWrongFactor
}

// confirmEnrolment checks the first use of the device that st enrols and
// keeps it, for the sign-in and the account page alike.
func (s *Service) confirmEnrolment(ctx context.Context, actor Actor, st *gatehouse.MFALogin, u *gatehouse.User, in MFAInput) error {
	envID := u.EnvironmentID
	name := strings.TrimSpace(in.Name)
	switch in.Method {
	case gatehouse.MethodTOTP:
		d, err := s.Store.GetMFADevice(ctx, envID, st.EnrolDeviceID)
		if err != nil || d.UserID != u.ID || d.Confirmed {
			return gatehouse.Errorf(gatehouse.EINVALID, "this enrolment is out of date: start again")
		}
		if err := s.useTOTP(ctx, d, in.Code); err != nil {
			return err
		}
		d, err = s.Store.GetMFADevice(ctx, envID, d.ID)
		if err != nil {
			return err
		}
		d.Confirmed = true
		if name != "" {
			d.Name = name
		}
		if err := gatehouse.ValidateDeviceName(d.Name); err != nil {
			return err
		}
		return s.keepDevice(ctx, actor, st, d)
	case gatehouse.MethodEmail:
		if err := s.useCode(ctx, envID, u.ID, gatehouse.CodeEmailEnrol, in.Code); err != nil {
			return err
		}
		now := s.now()
		return s.keepDevice(ctx, actor, st, &gatehouse.MFADevice{EnvironmentID: envID, ID: gatehouse.NewID(), UserID: u.ID,
			Type: gatehouse.MethodEmail, Name: maskEmail(u.PrimaryEmail), CreatedOn: now, LastUsedOn: &now, Confirmed: true})
	case gatehouse.MethodWebAuthn:
		rp, err := s.relyingParty(ctx, envID)
		if err != nil {
			return err
		}
		pu, err := s.passkeyUser(ctx, u)
		if err != nil {
			return err
		}
		session := st.WebAuthnSession
		st.WebAuthnSession = nil
		if len(session) == 0 {
			return errWrongFactor
		}
		cred, err := rp.FinishRegistration(pu, session, in.Credential)
		if err != nil {
			return gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the security key could not be registered: %v", err)
		}
		if name == "" {
			name = "Security key"
		}
		if err := gatehouse.ValidateDeviceName(name); err != nil {
			return err
		}
		now := s.now()
		err = s.keepDevice(ctx, actor, st, &gatehouse.MFADevice{EnvironmentID: envID, ID: gatehouse.NewID(), UserID: u.ID,
			Type: gatehouse.MethodWebAuthn, Name: name, CreatedOn: now, LastUsedOn: &now, Confirmed: true, Credential: cred.Data,
			CredentialID: cred.ID, Counter: int64(cred.SignCount)})
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			return gatehouse.Errorf(gatehouse.EINVALID, "this security key is already registered to an account here")
		}
		return err
	}
	return gatehouse.Errorf(gatehouse.EINVALID, "unknown method")
}

func (s *Service) keepDevice(ctx context.Context, actor Actor, st *gatehouse.MFALogin, d *gatehouse.MFADevice) error {
	var err error
	if _, getErr := s.Store.GetMFADevice(ctx, d.EnvironmentID, d.ID); getErr == nil {
		err = s.Store.UpdateMFADevice(ctx, d)
	} else {
		err = s.Store.CreateMFADevice(ctx, d)
	}
	if err != nil {
		return err
	}
	st.EnrolDeviceID = ""
	actor.Type, actor.ID = gatehouse.ActorUser, d.UserID
	s.record(ctx, s.event(d.EnvironmentID, actor, Change{Action: ActionMFAEnrolled,
		TargetType: "USER", TargetID: d.UserID, Details: map[string]string{"device": d.ID, "type": d.Type, "name": d.Name}}))
	return nil
}

// NewRecoveryCodes replaces a user's recovery codes and returns the new
// ones, to be shown once.
func (s *Service) NewRecoveryCodes(ctx context.Context, actor Actor, u *gatehouse.User) ([]string, error) {
	key, err := s.codeKey(ctx, u.EnvironmentID)
	if err != nil {
		return nil, err
	}
	codes := otp.NewRecoveryCodes(RecoveryCodeCount)
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = otp.HashCode(key, gatehouse.MethodRecoveryCode, u.ID, otp.NormalizeRecoveryCode(c))
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, u.EnvironmentID, u.ID, hashes, s.now()); err != nil {
		return nil, err
	}
	s.record(ctx, s.event(u.EnvironmentID, actor, Change{Action: ActionRecoveryCodesCreated, TargetType: "USER", TargetID: u.ID}))
	return codes, nil
}
