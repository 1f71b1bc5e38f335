package gatehouse

import (
	"context"
	"time"
)

// Store is everything Gatehouse persists. Each method of Repositories runs in
// its own transaction; InTx runs several in one. Engines: sqlite (embedded
// default) and postgres; both pass storetest.Run.
type Store interface {
	Repositories
	// InTx runs fn in one transaction, committed if fn returns nil and
	// rolled back otherwise.
	InTx(ctx context.Context, fn func(Repositories) error) error
	// Ping reports whether the store is reachable and its schema current.
	Ping(ctx context.Context) error
	Close() error
}

// Repositories are the store's reads and writes. Writes of a missing row
// answer ENOTFOUND and of a duplicate ECONFLICT.
type Repositories interface {
	EnvironmentRepository
	UserRepository
	ApplicationRepository
	PolicyRepository
	KeyRepository
	SecretRepository
	RoleRepository
	AuditRepository
	TokenRepository
	IdentityProviderRepository
	MFARepository
	ReportRepository
}

// EnvironmentRepository stores environments. Deleting one deletes
// everything that belongs to it.
type EnvironmentRepository interface {
	CreateEnvironment(ctx context.Context, env *Environment) error
	GetEnvironment(ctx context.Context, id string) (*Environment, error)
	// ListEnvironments lists environments by id, starting after the id
	// `after`, at most limit of them.
	ListEnvironments(ctx context.Context, after string, limit int) ([]*Environment, error)
	UpdateEnvironment(ctx context.Context, env *Environment) error
	DeleteEnvironment(ctx context.Context, id string) error
}

// UserRepository stores users. Usernames are unique per environment,
// case-insensitively.
type UserRepository interface {
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, envID, id string) (*User, error)
	GetUserByUsername(ctx context.Context, envID, username string) (*User, error)
	// ListUsers lists the users that match f in f.Order, after f.After, at
	// most f.Limit, reading at most f.Scan users when no index narrows the
	// search.
	ListUsers(ctx context.Context, envID string, f UserFilter) (UserList, error)
	// UpdateUser replaces every field of the user, its roles included.
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, envID, id string) error
	// RegisterFailedAttempt counts a failed password check atomically and
	// locks the user until lockUntil when the count reaches limit. It
	// returns the new count.
	RegisterFailedAttempt(ctx context.Context, envID, id string, limit int, lockUntil time.Time) (int, error)
	AddPasswordHistory(ctx context.Context, envID, userID, hash string, at time.Time) error
	// PasswordHistory returns the user's previous password hashes, newest
	// first, at most limit.
	PasswordHistory(ctx context.Context, envID, userID string, limit int) ([]string, error)
}

// RoleRepository stores role definitions.
type RoleRepository interface {
	CreateRole(ctx context.Context, r *Role) error
	GetRole(ctx context.Context, envID, name string) (*Role, error)
	ListRoles(ctx context.Context, envID string) ([]*Role, error)
	UpdateRole(ctx context.Context, r *Role) error
	DeleteRole(ctx context.Context, envID, name string) error
}

// AuditRepository stores the append-only audit log.
type AuditRepository interface {
	// AppendAuditEvent gives e the next sequence number of its environment,
	// links it to the previous event and stores it.
	AppendAuditEvent(ctx context.Context, e *AuditEvent) error
	// AppendAuditEvents appends several events, of any environments, in
	// order, in one transaction.
	AppendAuditEvents(ctx context.Context, events []*AuditEvent) error
	// ListAuditEvents lists events newest first.
	ListAuditEvents(ctx context.Context, envID string, f AuditFilter) ([]*AuditEvent, error)
	// WalkAuditEvents calls fn on every event of the environment in
	// sequence order, for verification and export.
	WalkAuditEvents(ctx context.Context, envID string, fn func(*AuditEvent) error) error
	// AuditHead returns the last sequence number and hash (0 and
	// AuditGenesis for an empty log).
	AuditHead(ctx context.Context, envID string) (int64, string, error)
}

