package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"

	"github.com/gatehouse/gatehouse"
)

// Audit actions of applications.
const (
	ActionAppCreated       = "APPLICATION_CREATED"
	ActionAppUpdated       = "APPLICATION_UPDATED"
	ActionAppDeleted       = "APPLICATION_DELETED"
	ActionAppSecretRotated = "APPLICATION_SECRET_ROTATED"
)

// clientSecretKeyName is the environment secret that keys client-secret
// hashes. Client secrets are 256-bit random values, so a fast keyed hash
// suffices; a KDF would only slow every token request.
const clientSecretKeyName = "client-secret-key"

// CreatedApplication is a new application with its secret, shown once.
type CreatedApplication struct {
	*gatehouse.Application
	ClientSecret string `json:"clientSecret,omitempty"`
}

// CreateApplication registers an OAuth client. Confidential types get a
// secret, returned once and stored only as a keyed hash.
func (s *Service) CreateApplication(ctx context.Context, actor Actor, envID string, app gatehouse.Application) (*CreatedApplication, error) {
	now := s.now()
	app.EnvironmentID, app.ID, app.ClientID, app.CreatedOn, app.UpdatedOn = envID, gatehouse.NewID(), randomToken(18), now, now
	if app.GrantTypes == nil {
		app.GrantTypes = gatehouse.DefaultGrantTypes(app.Type)
	}
	if err := app.Validate(); err != nil {
		return nil, err
	}
	out := &CreatedApplication{Application: &app}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if app.Confidential() {
			secret, hash, err := s.newClientSecret(ctx, r, envID, app.ClientID)
			if err != nil {
				return err
			}
			out.ClientSecret, app.SecretHash = secret, hash
		}
		if err := s.ensureAlgorithmKeys(ctx, r, envID, app.TokenAlgorithm()); err != nil {
			return err
		}
		if err := r.CreateApplication(ctx, &app); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionAppCreated, TargetType: "APPLICATION", TargetID: app.ID,
			Details: map[string]string{"name": app.Name, "type": app.Type, "clientId": app.ClientID}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) newClientSecret(ctx context.Context, r gatehouse.Repositories, envID, clientID string) (string, []byte, error) {
	key, err := s.clientSecretKey(ctx, r, envID)
	if err != nil {
		return "", nil, err
	}
	secret := randomToken(32)
	return secret, secretHash(key, clientID, secret), nil
}

// clientSecretKey returns the environment's hashing key, creating it on
// first use.
func (s *Service) clientSecretKey(ctx context.Context, r gatehouse.Repositories, envID string) ([]byte, error) {
	return s.environmentKey(ctx, r, envID, clientSecretKeyName)
}

// environmentKey is a 256-bit key of the environment, kept encrypted under
// name and made at its first use.
func (s *Service) environmentKey(ctx context.Context, r gatehouse.Repositories, envID, name string) ([]byte, error) {
	sec, err := r.GetSecret(ctx, envID, name)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		key := make([]byte, 32)
		rand.Read(key)
		sealed, err := s.seal(envID, name, key)
		if err != nil {
			return nil, err
		}
		return key, r.PutSecret(ctx, sealed)
	}
	if err != nil {
		return nil, err
	}
	return s.Keyring.Decrypt(sec.Ciphertext, aad(envID, name))
}

func secretHash(key []byte, clientID, secret string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// ClientAuthenticated returns the application whose client id and secret
// these are. Every failure answers the same error.
func (s *Service) ClientAuthenticated(ctx context.Context, envID, clientID, secret string) (*gatehouse.Application, error) {
	refuse := gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "client authentication failed")
	if clientID == "" || len(clientID) > 200 || len(secret) > 500 {
		return nil, refuse
	}
	app, err := s.applicationByClientID(ctx, envID, clientID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, refuse
	}
	if err != nil {
		return nil, err
	}
	if !app.Confidential() || len(app.SecretHash) == 0 {
		return nil, refuse
	}
	key, err := s.cache.clientKeys.get(envID, func() ([]byte, error) { return s.OpenSecret(ctx, envID, clientSecretKeyName) })
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(secretHash(key, clientID, secret), app.SecretHash) {
		return nil, refuse
	}
	return app, nil
}

// applicationByClientID reads an application, cached briefly; callers must
// not change what it returns.
func (s *Service) applicationByClientID(ctx context.Context, envID, clientID string) (*gatehouse.Application, error) {
	return s.cache.apps.get(envID+"\x00"+clientID, func() (*gatehouse.Application, error) {
		return s.Store.GetApplicationByClientID(ctx, envID, clientID)
	})
}

// PublicClient returns a public application (spa, native) named by its
// client id; a confidential one must authenticate and is refused here.
func (s *Service) PublicClient(ctx context.Context, envID, clientID string) (*gatehouse.Application, error) {
	refuse := gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "client authentication failed")
	if clientID == "" || len(clientID) > 200 {
		return nil, refuse
	}
	app, err := s.applicationByClientID(ctx, envID, clientID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND || (err == nil && app.Confidential()) {
		return nil, refuse
	}
	return app, err
}

