package saml

import (
	"context"
	"encoding/json"
	"fmt"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse"
)

const entityNameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"

// LogoutURL sends a signed LogoutRequest for the session that logout
// (Identity.Logout) names to the IdP's HTTP-Redirect SingleLogoutService,
// with returnTo as RelayState. IdPs that lack one get an error.
func (c *samlConnector) LogoutURL(ctx context.Context, logout, returnTo string) (string, error) {
	var st logoutState
	if err := json.Unmarshal([]byte(logout), &st); err != nil || st.NameID == "" {
		return "", fmt.Errorf("saml: the logout state is unreadable")
	}
	md, err := c.metadata.get(ctx)
	if err != nil {
		return "", err
	}
	if md.sloRedirect == "" {
		return "", errorf(gatehouse.EINVALID, "the identity provider offers no single logout (no HTTP-Redirect SingleLogoutService in its metadata)")
	}
	id, err := newMessageID()
	if err != nil {
		return "", err
	}
	req := &crewjam.LogoutRequest{
		ID:           id,
		Version:      "2.0",
		IssueInstant: c.now().UTC(),
		Destination:  md.sloRedirect,
		Issuer:       &crewjam.Issuer{Format: entityNameIDFormat, Value: c.entityID},
		NameID: &crewjam.NameID{
			Format:          st.Format,
			NameQualifier:   st.NameQualifier,
			SPNameQualifier: st.SPNameQualifier,
			Value:           st.NameID,
		},
	}
	if st.SessionIndex != "" {
		req.SessionIndex = &crewjam.SessionIndex{Value: st.SessionIndex}
	}
	u, err := c.serviceProvider(md).RedirectLogoutRequestURL(req, returnTo)
	if err != nil {
		return "", fmt.Errorf("saml: encoding the LogoutRequest: %w", err)
	}
	return u.String(), nil
}
