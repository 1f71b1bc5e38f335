package gatehouse

import (
	"regexp"
	"time"
	"unicode/utf8"
)

// Role is a named set of permissions in one environment. Built-in roles are
// seeded with the environment and cannot be deleted.
type Role struct {
	EnvironmentID string    `json:"-"`
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	Permissions   []string  `json:"permissions"`
	Builtin       bool      `json:"builtin"`
	CreatedOn     time.Time `json:"createdOn"`
	UpdatedOn     time.Time `json:"updatedOn"`
}

var (
	roleNamePattern   = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	permissionPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_[A-Z]+$`)
)

// DefaultRoles are seeded into every environment.
func DefaultRoles() []Role {
	return []Role{
		{Name: "ADMIN", Description: "Administrator of the platform's account", Permissions: []string{"ACCOUNT_MANAGE", "USER_MANAGE", "ORDER_MANAGE", "RETAILER_MANAGE", "LOCATION_MANAGE"}},
		{Name: "STORE_ASSISTANT", Description: "Works in a store", Permissions: []string{"ORDER_VIEW", "ORDER_UPDATE", "LOCATION_VIEW"}},
		{Name: RoleEnvironmentAdmin, Description: "Manages this environment: users, applications, policies, identity providers", Permissions: []string{"ENVIRONMENT_MANAGE"}},
		{Name: RoleUserAdmin, Description: "Manages users only", Permissions: []string{"USER_MANAGE"}},
		{Name: RoleReadOnly, Description: "Reads this environment's configuration, users and audit log", Permissions: []string{"ENVIRONMENT_VIEW"}},
	}
}

// Validate checks a role definition.
func (r *Role) Validate() error {
	switch {
	case !roleNamePattern.MatchString(r.Name):
		return Errorf(EINVALID, "role name %q must be UPPER_SNAKE_CASE, up to 64 characters", truncate(r.Name, 70))
	case utf8.RuneCountInString(r.Description) > 500 || hasControl(r.Description):
		return Errorf(EINVALID, "role description is longer than 500 characters or has control characters")
	case len(r.Permissions) > 200:
		return Errorf(EINVALID, "a role has at most 200 permissions")
	}
	seen := map[string]bool{}
	for _, p := range r.Permissions {
		if !permissionPattern.MatchString(p) || len(p) > 100 {
			return Errorf(EINVALID, "permission %q must be NOUN_VERB in upper case, e.g. ORDER_VIEW", truncate(p, 70))
		}
		if seen[p] {
			return Errorf(EINVALID, "permission %s is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}