// ListApplications lists an environment's applications.
func (s *Service) ListApplications(ctx context.Context, envID string) ([]*gatehouse.Application, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.Store.ListApplications(ctx, envID)
}

// GetApplication returns one application.
func (s *Service) GetApplication(ctx context.Context, envID, id string) (*gatehouse.Application, error) {
	return s.Store.GetApplication(ctx, envID, id)
}

// ApplicationPatch changes some settings of an application.
type ApplicationPatch struct {
	Name                   *string
	Description            *string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	GrantTypes             *[]string
	Roles                  *[]string
	RefreshTokens          *bool
	AccessTokenSeconds     *int
	RefreshTokenSeconds    *int
	SigningAlgorithm       *string
	Scopes                 *[]string
	MFARequired            *bool
}

// UpdateApplication applies a patch; type and client id never change.
func (s *Service) UpdateApplication(ctx context.Context, actor Actor, envID, id string, p ApplicationPatch) (*gatehouse.Application, error) {
	return s.changeApplication(ctx, actor, envID, id, ActionAppUpdated, func(r gatehouse.Repositories, a *gatehouse.Application) error {
		if err := ApplyApplicationPatch(a, p); err != nil {
			return err
		}
		if err := a.Validate(); err != nil {
			return err
		}
		return s.ensureAlgorithmKeys(ctx, r, envID, a.TokenAlgorithm())
	})
}

// RotateSecret replaces a confidential application's secret; the old one
// stops working at once.
func (s *Service) RotateSecret(ctx context.Context, actor Actor, envID, id string) (*CreatedApplication, error) {
	var secret string
	app, err := s.changeApplication(ctx, actor, envID, id, ActionAppSecretRotated, func(r gatehouse.Repositories, a *gatehouse.Application) error {
		if !a.Confidential() {
			return gatehouse.Errorf(gatehouse.EINVALID, "%s applications are public clients and have no secret", a.Type)
		}
		var err error
		secret, a.SecretHash, err = s.newClientSecret(ctx, r, envID, a.ClientID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &CreatedApplication{Application: app, ClientSecret: secret}, nil
}

func (s *Service) changeApplication(ctx context.Context, actor Actor, envID, id, action string, change func(gatehouse.Repositories, *gatehouse.Application) error) (*gatehouse.Application, error) {
	var app *gatehouse.Application
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		if app, err = r.GetApplication(ctx, envID, id); err != nil {
			return err
		}
		if err := change(r, app); err != nil {
			return err
		}
		app.UpdatedOn = s.now()
		if err := r.UpdateApplication(ctx, app); err != nil {
			return err
		}
		s.cache.apps.forget(envID + "\x00" + app.ClientID)
		return s.audit(ctx, r, envID, actor, Change{Action: action, TargetType: "APPLICATION", TargetID: id})
	})
	return app, err
}

// DeleteApplication deletes an application; its tokens stop working as they
// expire and refresh tokens at once.
func (s *Service) DeleteApplication(ctx context.Context, actor Actor, envID, id string) error {
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		app, err := r.GetApplication(ctx, envID, id)
		if err != nil {
			return err
		}
		if err := r.DeleteApplication(ctx, envID, id); err != nil {
			return err
		}
		s.cache.apps.forget(envID + "\x00" + app.ClientID)
		return s.audit(ctx, r, envID, actor, Change{Action: ActionAppDeleted, TargetType: "APPLICATION", TargetID: id})
	})
}

// ApplyApplicationPatch sets the patch's fields on a new application.
func ApplyApplicationPatch(a *gatehouse.Application, p ApplicationPatch) error {
	set := func(from *string, to *string) {
		if from != nil {
			*to = *from
		}
	}
	set(p.Name, &a.Name)
	set(p.Description, &a.Description)
	for _, l := range []struct{ from, to *[]string }{
		{p.RedirectURIs, &a.RedirectURIs}, {p.PostLogoutRedirectURIs, &a.PostLogoutRedirectURIs},
		{p.GrantTypes, &a.GrantTypes}, {p.Roles, &a.Roles},
	} {
		if l.from != nil {
			*l.to = slices.Clone(*l.from)
		}
	}
	if p.MFARequired != nil {
		a.MFARequired = *p.MFARequired
	}
	if p.RefreshTokens != nil {
		a.RefreshTokens = *p.RefreshTokens
	}
	if p.AccessTokenSeconds != nil {
		a.AccessTokenSeconds = *p.AccessTokenSeconds
	}
	if p.RefreshTokenSeconds != nil {
		a.RefreshTokenSeconds = *p.RefreshTokenSeconds
	}
	if p.SigningAlgorithm != nil {
		a.SigningAlgorithm = *p.SigningAlgorithm
	}
	if p.Scopes != nil {
		a.Scopes = slices.Clone(*p.Scopes)
	}
	return nil
}
