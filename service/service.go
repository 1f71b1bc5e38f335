// Package service is Gatehouse's application layer: the use cases that
// combine the domain, the store and the crypto building blocks. Adapters
// (HTTP, CLI) call it; it calls nothing of theirs.
package service

import (
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/keyring"
)

// Service carries what the use cases need.
type Service struct {
	Store   gatehouse.Store
	Keyring *keyring.Keyring
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}
