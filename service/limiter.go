package service

import (
	"sync"
	"time"
)

// Failed password checks allowed from one address: a burst, then one more
// every refill interval. Lockout protects each account; this protects the
// environment from one address trying many accounts (password spraying).
// It is per node, as DESIGN.md allows.
const (
	failureBurst  = 30
	failureRefill = 2 * time.Second
	maxTracked    = 100_000
)

// failureLimiter is a token bucket per client address, refilled by time.
type failureLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func (l *failureLimiter) level(key string, now time.Time) *bucket {
	if l.buckets == nil || len(l.buckets) >= maxTracked {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: failureBurst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(failureBurst, b.tokens+float64(now.Sub(b.at))/float64(failureRefill))
	b.at = now
	return b
}

// allowed reports whether the address may try a password now.
func (l *failureLimiter) allowed(key string, now time.Time) bool {
	if key == "" {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level(key, now).tokens >= 1
}

// failed counts one failed password check of the address.
func (l *failureLimiter) failed(key string, now time.Time) {
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.level(key, now)
	b.tokens = max(0, b.tokens-1)
}
