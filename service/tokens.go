package service

import (
	"context"
	"crypto"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/signing"
)

// AccessClaims are the claims of Gatehouse access tokens (RFC 9068 shape,
// plus the environment and roles the platform authorises on).
type AccessClaims struct {
	Issuer      string                     `json:"iss"`
	Subject     string                     `json:"sub"`
	Audience    jwt.Audience               `json:"aud,omitempty"`
	IssuedAt    int64                      `json:"iat"`
	NotBefore   int64                      `json:"nbf"`
	Expiry      int64                      `json:"exp"`
	ID          string                     `json:"jti"`
	ClientID    string                     `json:"client_id"`
	Environment string                     `json:"env"`
	Scope       string                     `json:"scope,omitempty"`
	SubjectType string                     `json:"sub_type"` // USER or APPLICATION
	Username    string                     `json:"username,omitempty"`
	GivenName   string                     `json:"given_name,omitempty"`
	FamilyName  string                     `json:"family_name,omitempty"`
	Email       string                     `json:"email,omitempty"`
	UserType    string                     `json:"user_type,omitempty"`
	AdminRoles  []string                   `json:"admin_roles,omitempty"`
	Roles       []gatehouse.RoleAssignment `json:"roles,omitempty"`
}

// Issuer is an environment's issuer identifier.
func (s *Service) Issuer(envID string) string { return s.BaseURL + "/" + envID }

// keyCache holds parsed signing keys by environment and key id. A key id is
// the thumbprint of the key, so an entry never goes stale.
var keyCache sync.Map // envID + "/" + kid → crypto.Signer or *jose.JSONWebKey

// currentSigner returns the environment's current signing key.
func (s *Service) currentSigner(ctx context.Context, envID, alg, typ string) (jose.Signer, error) {
	keys, err := s.signingKeys(ctx, envID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(keys, func(k *gatehouse.SigningKey) bool { return k.State == gatehouse.KeyCurrent && k.Algorithm == alg })
	if i < 0 {
		return nil, gatehouse.Errorf(gatehouse.EINTERNAL, "environment %s has no current %s signing key", envID, alg)
	}
	k := keys[i]
	cacheKey := envID + "/" + k.KID + "/private"
	var signer crypto.Signer
	if v, ok := keyCache.Load(cacheKey); ok {
		signer = v.(crypto.Signer)
	} else {
		der, err := s.OpenSecret(ctx, envID, k.SecretName)
		if err != nil {
			return nil, err
		}
		if signer, err = signing.ParsePrivate(der); err != nil {
			return nil, err
		}
		keyCache.Store(cacheKey, signer)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", k.KID)
	return jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: signer}, opts)
}

// MintAccessToken signs claims with the environment's current key. It sets
// the issuer, times and id.
func (s *Service) MintAccessToken(ctx context.Context, envID string, c AccessClaims, ttl time.Duration) (string, error) {
	return s.mintAccessToken(ctx, envID, DefaultSigningAlgorithm, c, ttl)
}

// MintAccessTokenFor signs with the algorithm the application asks for.
func (s *Service) MintAccessTokenFor(ctx context.Context, envID string, app *gatehouse.Application, c AccessClaims, ttl time.Duration) (string, error) {
	return s.mintAccessToken(ctx, envID, app.TokenAlgorithm(), c, ttl)
}

func (s *Service) mintAccessToken(ctx context.Context, envID, alg string, c AccessClaims, ttl time.Duration) (string, error) {
	signer, err := s.currentSigner(ctx, envID, alg, "at+jwt")
	if err != nil {
		return "", err
	}
	now := s.now()
	c.Issuer, c.Environment = s.Issuer(envID), envID
	if c.ID == "" {
		c.ID = gatehouse.NewID()
	}
	c.IssuedAt, c.NotBefore, c.Expiry = now.Unix(), now.Unix(), now.Add(ttl).Unix()
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}

// verifyAlgorithms are the only algorithms a token may claim: never none,
// never an HMAC that a public key could be abused as.
var verifyAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// VerifyAccessToken checks a bearer token of an environment: signature by
// one of that environment's keys, issuer, expiry. A token of another
// environment, a tampered or expired one, all answer EUNAUTHORIZED.
func (s *Service) VerifyAccessToken(ctx context.Context, envID, raw string) (*AccessClaims, error) {
	refuse := gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the access token is not valid for this environment")
	if len(raw) > 8192 {
		return nil, refuse
	}
	if _, err := s.ActiveEnvironment(ctx, envID); err != nil {
		return nil, refuse
	}
	tok, err := jose.ParseSignedCompact(raw, verifyAlgorithms)
	if err != nil || len(tok.Signatures) != 1 {
		return nil, refuse
	}
	h := tok.Signatures[0].Header
	if h.KeyID == "" || h.ExtraHeaders["typ"] != "at+jwt" {
		return nil, refuse
	}
	key, err := s.verificationKey(ctx, envID, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key == nil || key.Algorithm != h.Algorithm {
		return nil, refuse
	}
	payload, err := tok.Verify(key)
	if err != nil {
		return nil, refuse
	}
	var c AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse
	}
	now := s.now().Unix()
	const leeway = 30
	if c.Issuer != s.Issuer(envID) || c.Environment != envID || now > c.Expiry+leeway || now+leeway < c.NotBefore {
		return nil, refuse
	}
	return &c, nil
}

