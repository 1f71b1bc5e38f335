package passkey

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// loginFixture is a user with one registered credential on a, and a second
// user, bob, with his own credential on the same authenticator.
type loginFixture struct {
	rp         *RelyingParty
	a          *softAuthenticator
	alice, bob User
}

func newLoginFixture(t *testing.T) *loginFixture {
	t.Helper()
	f := &loginFixture{rp: newTestRP(t), a: newAuthenticator(testOrigin), alice: testUser("alice"), bob: testUser("bob")}
	register(t, f.rp, f.a, &f.alice)
	register(t, f.rp, f.a, &f.bob)
	return f
}

// beginLogin starts a login for u and returns its options and session.
func (f *loginFixture) beginLogin(t *testing.T, u User, uv string) ([]byte, []byte) {
	t.Helper()
	options, session, err := f.rp.BeginLogin(u, uv)
	if err != nil {
		t.Fatal(err)
	}
	return options, session
}

func TestLoginRefused(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the user, session and response to finish with.
		setup   func(t *testing.T, f *loginFixture) (User, []byte, []byte)
		wantIs  error
		wantErr string
	}{
		{
			name: "wrong origin",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				f.a.origin = "https://login.example.com.evil.example"
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "login refused: Error validating origin (Expected Values: [https://login.example.com], Received: https://login.example.com.evil.example)",
		},
		{
			name: "plain http origin",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				f.a.origin = "http://login.example.com"
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "Error validating origin",
		},
		{
			name: "wrong RP ID",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				f.a.rpID = "evil.example"
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "login refused: Error validating the authenticator response (RP Hash mismatch.",
		},
		{
			name: "challenge from another session",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, _ := f.beginLogin(t, f.alice, "")
				_, session := f.beginLogin(t, f.alice, "")
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "login refused: Error validating challenge",
		},
		{
			name: "user verification required but not done",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "required")
				f.a.uv = false
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "User verification required but flag not set by authenticator",
		},
		{
			name: "credential of another user",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				return f.alice, session, f.a.getWith(t, options, f.bob.Credentials[0].ID).json(t)
			},
			wantIs: ErrUnknownCredential,
		},
		{
			name: "credential registered to no one",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				stray := newAuthenticator(testOrigin)
				other := testUser("alice")
				register(t, f.rp, stray, &other)
				options, session := f.beginLogin(t, f.alice, "")
				return f.alice, session, stray.getWith(t, options, other.Credentials[0].ID).json(t)
			},
			wantIs: ErrUnknownCredential,
		},
		{
			name: "another user's session",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.bob, "")
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "ID mismatch for User and Session",
		},
		{
			name: "tampered signature",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				s := f.a.get(t, options)
				s.signature[len(s.signature)-1] ^= 0x01
				return f.alice, session, s.json(t)
			},
			wantErr: "Error validating the assertion signature",
		},
		{
			name: "UV flag set after signing",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "required")
				f.a.uv = false
				s := f.a.get(t, options)
				s.authData[32] |= flagUV
				return f.alice, session, s.json(t)
			},
			wantErr: "Error validating the assertion signature",
		},
		{
			name: "clientDataJSON swapped after signing",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				s := f.a.get(t, options)
				s.clientDataJSON = bytes.Replace(s.clientDataJSON, []byte(`"crossOrigin":false`), []byte(`"crossOrigin":false `), 1)
				return f.alice, session, s.json(t)
			},
			wantErr: "Error validating the assertion signature",
		},
		{
			name: "registration session",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, _ := f.beginLogin(t, f.alice, "")
				_, session, err := f.rp.BeginRegistration(f.alice, "", "")
				if err != nil {
					t.Fatal(err)
				}
				return f.alice, session, f.a.get(t, options).json(t)
			},
			wantErr: "login refused: the session belongs to a registration ceremony",
		},
		{
			name: "expired session",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				options, session := f.beginLogin(t, f.alice, "")
				return f.alice, expire(t, session), f.a.get(t, options).json(t)
			},
			wantErr: "Session has Expired",
		},
		{
			name: "response is not an assertion",
			setup: func(t *testing.T, f *loginFixture) (User, []byte, []byte) {
				_, session := f.beginLogin(t, f.alice, "")
				return f.alice, session, []byte(`[]`)
			},
			wantErr: "login refused: Parse error for Assertion",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLoginFixture(t)
			u, session, resp := tt.setup(t, f)
			id, count, err := f.rp.FinishLogin(u, session, resp)
			if err == nil {
				t.Fatalf("login accepted with credential %x count %d", id, count)
			}
			if !strings.HasPrefix(err.Error(), "passkey: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("error = %q, want %q", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %q, want one containing %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrReplayed) {
				t.Fatalf("error = %q is not a replay", err)
			}
			if id != nil || count != 0 {
				t.Errorf("refused login returned credential %x count %d", id, count)
			}
			// The challenge mismatch must not put challenges in the log.
			if strings.Contains(err.Error(), "Expected b Value") {
				t.Errorf("error %q shows the challenges", err)
			}
		})
	}
}

