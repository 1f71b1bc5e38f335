package saml

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Test reads the IdP's metadata anew (fetching it when it is given by URL)
// and reports, in one message, everything that would make sign-ins fail or
// that needs the administrator soon: certificates outside their validity,
// metadata past its validUntil.
func (c *samlConnector) Test(ctx context.Context) error {
	md, err := c.metadata.refresh(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	var problems []string
	for _, cert := range md.signingCerts {
		if p := certificateProblem("the IdP's signing certificate", cert, now); p != "" {
			problems = append(problems, p)
		}
	}
	if !md.validUntil.IsZero() && !now.Before(md.validUntil) {
		problems = append(problems, fmt.Sprintf("the IdP's metadata expired on %s (validUntil); load a current copy", day(md.validUntil)))
	}
	if p := certificateProblem("Gatehouse's SP certificate", c.key.cert, now); p != "" {
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return errorf(gatehouse.EINVALID, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// certificateProblem describes a certificate that is not valid at now.
func certificateProblem(what string, cert *x509.Certificate, now time.Time) string {
	name := cert.Subject.CommonName
	if name == "" {
		name = cert.Subject.String()
	}
	switch {
	case now.Before(cert.NotBefore):
		return fmt.Sprintf("%s %q is not valid before %s", what, name, day(cert.NotBefore))
	case now.After(cert.NotAfter):
		return fmt.Sprintf("%s %q expired on %s", what, name, day(cert.NotAfter))
	}
	return ""
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
