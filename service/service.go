// Package service is Gatehouse's application layer: the use cases that
// combine the domain, the store and the crypto building blocks. Adapters
// (HTTP, CLI) call it; it calls nothing of theirs.
package service

import (
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
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

	cache    caches
	failures failureLimiter
}

func itoa(n int) string { return strconv.Itoa(n) }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}
