package gatehouse

import (
	"regexp"
	"time"
	"unicode/utf8"
)

// SystemEnvironmentID is the built-in environment whose administrators are
// the installation's operators. It always exists and cannot be disabled or
// deleted.
const SystemEnvironmentID = "system"

// Environment states.
const (
	EnvironmentActive   = "ACTIVE"
	EnvironmentDisabled = "DISABLED"
)

// Environment is one customer account's isolated directory: its users,
// applications, policies, keys and identity providers.
type Environment struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Status      string    `json:"status"`
	CreatedOn   time.Time `json:"createdOn"`
	UpdatedOn   time.Time `json:"updatedOn"`
}

// MaxDisplayNameLength bounds display names of environments and applications.
const MaxDisplayNameLength = 200

var environmentIDPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// reservedEnvironmentIDs would collide with top-level routes or confuse readers.
var reservedEnvironmentIDs = map[string]bool{
	"api": true, "console": true, "healthz": true, "readyz": true, "metrics": true,
	"static": true, "assets": true, "well-known": true, "oauth2": true, "oauth": true,
	"login": true, "account": true, "scim": true, "saml": true, "oidc": true,
	"admin": true, "default": true, "www": true,
}

// ValidateEnvironmentID checks that id is a lowercase slug of 2 to 40
// characters: letters, digits and single hyphens, starting with a letter.
func ValidateEnvironmentID(id string) error {
	switch {
	case id == "":
		return Errorf(EINVALID, "environment id is required")
	case len(id) < 2 || len(id) > 40:
		return Errorf(EINVALID, "environment id %q must be 2 to 40 characters long", truncate(id, 50))
	case !environmentIDPattern.MatchString(id):
		return Errorf(EINVALID, "environment id %q must be lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen", truncate(id, 50))
	case reservedEnvironmentIDs[id]:
		return Errorf(EINVALID, "environment id %q is reserved", id)
	}
	return nil
}

// ValidateDisplayName checks a human-readable name.
func ValidateDisplayName(name string) error {
	switch {
	case !utf8.ValidString(name):
		return Errorf(EINVALID, "display name is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxDisplayNameLength:
		return Errorf(EINVALID, "display name is longer than %d characters", MaxDisplayNameLength)
	case hasControl(name):
		return Errorf(EINVALID, "display name contains control characters")
	}
	return nil
}

// Validate checks every field of e.
func (e *Environment) Validate() error {
	if e.ID != SystemEnvironmentID {
		if err := ValidateEnvironmentID(e.ID); err != nil {
			return err
		}
	}
	if err := ValidateDisplayName(e.DisplayName); err != nil {
		return err
	}
	if e.Status != EnvironmentActive && e.Status != EnvironmentDisabled {
		return Errorf(EINVALID, "environment status must be %s or %s", EnvironmentActive, EnvironmentDisabled)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
