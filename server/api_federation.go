package server

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// identityProviderInput is the body of identity provider writes. On PATCH,
// a field left out is kept; "oidc" or "saml" given replaces those settings
// whole, except that an OIDC client secret left out is kept.
type identityProviderInput struct {
	// ID is create-only: a slug the administrator chooses, else one is
	// generated.
	ID              *string                 `json:"id"`
	Name            *string                 `json:"name"`
	Type            *string                 `json:"type"`
	OIDC            *gatehouse.OIDCSettings `json:"oidc"`
	SAML            *gatehouse.SAMLSettings `json:"saml"`
	JITProvisioning *bool                   `json:"jitProvisioning"`
	JITRoles        *[]string               `json:"jitRoles"`
	MFARequired     *bool                   `json:"mfaRequired"`
}

func (in *identityProviderInput) apply(p *gatehouse.IdentityProvider) {
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Type != nil {
		p.Type = *in.Type
	}
	if in.OIDC != nil {
		p.OIDC = in.OIDC
	}
	if in.SAML != nil {
		p.SAML = in.SAML
	}
	if in.JITProvisioning != nil {
		p.JITProvisioning = *in.JITProvisioning
	}
	if in.JITRoles != nil {
		p.JITRoles = *in.JITRoles
	}
	if in.MFARequired != nil {
		p.MFARequired = *in.MFARequired
	}
}

func (s *Server) createIdentityProvider(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in identityProviderInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	var idp gatehouse.IdentityProvider
	in.apply(&idp)
	if in.ID != nil {
		idp.ID = *in.ID
	}
	v, err := s.svc.CreateIdentityProvider(r.Context(), p.actor, p.envID, idp)
	if err != nil {
		return err
	}
	return created(w, "/api/v1/environments/"+p.envID+"/identity-providers/"+v.ID, v)
}

func (s *Server) listIdentityProviders(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.svc.ListIdentityProviders(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) getIdentityProvider(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := s.svc.GetIdentityProvider(r.Context(), p.envID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, v)
}

func (s *Server) updateIdentityProvider(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in identityProviderInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.ID != nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "an identity provider's id cannot change: users and rules name it")
	}
	v, err := s.svc.UpdateIdentityProvider(r.Context(), p.actor, p.envID, r.PathValue("id"), func(idp *gatehouse.IdentityProvider) error {
		in.apply(idp)
		return nil
	})
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, v)
}

func (s *Server) deleteIdentityProvider(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteIdentityProvider(r.Context(), p.actor, p.envID, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

// testIdentityProvider reaches the IdP and reads its configuration: the
// administrator's "test connection".
func (s *Server) testIdentityProvider(w http.ResponseWriter, r *http.Request, p *principal) error {
	err := s.svc.TestIdentityProvider(r.Context(), p.envID, r.PathValue("id"))
	switch gatehouse.ErrorCode(err) {
	case "":
		return respond(w, http.StatusOK, map[string]any{"ok": true})
	case gatehouse.EUNAVAILABLE:
		return respond(w, http.StatusOK, map[string]any{"ok": false, "problem": gatehouse.ErrorMessage(err)})
	default:
		return err
	}
}

// discoveryRuleInput is the body of discovery rule writes; on PATCH a field
// left out is kept.
type discoveryRuleInput struct {
	Order              *int    `json:"order"`
	EmailDomain        *string `json:"emailDomain"`
	Pattern            *string `json:"pattern"`
	IdentityProviderID *string `json:"identityProviderId"`
}

func (in *discoveryRuleInput) apply(d *gatehouse.DiscoveryRule) {
	if in.Order != nil {
		d.Order = *in.Order
	}
	// A rule is one kind or the other: giving one clears the other.
	if in.EmailDomain != nil {
		d.EmailDomain, d.Pattern = *in.EmailDomain, ""
	}
	if in.Pattern != nil {
		d.Pattern = *in.Pattern
		if in.EmailDomain == nil {
			d.EmailDomain = ""
		}
	}
	if in.IdentityProviderID != nil {
		d.IdentityProviderID = *in.IdentityProviderID
	}
}

func (s *Server) createDiscoveryRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in discoveryRuleInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	var d gatehouse.DiscoveryRule
	in.apply(&d)
	rule, err := s.svc.CreateDiscoveryRule(r.Context(), p.actor, p.envID, d)
	if err != nil {
		return err
	}
	return created(w, "/api/v1/environments/"+p.envID+"/discovery-rules/"+rule.ID, rule)
}

func (s *Server) listDiscoveryRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.svc.ListDiscoveryRules(r.Context(), p.envID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) getDiscoveryRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.svc.GetDiscoveryRule(r.Context(), p.envID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, d)
}

func (s *Server) updateDiscoveryRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in discoveryRuleInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	d, err := s.svc.UpdateDiscoveryRule(r.Context(), p.actor, p.envID, r.PathValue("id"), func(d *gatehouse.DiscoveryRule) {
		in.apply(d)
	})
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, d)
}

func (s *Server) deleteDiscoveryRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteDiscoveryRule(r.Context(), p.actor, p.envID, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}
