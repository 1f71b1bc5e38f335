package saml

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// funcClock is the connector's clock (Config.Now) in the form goxmldsig and
// crewjam take, so that certificate validity and message times are judged
// by the same clock as Gatehouse's own checks.
// The embedded real clock supplies the timer methods, which neither library
// uses for validation.
type funcClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c funcClock) Now() time.Time                  { return c.now() }
func (c funcClock) Since(t time.Time) time.Duration { return c.now().Sub(t) }
func (c funcClock) Until(t time.Time) time.Duration { return t.Sub(c.now()) }
