package gatehouse

import (
	"strings"
	"time"
	"unicode/utf8"
)

// User types (DESIGN.md §2). Custom types are allowed; these are the ones
// Gatehouse itself gives meaning to.
const (
	UserTypeAdmin    = "ADMIN"
	UserTypeRetailer = "RETAILER"
	UserTypeLocation = "LOCATION"
	UserTypeAPI      = "API"
)

// User states.
const (
	UserActive   = "ACTIVE"
	UserInactive = "INACTIVE"
)

// Password states (DESIGN.md §2).
const (
	PasswordOK         = "OK"
	PasswordNone       = "NO_PASSWORD"
	PasswordMustChange = "MUST_CHANGE_PASSWORD"
	PasswordExpired    = "PASSWORD_EXPIRED"
	PasswordLockedOut  = "PASSWORD_LOCKED_OUT"
	PasswordExternal   = "EXTERNAL"
)

// LocalIdentityProvider marks a user whose password Gatehouse checks.
const LocalIdentityProvider = "local"

// Administrator roles of an environment.
const (
	RoleEnvironmentAdmin = "ENVIRONMENT_ADMIN"
	RoleUserAdmin        = "USER_ADMIN"
	RoleReadOnly         = "READ_ONLY"
)

// MaxUsernameLength is the longest username, in characters.
const MaxUsernameLength = 250

// User is a person or machine account of one environment.
type User struct {
	EnvironmentID    string           `json:"environmentId"`
	ID               string           `json:"id"`
	Ref              string           `json:"ref,omitempty"`
	Username         string           `json:"username"`
	Title            string           `json:"title,omitempty"`
	FirstName        string           `json:"firstName,omitempty"`
	LastName         string           `json:"lastName,omitempty"`
	PrimaryEmail     string           `json:"primaryEmail,omitempty"`
	PrimaryPhone     string           `json:"primaryPhone,omitempty"`
	Type             string           `json:"type"`
	Status           string           `json:"status"`
	Timezone         string           `json:"timezone,omitempty"`
	Language         string           `json:"language,omitempty"`
	Department       string           `json:"department,omitempty"`
	Country          string           `json:"country,omitempty"`
	PromotionOptIn   bool             `json:"promotionOptIn"`
	PrimaryRetailer  string           `json:"primaryRetailer,omitempty"`
	PrimaryLocation  string           `json:"primaryLocation,omitempty"`
	Attributes       []Attribute      `json:"attributes"`
	Roles            []RoleAssignment `json:"roles"`
	IdentityProvider string           `json:"identityProvider"`
	PasswordState    string           `json:"passwordState"`
	CreatedOn        time.Time        `json:"createdOn"`
	UpdatedOn        time.Time        `json:"updatedOn"`
	LastSignOn       *time.Time       `json:"lastSignOn,omitempty"`

	// PasswordHash is the PHC-formatted hash of the local password, if any.
	PasswordHash      string     `json:"-"`
	PasswordChangedOn *time.Time `json:"-"`
}

// Attribute is a custom, typed attribute of a user.
type Attribute struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// RoleAssignment gives a user a role, optionally limited to a context.
type RoleAssignment struct {
	Role    string       `json:"role"`
	Context *RoleContext `json:"context,omitempty"`
}

// RoleContext limits a role to one account, retailer, location, …
type RoleContext struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// NormalizeUsername returns the form under which usernames are unique:
// usernames compare case-insensitively.
func NormalizeUsername(username string) string { return strings.ToLower(username) }

// Validate checks the fields every user must have right.
func (u *User) Validate() error {
	switch {
	case u.Username == "":
		return Errorf(EINVALID, "username is required")
	case !utf8.ValidString(u.Username):
		return Errorf(EINVALID, "username is not valid UTF-8")
	case utf8.RuneCountInString(u.Username) > MaxUsernameLength:
		return Errorf(EINVALID, "username is longer than %d characters", MaxUsernameLength)
	case hasControl(u.Username) || strings.TrimSpace(u.Username) != u.Username:
		return Errorf(EINVALID, "username has control characters or surrounding spaces")
	case u.Type == "":
		return Errorf(EINVALID, "user type is required")
	case u.Status != UserActive && u.Status != UserInactive:
		return Errorf(EINVALID, "user status must be %s or %s", UserActive, UserInactive)
	case u.IdentityProvider == "":
		return Errorf(EINVALID, "identity provider is required (%q for local users)", LocalIdentityProvider)
	}
	return nil
}
