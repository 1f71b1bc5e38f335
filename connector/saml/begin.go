package saml

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/connector"
)

// pendingState is what Begin keeps for Finish.
type pendingState struct {
	// RequestID is the AuthnRequest's ID, which the Response and its
	// assertion must name in InResponseTo.
	RequestID string `json:"id"`
}

// Begin sends the user to the IdP with an AuthnRequest, by HTTP-Redirect
// when the IdP offers it (no page of ours in between), else by HTTP-POST.
// ForceAuthn is passed on; the login hint is not: a Subject in an AuthnRequest binds the
// IdP to that exact NameID, which the typed username rarely is.
func (c *samlConnector) Begin(ctx context.Context, r connector.Request) (*connector.Start, error) {
	state := r.State
	md, err := c.metadata.get(ctx)
	if err != nil {
		return nil, err
	}
	sp := c.serviceProvider(md)
	binding, location := crewjam.HTTPRedirectBinding, md.ssoRedirect
	if location == "" {
		binding, location = crewjam.HTTPPostBinding, md.ssoPost
	}
	req, err := sp.MakeAuthenticationRequest(location, binding, crewjam.HTTPPostBinding)
	if err != nil {
		return nil, fmt.Errorf("saml: making the AuthnRequest: %w", err)
	}
	if r.ForceAuthn {
		force := true
		req.ForceAuthn = &force
		if req.Signature != nil {
			// The POST binding's signature is inside the request: sign
			// the request as changed.
			req.Signature = nil
			if err := sp.SignAuthnRequest(req); err != nil {
				return nil, fmt.Errorf("saml: signing the AuthnRequest: %w", err)
			}
		}
	}
	pending, err := json.Marshal(pendingState{RequestID: req.ID})
	if err != nil {
		return nil, err
	}
	if binding == crewjam.HTTPRedirectBinding {
		u, err := req.Redirect(state, sp)
		if err != nil {
			return nil, fmt.Errorf("saml: encoding the AuthnRequest: %w", err)
		}
		return &connector.Start{URL: u.String(), Pending: string(pending)}, nil
	}
	encoded, err := encodeForPost(req.Element())
	if err != nil {
		return nil, err
	}
	return &connector.Start{
		URL:     location,
		Form:    url.Values{"SAMLRequest": {encoded}, "RelayState": {state}},
		Pending: string(pending),
	}, nil
}

// encodeForPost serializes a (possibly signed) message as the HTTP-POST
// binding carries it: base64 of the XML, not deflated.
func encodeForPost(el *etree.Element) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("saml: encoding the request: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// decodePending reads what Begin kept.
func decodePending(pending string) (string, error) {
	var p pendingState
	if err := json.Unmarshal([]byte(pending), &p); err != nil || p.RequestID == "" {
		return "", errors.New("saml: the pending sign-in state is unreadable")
	}
	return p.RequestID, nil
}

// newMessageID returns an ID for a SAML message: 160 random bits, with a
// leading underscore because xs:ID values cannot start with a digit.
func newMessageID() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "_" + hex.EncodeToString(b), nil
}
