// Package service is Gatehouse's application layer: the use cases that
// combine the domain, the store and the crypto building blocks. Adapters
// (HTTP, CLI) call it; it calls nothing of theirs.
package service

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
	"github.com/gatehouse/gatehouse/keyring"
)

// Service carries what the use cases need.
type Service struct {
	Store   gatehouse.Store
	Keyring *keyring.Keyring
	// BaseURL is the public URL; an environment's issuer is BaseURL/{env}.
	BaseURL string
	// Audit records high-volume events in batches; nil writes each at once.
	Audit *AuditBatcher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Connectors are the kinds of corporate identity provider this
	// installation can use, by IdP type (cmd/gatehouse wires them).
	Connectors map[string]connector.Kind
	// HTTPClient reaches corporate IdPs; nil means one with a 10 s timeout.
	HTTPClient *http.Client
	// Mail sends email codes and password resets; nil means this server
	// sends no email, and offers neither.
	Mail Mailer
	// UserSearchScan bounds how many users one page of a user search reads
	// when no index narrows it; 0 means DefaultUserSearchScan.
	UserSearchScan int

	cache      caches
	failures   failureLimiter
	connectors connectorCache
	passkeys   rpCache
}

func itoa(n int) string { return strconv.Itoa(n) }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}
