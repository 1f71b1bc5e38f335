package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testRPID   = "login.example.com"
	testOrigin = "https://login.example.com"
)

func newTestRP(t *testing.T) *RelyingParty {
	t.Helper()
	rp, err := New(testRPID, "Acme sign-in", []string{testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func testUser(name string) User {
	return User{ID: []byte("uid-" + name), Name: name, DisplayName: strings.ToUpper(name)}
}

// register runs a whole registration ceremony and adds the credential to u.
func register(t *testing.T, rp *RelyingParty, a *softAuthenticator, u *User) Credential {
	t.Helper()
	options, session, err := rp.BeginRegistration(*u, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.create(t, options)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rp.FinishRegistration(*u, session, resp)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	u.Credentials = append(u.Credentials, c)
	return c
}

// login runs a whole login ceremony and stores the new counter in u.
func login(t *testing.T, rp *RelyingParty, a *softAuthenticator, u *User, uv string) ([]byte, uint32, error) {
	t.Helper()
	options, session, err := rp.BeginLogin(*u, uv)
	if err != nil {
		t.Fatal(err)
	}
	id, count, err := rp.FinishLogin(*u, session, a.get(t, options).json(t))
	if err == nil {
		for i := range u.Credentials {
			if bytes.Equal(u.Credentials[i].ID, id) {
				u.Credentials[i].SignCount = count
			}
		}
	}
	return id, count, err
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		rpID    string
		origins []string
		wantErr string
	}{
		{name: "https origin on the RP ID", rpID: "login.example.com", origins: []string{"https://login.example.com"}},
		{name: "origin with port and trailing slash", rpID: "login.example.com", origins: []string{"https://login.example.com:8443/"}},
		{name: "origin on a subdomain of the RP ID", rpID: "example.com", origins: []string{"https://login.example.com"}},
		{name: "http on localhost", rpID: "localhost", origins: []string{"http://localhost:8080"}},
		{name: "RP ID upper case", rpID: "Login.Example.COM", origins: []string{"https://LOGIN.example.com"}},
		{name: "empty RP ID", rpID: "", origins: []string{"https://login.example.com"}, wantErr: "relying party ID is empty"},
		{name: "IP address RP ID", rpID: "127.0.0.1", origins: []string{"https://127.0.0.1"}, wantErr: "IP addresses"},
		{name: "RP ID with a scheme", rpID: "https://login.example.com", origins: []string{"https://login.example.com"}, wantErr: "relying party ID"},
		{name: "no origins", rpID: "login.example.com", wantErr: "at least one origin"},
		{name: "origin on another domain", rpID: "login.example.com", origins: []string{"https://evil.example"}, wantErr: "not on relying party ID"},
		{name: "origin ending in the RP ID without a dot", rpID: "example.com", origins: []string{"https://notexample.com"}, wantErr: "not on relying party ID"},
		{name: "origin on the parent of the RP ID", rpID: "login.example.com", origins: []string{"https://example.com"}, wantErr: "not on relying party ID"},
		{name: "origin with a path", rpID: "login.example.com", origins: []string{"https://login.example.com/acme"}, wantErr: "without path"},
		{name: "plain http off localhost", rpID: "login.example.com", origins: []string{"http://login.example.com"}, wantErr: "only over https"},
		{name: "not a URL", rpID: "login.example.com", origins: []string{"login.example.com"}, wantErr: "scheme://host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp, err := New(tt.rpID, "", tt.origins)
			if tt.wantErr == "" {
				if err != nil || rp == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegistrationOptions(t *testing.T) {
	rp := newTestRP(t)
	tests := []struct {
		name, uv, rk   string
		wantUV, wantRK string
		wantRequireRK  bool
		wantErr        string
	}{
		{name: "defaults", wantUV: "preferred", wantRK: "preferred"},
		{name: "verification required", uv: "required", wantUV: "required", wantRK: "preferred"},
		{name: "resident key required", rk: "required", wantUV: "preferred", wantRK: "required", wantRequireRK: true},
		{name: "everything discouraged", uv: "discouraged", rk: "discouraged", wantUV: "discouraged", wantRK: "discouraged"},
		{name: "unknown verification", uv: "always", wantErr: `user verification "always"`},
		{name: "unknown resident key", rk: "Required", wantErr: `resident key "Required"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := testUser("alice")
			options, session, err := rp.BeginRegistration(u, tt.uv, tt.rk)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(session) == 0 {
				t.Fatal("no session")
			}
			var o creationOptionsJSON
			if err := json.Unmarshal(options, &o); err != nil {
				t.Fatalf("options are not JSON: %v\n%s", err, options)
			}
			if o.RP.ID != testRPID || o.RP.Name != "Acme sign-in" {
				t.Errorf("rp = %+v", o.RP)
			}
			if id, err := b64.DecodeString(o.User.ID); err != nil || !bytes.Equal(id, u.ID) {
				t.Errorf("user.id = %q (%v), want base64url of %q", o.User.ID, err, u.ID)
			}
			if o.User.Name != "alice" || o.User.DisplayName != "ALICE" {
				t.Errorf("user = %+v", o.User)
			}
			if c, err := b64.DecodeString(o.Challenge); err != nil || len(c) < 16 {
				t.Errorf("challenge = %q (%v), want base64url of at least 16 bytes", o.Challenge, err)
			}
			var algs []int
			for _, p := range o.PubKeyCredParams {
				if p.Type != "public-key" {
					t.Errorf("pubKeyCredParams type = %q", p.Type)
				}
				algs = append(algs, p.Alg)
			}
			if !slices.Contains(algs, -7) || !slices.Contains(algs, -257) {
				t.Errorf("pubKeyCredParams algorithms = %v, want ES256 (-7) and RS256 (-257)", algs)
			}
			sel := o.AuthenticatorSelection
			if sel.UserVerification != tt.wantUV || sel.ResidentKey != tt.wantRK {
				t.Errorf("authenticatorSelection = %+v, want userVerification %q residentKey %q", sel, tt.wantUV, tt.wantRK)
			}
			if sel.RequireResidentKey == nil || *sel.RequireResidentKey != tt.wantRequireRK {
				t.Errorf("requireResidentKey = %v, want %v (for Level 1 browsers)", sel.RequireResidentKey, tt.wantRequireRK)
			}
			if o.Attestation != "none" {
				t.Errorf("attestation = %q, want none", o.Attestation)
			}
			if o.Timeout <= 0 {
				t.Errorf("timeout = %d", o.Timeout)
			}
			if len(o.ExcludeCredentials) != 0 {
				t.Errorf("excludeCredentials = %v for a user without credentials", o.ExcludeCredentials)
			}
		})
	}
}

func TestBeginRefusesBadUsers(t *testing.T) {
	rp := newTestRP(t)
	corrupt := testUser("alice")
	corrupt.Credentials = []Credential{{ID: []byte("cred"), Data: []byte("{not json")}}
	tests := []struct {
		name    string
		u       User
		login   bool
		wantErr string
	}{
		{name: "empty user ID", u: User{Name: "alice"}, wantErr: "1 to 64 bytes"},
		{name: "user ID too long", u: User{ID: bytes.Repeat([]byte("x"), 65), Name: "alice"}, wantErr: "1 to 64 bytes"},
		{name: "no name", u: User{ID: []byte("uid")}, wantErr: "no name"},
		{name: "corrupt stored credential on registration", u: corrupt, wantErr: "unreadable record"},
		{name: "corrupt stored credential on login", u: corrupt, login: true, wantErr: "unreadable record"},
		{name: "login without credentials", u: testUser("bob"), login: true, wantErr: "no registered credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.login {
				_, _, err = rp.BeginLogin(tt.u, "")
			} else {
				_, _, err = rp.BeginRegistration(tt.u, "", "")
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterThenLogin(t *testing.T) {
	tests := []struct {
		name       string
		synced     bool
		frozen     bool
		wantCounts []uint32
	}{
		// A security key counts its signatures; each login must see more.
		{name: "counting security key", wantCounts: []uint32{1, 2, 3}},
		// Synced passkeys report 0 forever, which is not a replay.
		{name: "synced passkey with zero counter", synced: true, frozen: true, wantCounts: []uint32{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newTestRP(t)
			a := newAuthenticator(testOrigin)
			a.synced, a.frozenCounter = tt.synced, tt.frozen
			u := testUser("alice")
			c := register(t, rp, a, &u)
			if len(c.ID) != 32 || c.SignCount != 0 {
				t.Errorf("credential ID %d bytes, sign count %d", len(c.ID), c.SignCount)
			}
			d, err := c.Details()
			if err != nil {
				t.Fatal(err)
			}
			want := Details{AAGUID: "67617465-686f-7573-652d-746573742121", Transports: []string{"hybrid", "internal"},
				Attachment: "platform", UserVerified: true, BackupEligible: tt.synced, BackedUp: tt.synced}
			if d.AAGUID != want.AAGUID || !slices.Equal(d.Transports, want.Transports) || d.Attachment != want.Attachment ||
				d.UserVerified != want.UserVerified || d.BackupEligible != want.BackupEligible || d.BackedUp != want.BackedUp {
				t.Errorf("Details = %+v, want %+v", d, want)
			}
			var r record
			if err := json.Unmarshal(c.Data, &r); err != nil || len(r.PublicKey) == 0 || r.Version != recordVersion || r.AttestationFormat != "none" {
				t.Errorf("stored record = %s (%v)", c.Data, err)
			}
			for i, wantCount := range tt.wantCounts {
				id, count, err := login(t, rp, a, &u, "")
				if err != nil {
					t.Fatalf("login %d: %v", i+1, err)
				}
				if !bytes.Equal(id, c.ID) || count != wantCount {
					t.Fatalf("login %d: credential %x count %d, want %x count %d", i+1, id, count, c.ID, wantCount)
				}
			}
		})
	}
}

func TestLoginOptions(t *testing.T) {
	rp := newTestRP(t)
	u := testUser("alice")
	c1 := register(t, rp, newAuthenticator(testOrigin), &u)
	c2 := register(t, rp, newAuthenticator(testOrigin), &u)
	for _, uv := range []string{"required", "preferred", "discouraged"} {
		t.Run(uv, func(t *testing.T) {
			options, session, err := rp.BeginLogin(u, uv)
			if err != nil {
				t.Fatal(err)
			}
			if len(session) == 0 {
				t.Fatal("no session")
			}
			var o requestOptionsJSON
			if err := json.Unmarshal(options, &o); err != nil {
				t.Fatalf("options are not JSON: %v\n%s", err, options)
			}
			if o.RPID != testRPID || o.UserVerification != uv || o.Timeout <= 0 {
				t.Errorf("options = %s", options)
			}
			if c, err := b64.DecodeString(o.Challenge); err != nil || len(c) < 16 {
				t.Errorf("challenge = %q (%v)", o.Challenge, err)
			}
			var ids []string
			for _, d := range o.AllowCredentials {
				if d.Type != "public-key" || !slices.Equal(d.Transports, []string{"hybrid", "internal"}) {
					t.Errorf("allowCredentials entry = %+v", d)
				}
				ids = append(ids, d.ID)
			}
			if want := []string{b64.EncodeToString(c1.ID), b64.EncodeToString(c2.ID)}; !slices.Equal(ids, want) {
				t.Errorf("allowCredentials = %v, want %v", ids, want)
			}
		})
	}
}

func TestExcludeCredentials(t *testing.T) {
	rp := newTestRP(t)
	u := testUser("alice")
	phone := newAuthenticator(testOrigin)
	first := register(t, rp, phone, &u)

	options, session, err := rp.BeginRegistration(u, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var o creationOptionsJSON
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.ExcludeCredentials) != 1 || o.ExcludeCredentials[0].ID != b64.EncodeToString(first.ID) ||
		o.ExcludeCredentials[0].Type != "public-key" || !slices.Equal(o.ExcludeCredentials[0].Transports, []string{"hybrid", "internal"}) {
		t.Fatalf("excludeCredentials = %+v, want the first credential", o.ExcludeCredentials)
	}
	// The authenticator that holds the first credential declines, as a
	// browser would with InvalidStateError.
	if _, err := phone.create(t, options); !errors.Is(err, errInvalidState) {
		t.Fatalf("same authenticator registered again: %v", err)
	}
	// Another authenticator registers under the same options.
	key := newAuthenticator(testOrigin)
	resp, err := key.create(t, options)
	if err != nil {
		t.Fatal(err)
	}
	second, err := rp.FinishRegistration(u, session, resp)
	if err != nil {
		t.Fatal(err)
	}
	u.Credentials = append(u.Credentials, second)
	options, _, err = rp.BeginRegistration(u, "", "")
	if err != nil {
		t.Fatal(err)
	}
	o = creationOptionsJSON{}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.ExcludeCredentials) != 2 {
		t.Fatalf("excludeCredentials after two registrations = %+v", o.ExcludeCredentials)
	}
}

// expire rewrites a session as if its ceremony had timed out.
func expire(t *testing.T, session []byte) []byte {
	t.Helper()
	var s sessionRecord
	if err := json.Unmarshal(session, &s); err != nil {
		t.Fatal(err)
	}
	s.Data.Expires = time.Now().Add(-time.Second)
	return marshal(t, s)
}

func TestRegistrationRefused(t *testing.T) {
	rp := newTestRP(t)
	tests := []struct {
		name string
		// setup returns the user, session and response to finish with.
		setup   func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte)
		wantErr string
	}{
		{
			name: "wrong origin",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				a.origin = "https://evil.example"
				return begin(t, rp, *u, a, "")
			},
			wantErr: "Error validating origin (Expected Values: [https://login.example.com], Received: https://evil.example)",
		},
		{
			name: "origin with another port",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				a.origin = "https://login.example.com:8443"
				return begin(t, rp, *u, a, "")
			},
			wantErr: "Error validating origin",
		},
		{
			name: "wrong RP ID",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				a.rpID = "example.com"
				return begin(t, rp, *u, a, "")
			},
			wantErr: "RP Hash mismatch",
		},
		{
			name: "challenge from another session",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				_, session, err := rp.BeginRegistration(*u, "", "")
				if err != nil {
					t.Fatal(err)
				}
				_, _, resp := begin(t, rp, *u, a, "")
				return *u, session, resp
			},
			wantErr: "Error validating challenge",
		},
		{
			name: "user verification required but not done",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				a.uv = false
				return begin(t, rp, *u, a, "required")
			},
			wantErr: "User verification required but flag not set",
		},
		{
			name: "session of another user",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				_, session, resp := begin(t, rp, *u, a, "")
				return testUser("mallory"), session, resp
			},
			wantErr: "ID mismatch for User and Session",
		},
		{
			name: "login session",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				register(t, rp, newAuthenticator(testOrigin), u)
				_, session, err := rp.BeginLogin(*u, "")
				if err != nil {
					t.Fatal(err)
				}
				_, _, resp := begin(t, rp, *u, a, "")
				return *u, session, resp
			},
			wantErr: "the session belongs to a login ceremony",
		},
		{
			name: "expired session",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				u2, session, resp := begin(t, rp, *u, a, "")
				return u2, expire(t, session), resp
			},
			wantErr: "Session has Expired",
		},
		{
			name: "unreadable session",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				_, _, resp := begin(t, rp, *u, a, "")
				return *u, []byte("nonsense"), resp
			},
			wantErr: "session record is unreadable",
		},
		{
			name: "response is not a credential",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				_, session, _ := begin(t, rp, *u, a, "")
				return *u, session, []byte(`{"id":"","type":"public-key"}`)
			},
			wantErr: "registration refused: Parse error for Registration (Missing ID)",
		},
		{
			name: "credential already registered to the user",
			setup: func(t *testing.T, u *User, a *softAuthenticator) (User, []byte, []byte) {
				a.reregister = register(t, rp, a, u).ID
				return begin(t, rp, *u, a, "")
			},
			wantErr: "is already registered to this user",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := testUser("alice")
			a := newAuthenticator(testOrigin)
			fu, session, resp := tt.setup(t, &u, a)
			c, err := rp.FinishRegistration(fu, session, resp)
			if err == nil {
				t.Fatalf("registration accepted: %x", c.ID)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "passkey: ") {
				t.Fatalf("error = %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// begin starts a registration for u and has a answer it.
func begin(t *testing.T, rp *RelyingParty, u User, a *softAuthenticator, uv string) (User, []byte, []byte) {
	t.Helper()
	options, session, err := rp.BeginRegistration(u, uv, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.create(t, options)
	if err != nil {
		t.Fatal(err)
	}
	return u, session, resp
}
