package saml

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"time"

	crewjam "github.com/crewjam/saml"
)

// spMetadataCacheDuration asks the IdP to re-read our metadata daily. The
// metadata root must carry validUntil or cacheDuration; a validUntil would
// make a copy the IdP loaded once go stale.
const spMetadataCacheDuration = 24 * time.Hour

// Metadata returns the SP metadata the IdP's administrator loads: our
// entity id, our signing certificate, the ACS (HTTP-POST) and the NameID
// formats we can link. It does not need the IdP, so it is available before
// the IdP is reachable. Encryption is not offered: assertions are protected
// by TLS and signatures, and encrypted ones are refused.
func (c *samlConnector) Metadata(context.Context) ([]byte, error) {
	yes := true
	signsRequests := c.settings.SignAuthnRequests
	ed := crewjam.EntityDescriptor{
		EntityID:      c.entityID,
		CacheDuration: spMetadataCacheDuration,
		SPSSODescriptors: []crewjam.SPSSODescriptor{{
			SSODescriptor: crewjam.SSODescriptor{
				RoleDescriptor: crewjam.RoleDescriptor{
					ProtocolSupportEnumeration: saml2ProtocolNS,
					KeyDescriptors: []crewjam.KeyDescriptor{{
						Use: "signing",
						KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
							X509Certificates: []crewjam.X509Certificate{{Data: base64.StdEncoding.EncodeToString(c.key.cert.Raw)}},
						}},
					}},
				},
				NameIDFormats: []crewjam.NameIDFormat{
					crewjam.PersistentNameIDFormat,
					crewjam.EmailAddressNameIDFormat,
					crewjam.UnspecifiedNameIDFormat,
				},
			},
			AuthnRequestsSigned:  &signsRequests,
			WantAssertionsSigned: &yes,
			AssertionConsumerServices: []crewjam.IndexedEndpoint{{
				Binding:   crewjam.HTTPPostBinding,
				Location:  c.acs.String(),
				Index:     0,
				IsDefault: &yes,
			}},
		}},
	}
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml: encoding the SP metadata: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}
