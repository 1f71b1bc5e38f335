package server

import (
	"net/http"
	"sync"

	"github.com/gatehouse/gatehouse/service"
)

// discoveryDocument is OpenID Connect Discovery 1.0 §3 for one issuer.
type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	// Every authorization response carries iss (RFC 9207).
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

func newDiscovery(svc *service.Service, envID string) discoveryDocument {
	iss := svc.Issuer(envID)
	return discoveryDocument{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + "/oauth2/authorize",
		TokenEndpoint:                     iss + "/oauth2/token",
		UserinfoEndpoint:                  iss + "/oauth2/userinfo",
		JWKSURI:                           iss + "/oauth2/jwks",
		IntrospectionEndpoint:             iss + "/oauth2/introspect",
		RevocationEndpoint:                iss + "/oauth2/revoke",
		EndSessionEndpoint:                iss + "/oauth2/logout",
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access", "api"},
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query", "form_post"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"ES256", "EdDSA", "RS256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified", "env", "user_type", "roles"},
		AuthorizationResponseIssParameterSupported: true,
	}
}

// discoveryCache holds each environment's rendered document; the document
// depends only on the base URL and the environment id.
var discoveryCache sync.Map

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	doc, ok := discoveryCache.Load(s.svc.Issuer(envID))
	if !ok {
		doc = newDiscovery(s.svc, envID)
		discoveryCache.Store(s.svc.Issuer(envID), doc)
	}
	writeJSON(w, http.StatusOK, doc)
}
