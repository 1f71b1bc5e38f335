package service

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// freshFor is how long a node may answer from its cache: the contract lets
// a change made elsewhere (the CLI, another node) take up to a second to be
// seen, so hot reads on the token path are cached for less than that.
const freshFor = 500 * time.Millisecond

// maxCached bounds a cache; past it the cache starts over, so that no input
// can grow memory without end.
const maxCached = 10_000

// ttlCache keeps values for freshFor. Only found values are cached, never
// misses, so unknown keys always reach the store.
type ttlCache[V any] struct {
	mu      sync.RWMutex
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

func (c *ttlCache[V]) get(key string, load func() (V, error)) (V, error) {
	now := time.Now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.value, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCached {
		c.entries = map[string]ttlEntry[V]{}
	}
	c.entries[key] = ttlEntry[V]{value: v, expires: now.Add(freshFor)}
	c.mu.Unlock()
	return v, nil
}

// forget drops a key, for writes made through this node.
func (c *ttlCache[V]) forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// caches are the service's hot-read caches.
type caches struct {
	envs       ttlCache[*gatehouse.Environment]
	keys       ttlCache[[]*gatehouse.SigningKey]
	jwks       ttlCache[[]byte]
	clientKeys ttlCache[[]byte]
	apps       ttlCache[*gatehouse.Application]
	// verified holds access tokens whose signature checked out, by their
	// hash: resource servers introspect the same token again and again.
	verified ttlCache[*AccessClaims]
	revoked  ttlCache[bool]
	branding ttlCache[*gatehouse.Branding]
	rules    ttlCache[[]*gatehouse.DiscoveryRule]
	idps     ttlCache[*gatehouse.IdentityProvider]
	signOn   ttlCache[*gatehouse.SignOnPolicy]
}

// forgetEnvironment drops everything cached about an environment.
func (c *caches) forgetEnvironment(envID string) {
	c.envs.forget(envID)
	c.keys.forget(envID)
	c.jwks.forget(envID)
	c.clientKeys.forget(envID)
	c.branding.forget(envID)
	c.rules.forget(envID)
	c.signOn.forget(envID)
}