// verificationKey finds the public key with kid among the environment's
// keys, or nil when it has none such.
func (s *Service) verificationKey(ctx context.Context, envID, kid string) (*jose.JSONWebKey, error) {
	keys, err := s.signingKeys(ctx, envID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(keys, func(k *gatehouse.SigningKey) bool { return k.KID == kid })
	if i < 0 {
		return nil, nil
	}
	cacheKey := envID + "/" + kid + "/public"
	if v, ok := keyCache.Load(cacheKey); ok {
		return v.(*jose.JSONWebKey), nil
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(keys[i].PublicJWK); err != nil {
		return nil, err
	}
	keyCache.Store(cacheKey, &jwk)
	return &jwk, nil
}

// Audit actions of the token service.
const (
	ActionTokenIssued      = gatehouse.AuditActionTokenIssued
	ActionClientAuthFailed = "CLIENT_AUTHENTICATION_FAILED"
)

// RecordTokenIssued audits a token, in a batch.
func (s *Service) RecordTokenIssued(ctx context.Context, envID string, actor Actor, grant, clientID string) {
	s.record(ctx, s.event(envID, actor, Change{Action: ActionTokenIssued, TargetType: "APPLICATION", TargetID: clientID,
		Details: map[string]string{"grant": grant}}))
}

// RecordClientAuthFailure audits a failed client authentication, in a batch.
func (s *Service) RecordClientAuthFailure(ctx context.Context, envID string, actor Actor, clientID string) {
	s.record(ctx, s.event(envID, actor, Change{Action: ActionClientAuthFailed, TargetType: "APPLICATION",
		TargetID: truncateText(clientID, 200), Outcome: gatehouse.OutcomeFailure}))
}

// RecordTokenRefusal audits a refused token request.
func (s *Service) RecordTokenRefusal(ctx context.Context, envID string, actor Actor, reason string) {
	s.record(ctx, s.event(envID, actor, Change{Action: "TOKEN_REQUEST_REFUSED", TargetType: "APPLICATION",
		Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"reason": truncateText(reason, 300)}}))
}

// RecordBearerFailure audits a refused bearer token in an environment that
// exists (an unknown environment has no log to write to).
func (s *Service) RecordBearerFailure(ctx context.Context, envID string, actor Actor, request string) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return
	}
	s.record(ctx, s.event(envID, actor, Change{Action: ActionAuthenticationFailed, TargetType: "API",
		TargetID: truncateText(request, 200), Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"credential": "bearer"}}))
}

// record writes a high-volume event through the batcher when there is one.
func (s *Service) record(ctx context.Context, e *gatehouse.AuditEvent) {
	if s.Audit != nil {
		s.Audit.Record(ctx, e)
		return
	}
	s.Store.AppendAuditEvent(ctx, e)
}

// CurrentAdminRoles returns the administrator roles the token's subject
// holds now: an application's roles, or a user's roles without a context.
// A deleted application or a deleted or inactive user holds none and is
// refused.
func (s *Service) CurrentAdminRoles(ctx context.Context, envID string, c *AccessClaims) ([]string, error) {
	refuse := gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "the token's subject no longer exists or is disabled")
	switch c.SubjectType {
	case gatehouse.ActorApplication:
		app, err := s.applicationByClientID(ctx, envID, c.ClientID)
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return nil, refuse
		}
		if err != nil {
			return nil, err
		}
		return app.Roles, nil
	case gatehouse.ActorUser:
		u, err := s.Store.GetUser(ctx, envID, c.Subject)
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return nil, refuse
		}
		if err != nil {
			return nil, err
		}
		if u.Status != gatehouse.UserActive {
			return nil, refuse
		}
		var roles []string
		for _, a := range u.Roles {
			if a.Context == nil && slices.Contains(gatehouse.AdminRoles, a.Role) {
				roles = append(roles, a.Role)
			}
		}
		return roles, nil
	}
	return nil, refuse
}

// idTokenAudience verifies an ID token of the environment (expired ones
// too: a logout hint may be old) and returns its audience.
func (s *Service) idTokenAudience(ctx context.Context, envID, raw string) (string, error) {
	refuse := gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "not an ID token of this environment")
	if len(raw) > 8192 {
		return "", refuse
	}
	tok, err := jose.ParseSignedCompact(raw, verifyAlgorithms)
	if err != nil || len(tok.Signatures) != 1 {
		return "", refuse
	}
	key, err := s.verificationKey(ctx, envID, tok.Signatures[0].Header.KeyID)
	if err != nil || key == nil {
		return "", refuse
	}
	payload, err := tok.Verify(key)
	if err != nil {
		return "", refuse
	}
	var c struct {
		Iss string `json:"iss"`
		Aud string `json:"aud"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Iss != s.Issuer(envID) {
		return "", refuse
	}
	return c.Aud, nil
}