func TestUserVerificationPolicy(t *testing.T) {
	tests := []struct {
		uv       string
		verified bool
		wantOK   bool
	}{
		{uv: "required", verified: true, wantOK: true},
		{uv: "required", verified: false, wantOK: false},
		{uv: "preferred", verified: false, wantOK: true},
		{uv: "discouraged", verified: false, wantOK: true},
		{uv: "discouraged", verified: true, wantOK: true},
	}
	for _, tt := range tests {
		name := tt.uv
		if !tt.verified {
			name += " without UV"
		}
		t.Run(name, func(t *testing.T) {
			rp := newTestRP(t)
			a := newAuthenticator(testOrigin)
			a.uv = tt.verified
			u := testUser("alice")
			// Registration under the same policy.
			_, session, resp := begin(t, rp, u, a, tt.uv)
			c, err := rp.FinishRegistration(u, session, resp)
			if (err == nil) != tt.wantOK {
				t.Fatalf("registration error = %v, want success %v", err, tt.wantOK)
			}
			if err != nil {
				// Log in with a credential registered with verification.
				a.uv = true
				register(t, rp, a, &u)
				a.uv = tt.verified
			} else {
				u.Credentials = append(u.Credentials, c)
			}
			_, _, err = login(t, rp, a, &u, tt.uv)
			if (err == nil) != tt.wantOK {
				t.Fatalf("login error = %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func TestReplayRefused(t *testing.T) {
	tests := []struct {
		name string
		// attack logs alice in once normally and then returns the session
		// and response an attacker finishes with.
		attack func(t *testing.T, rp *RelyingParty, a *softAuthenticator, u *User) ([]byte, []byte)
		// wantStored is the counter the refused login reports as stored.
		wantStored uint32
	}{
		{
			// The caller failed to discard the session: the same response
			// comes back, its counter no longer above the stored one.
			name: "same assertion submitted twice",
			attack: func(t *testing.T, rp *RelyingParty, a *softAuthenticator, u *User) ([]byte, []byte) {
				options, session, err := rp.BeginLogin(*u, "")
				if err != nil {
					t.Fatal(err)
				}
				resp := a.get(t, options).json(t)
				id, count, err := rp.FinishLogin(*u, session, resp)
				if err != nil || count != 2 {
					t.Fatalf("first use: count %d, %v", count, err)
				}
				u.Credentials[0].SignCount = count
				_ = id
				return session, resp
			},
			wantStored: 2,
		},
		{
			// A copy of the key taken after the first login answers a
			// fresh challenge with a counter that lags the real one.
			name: "cloned authenticator",
			attack: func(t *testing.T, rp *RelyingParty, a *softAuthenticator, u *User) ([]byte, []byte) {
				clone := a.clone()
				for range 3 {
					if _, _, err := login(t, rp, a, u, ""); err != nil {
						t.Fatal(err)
					}
				}
				options, session, err := rp.BeginLogin(*u, "")
				if err != nil {
					t.Fatal(err)
				}
				return session, clone.get(t, options).json(t)
			},
			wantStored: 4,
		},
		{
			// An authenticator that counted before and now says 0.
			name: "counter back to zero",
			attack: func(t *testing.T, rp *RelyingParty, a *softAuthenticator, u *User) ([]byte, []byte) {
				options, session, err := rp.BeginLogin(*u, "")
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range a.creds {
					c.counter = 0
				}
				a.frozenCounter = true
				return session, a.get(t, options).json(t)
			},
			wantStored: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newTestRP(t)
			a := newAuthenticator(testOrigin)
			u := testUser("alice")
			c := register(t, rp, a, &u)
			if _, count, err := login(t, rp, a, &u, ""); err != nil || count != 1 {
				t.Fatalf("first login: count %d, %v", count, err)
			}
			session, resp := tt.attack(t, rp, a, &u)
			id, count, err := rp.FinishLogin(u, session, resp)
			if !errors.Is(err, ErrReplayed) {
				t.Fatalf("error = %v, want ErrReplayed", err)
			}
			if !bytes.Equal(id, c.ID) || count != tt.wantStored {
				t.Fatalf("replay reported credential %x count %d, want %x and the stored count %d", id, count, c.ID, tt.wantStored)
			}
			if !strings.Contains(err.Error(), "stored counter is") {
				t.Errorf("error %q does not give the counters", err)
			}
		})
	}
}
