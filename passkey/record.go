package passkey

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// recordVersion numbers the layout of Credential.Data, so a later layout
// can still read the credentials users registered years before.
const recordVersion = 1

// record is Credential.Data. It is our own layout rather than
// go-webauthn's Credential marshalled as is, so that a library upgrade
// cannot change what is stored, and so that the raw attestation (large, and
// of no use with attestation "none") is not kept.
type record struct {
	Version int `json:"v"`
	// PublicKey is the credential public key, COSE-encoded as the
	// authenticator gave it.
	PublicKey         []byte   `json:"publicKey"`
	AttestationType   string   `json:"attestationType,omitempty"`
	AttestationFormat string   `json:"attestationFormat,omitempty"`
	Transports        []string `json:"transports,omitempty"`
	AAGUID            string   `json:"aaguid,omitempty"`
	Attachment        string   `json:"attachment,omitempty"`
	UserPresent       bool     `json:"userPresent"`
	UserVerified      bool     `json:"userVerified"`
	// BackupEligible never changes for a credential; a login that reports
	// otherwise is refused. BackupState may, and is as of registration.
	BackupEligible bool `json:"backupEligible"`
	BackupState    bool `json:"backupState"`
}

func newRecord(c *webauthn.Credential) record {
	r := record{
		Version:           recordVersion,
		PublicKey:         c.PublicKey,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		Attachment:        string(c.Authenticator.Attachment),
		UserPresent:       c.Flags.UserPresent,
		UserVerified:      c.Flags.UserVerified,
		BackupEligible:    c.Flags.BackupEligible,
		BackupState:       c.Flags.BackupState,
	}
	if len(c.Authenticator.AAGUID) == 16 {
		r.AAGUID = formatUUID(c.Authenticator.AAGUID)
	}
	for _, t := range c.Transport {
		r.Transports = append(r.Transports, string(t))
	}
	return r
}

// credential rebuilds go-webauthn's view of a stored credential.
func (c Credential) credential() (webauthn.Credential, error) {
	if len(c.ID) == 0 {
		return webauthn.Credential{}, errors.New("passkey: a stored credential has an empty ID")
	}
	var r record
	if err := json.Unmarshal(c.Data, &r); err != nil {
		return webauthn.Credential{}, fmt.Errorf("passkey: credential %s: unreadable record: %w", shortID(c.ID), err)
	}
	if r.Version != recordVersion {
		return webauthn.Credential{}, fmt.Errorf("passkey: credential %s: record version %d is not one this build reads", shortID(c.ID), r.Version)
	}
	if len(r.PublicKey) == 0 {
		return webauthn.Credential{}, fmt.Errorf("passkey: credential %s: record has no public key", shortID(c.ID))
	}
	var aaguid []byte
	if r.AAGUID != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(r.AAGUID, "-", ""))
		if err != nil || len(b) != 16 {
			return webauthn.Credential{}, fmt.Errorf("passkey: credential %s: record has a malformed AAGUID", shortID(c.ID))
		}
		aaguid = b
	}
	var flags protocol.AuthenticatorFlags
	for _, f := range []struct {
		on   bool
		flag protocol.AuthenticatorFlags
	}{
		{r.UserPresent, protocol.FlagUserPresent},
		{r.UserVerified, protocol.FlagUserVerified},
		{r.BackupEligible, protocol.FlagBackupEligible},
		{r.BackupState, protocol.FlagBackupState},
	} {
		if f.on {
			flags |= f.flag
		}
	}
	transports := make([]protocol.AuthenticatorTransport, len(r.Transports))
	for i, t := range r.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:                c.ID,
		PublicKey:         r.PublicKey,
		AttestationType:   r.AttestationType,
		AttestationFormat: r.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{
			AAGUID: aaguid,
			// The caller's counter is the authoritative one: Data is
			// written once, at registration.
			SignCount:  c.SignCount,
			Attachment: protocol.AuthenticatorAttachment(r.Attachment),
		},
	}, nil
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// webUser is a User as go-webauthn wants it, its credentials decoded once.
type webUser struct {
	u     User
	creds []webauthn.Credential
}

func adapt(u User) (*webUser, error) {
	if n := len(u.ID); n < 1 || n > 64 {
		return nil, fmt.Errorf("passkey: the user ID must be 1 to 64 bytes, not %d", n)
	}
	w := &webUser{u: u, creds: make([]webauthn.Credential, 0, len(u.Credentials))}
	for _, c := range u.Credentials {
		wc, err := c.credential()
		if err != nil {
			return nil, err
		}
		w.creds = append(w.creds, wc)
	}
	return w, nil
}

func (w *webUser) WebAuthnID() []byte   { return w.u.ID }
func (w *webUser) WebAuthnName() string { return w.u.Name }
func (w *webUser) WebAuthnDisplayName() string {
	if w.u.DisplayName == "" {
		return w.u.Name
	}
	return w.u.DisplayName
}
func (w *webUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// Which ceremony a session belongs to. Keeping it in the session turns a
// registration session offered to FinishLogin (or the reverse) into a clear
// error rather than a puzzling one from deep inside the checks.
const (
	ceremonyRegistration = "registration"
	ceremonyLogin        = "login"
)

// sessionRecord is the opaque session the caller keeps between Begin and
// Finish. It holds the challenge, so it must stay on the server.
type sessionRecord struct {
	Ceremony string               `json:"ceremony"`
	Data     webauthn.SessionData `json:"data"`
}

func encode(ceremony string, options any, sd *webauthn.SessionData) ([]byte, []byte, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: encoding %s options: %w", ceremony, err)
	}
	session, err := json.Marshal(sessionRecord{Ceremony: ceremony, Data: *sd})
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: encoding %s session: %w", ceremony, err)
	}
	return opts, session, nil
}

func decodeSession(ceremony string, session []byte) (webauthn.SessionData, error) {
	var s sessionRecord
	if err := json.Unmarshal(session, &s); err != nil || s.Ceremony == "" {
		return webauthn.SessionData{}, fmt.Errorf("passkey: %s refused: the session record is unreadable", ceremony)
	}
	if s.Ceremony != ceremony {
		return webauthn.SessionData{}, fmt.Errorf("passkey: %s refused: the session belongs to a %s ceremony", ceremony, s.Ceremony)
	}
	return s.Data, nil
}