// ApplicationRepository stores OAuth clients. Client ids are unique per
// environment.
type ApplicationRepository interface {
	CreateApplication(ctx context.Context, app *Application) error
	GetApplication(ctx context.Context, envID, id string) (*Application, error)
	GetApplicationByClientID(ctx context.Context, envID, clientID string) (*Application, error)
	ListApplications(ctx context.Context, envID string) ([]*Application, error)
	UpdateApplication(ctx context.Context, app *Application) error
	DeleteApplication(ctx context.Context, envID, id string) error
}

// PolicyRepository stores an environment's policies.
type PolicyRepository interface {
	PutPasswordPolicy(ctx context.Context, envID string, p *PasswordPolicy) error
	GetPasswordPolicy(ctx context.Context, envID string) (*PasswordPolicy, error)
	PutBranding(ctx context.Context, envID string, b *Branding) error
	// GetBranding answers ENOTFOUND for an environment that set none.
	GetBranding(ctx context.Context, envID string) (*Branding, error)
}

// KeyRepository stores token signing keys.
type KeyRepository interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys lists an environment's keys, newest first.
	ListSigningKeys(ctx context.Context, envID string) ([]*SigningKey, error)
	// SetSigningKeyState moves a key to another state.
	SetSigningKeyState(ctx context.Context, envID, kid, state string, at time.Time) error
	// DeleteSigningKey removes a retired key and its private half.
	DeleteSigningKey(ctx context.Context, envID, kid string) error
}

// SecretRepository stores encrypted values.
type SecretRepository interface {
	// PutSecret creates or replaces a secret.
	PutSecret(ctx context.Context, s *Secret) error
	GetSecret(ctx context.Context, envID, name string) (*Secret, error)
	DeleteSecret(ctx context.Context, envID, name string) error
	// ListSecrets lists every secret of every environment, for re-encryption.
	ListSecrets(ctx context.Context) ([]*Secret, error)
}

// TokenRepository stores what OAuth and OIDC keep between requests.
type TokenRepository interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, envID, id string) (*Session, error)
	DeleteSession(ctx context.Context, envID, id string) error
	// ListUserSessions lists a user's sessions, newest first.
	ListUserSessions(ctx context.Context, envID, userID string) ([]*Session, error)
	// DeleteUserSessions ends every session of a user and revokes every
	// refresh token of theirs.
	DeleteUserSessions(ctx context.Context, envID, userID string, at time.Time) error

	CreateAuthorizationCode(ctx context.Context, c *AuthorizationCode) error
	// UseAuthorizationCode marks the code used and returns it as it was
	// before, atomically: of two concurrent uses, exactly one sees UsedOn
	// nil.
	UseAuthorizationCode(ctx context.Context, envID, hash string, at time.Time) (*AuthorizationCode, error)
	// SetCodeAccessToken records the access token a code was exchanged for.
	SetCodeAccessToken(ctx context.Context, envID, hash, jti string, expiresAt time.Time) error

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// UseRefreshToken marks the token used and returns it as it was before,
	// atomically, like UseAuthorizationCode.
	UseRefreshToken(ctx context.Context, envID, hash string, at time.Time) (*RefreshToken, error)
	GetRefreshToken(ctx context.Context, envID, hash string) (*RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, envID, familyID string, at time.Time) error

	CreateLoginFlow(ctx context.Context, f *LoginFlow) error
	GetLoginFlow(ctx context.Context, envID, id string) (*LoginFlow, error)
	UpdateLoginFlow(ctx context.Context, f *LoginFlow) error
	DeleteLoginFlow(ctx context.Context, envID, id string) error

	RevokeAccessToken(ctx context.Context, t *RevokedToken) error
	IsAccessTokenRevoked(ctx context.Context, envID, jti string) (bool, error)
	// DeleteExpired removes codes, sessions, tokens and revocations that
	// expired before at, across environments.
	DeleteExpired(ctx context.Context, at time.Time) (int64, error)
}
