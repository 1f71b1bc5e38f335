package gatehouse

import (
	"regexp"
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

	// LockedUntil is set while the account is locked out after failed
	// sign-ins; it unlocks itself at that time.
	LockedUntil *time.Time `json:"lockedUntil,omitempty"`

	// PasswordHash is the PHC-formatted hash of the local password, if any.
	PasswordHash      string     `json:"-"`
	PasswordChangedOn *time.Time `json:"-"`
	FailedAttempts    int        `json:"-"`
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

// Corporate reports whether the user signs in at a corporate identity
// provider, and so never has a password here.
func (u *User) Corporate() bool { return u.IdentityProvider != LocalIdentityProvider }

// EffectivePasswordState is the password state as of now: the stored state,
// overridden by a running lockout and by expiry under the policy.
func (u *User) EffectivePasswordState(p *PasswordPolicy, now time.Time) string {
	switch {
	case u.Corporate():
		return PasswordExternal
	case u.LockedUntil != nil && now.Before(*u.LockedUntil):
		return PasswordLockedOut
	case u.PasswordState == PasswordOK && p != nil && p.MaxAgeDays > 0 && u.PasswordChangedOn != nil &&
		!now.Before(u.PasswordChangedOn.Add(time.Duration(p.MaxAgeDays)*24*time.Hour)):
		return PasswordExpired
	}
	return u.PasswordState
}

var (
	userTypePattern      = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,49}$`)
	languagePattern      = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,4}$`)
	countryPattern       = regexp.MustCompile(`^[A-Z]{2}$`)
	phonePattern         = regexp.MustCompile(`^\+?[0-9 ()./-]{3,50}$`)
	attributeNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	contextTypePattern   = regexp.MustCompile(`^[A-Z][A-Z_]{0,31}$`)
)

// Attribute types.
var attributeTypes = map[string]bool{"STRING": true, "INTEGER": true, "FLOAT": true, "BOOLEAN": true, "JSON": true}

// textLimits bounds the free-text fields of a user.
func (u *User) textLimits() []struct {
	name  string
	value string
	max   int
} {
	return []struct {
		name  string
		value string
		max   int
	}{
		{"ref", u.Ref, 250}, {"title", u.Title, 50}, {"firstName", u.FirstName, 100},
		{"lastName", u.LastName, 100}, {"primaryEmail", u.PrimaryEmail, 254},
		{"department", u.Department, 100}, {"primaryRetailer", u.PrimaryRetailer, 100},
		{"primaryLocation", u.PrimaryLocation, 100}, {"timezone", u.Timezone, 64},
	}
}

// Validate checks every field of the user against its limit.
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
	case !userTypePattern.MatchString(u.Type):
		return Errorf(EINVALID, "type is required, in UPPER_SNAKE_CASE (ADMIN, RETAILER, LOCATION, API, …)")
	case u.Status != UserActive && u.Status != UserInactive:
		return Errorf(EINVALID, "status must be %s or %s", UserActive, UserInactive)
	case u.IdentityProvider == "":
		return Errorf(EINVALID, "identityProvider is required (%q for local users)", LocalIdentityProvider)
	case u.Type == UserTypeAPI && u.Corporate():
		return Errorf(EINVALID, "API users are always local")
	}
	for _, f := range u.textLimits() {
		switch {
		case !utf8.ValidString(f.value):
			return Errorf(EINVALID, "%s is not valid UTF-8", f.name)
		case utf8.RuneCountInString(f.value) > f.max:
			return Errorf(EINVALID, "%s is longer than %d characters", f.name, f.max)
		case hasControl(f.value):
			return Errorf(EINVALID, "%s contains control characters", f.name)
		}
	}
	if u.PrimaryEmail != "" {
		at := strings.LastIndexByte(u.PrimaryEmail, '@')
		if at < 1 || at == len(u.PrimaryEmail)-1 || strings.ContainsAny(u.PrimaryEmail, " <>,;\"") {
			return Errorf(EINVALID, "primaryEmail %q is not an email address", truncate(u.PrimaryEmail, 80))
		}
	}
	if u.PrimaryPhone != "" && !phonePattern.MatchString(u.PrimaryPhone) {
		return Errorf(EINVALID, "primaryPhone may hold digits, spaces, + ( ) . / - only, 3 to 50 of them")
	}
	if u.Timezone != "" {
		if _, err := time.LoadLocation(u.Timezone); err != nil || u.Timezone == "Local" {
			return Errorf(EINVALID, "timezone %q is not an IANA time zone such as Europe/Paris", truncate(u.Timezone, 64))
		}
	}
	if u.Language != "" && !languagePattern.MatchString(u.Language) {
		return Errorf(EINVALID, "language %q is not a language tag such as en or en-AU", truncate(u.Language, 40))
	}
	if u.Country != "" && !countryPattern.MatchString(u.Country) {
		return Errorf(EINVALID, "country %q is not an ISO 3166 alpha-2 code such as AU", truncate(u.Country, 10))
	}
	if len(u.Attributes) > 100 {
		return Errorf(EINVALID, "a user has at most 100 attributes")
	}
	names := map[string]bool{}
	for _, a := range u.Attributes {
		switch {
		case !attributeNamePattern.MatchString(a.Name):
			return Errorf(EINVALID, "attribute name %q must start with a letter and hold letters, digits, _ . - (at most 64)", truncate(a.Name, 70))
		case names[a.Name]:
			return Errorf(EINVALID, "attribute %s is given twice", a.Name)
		case !attributeTypes[a.Type]:
			return Errorf(EINVALID, "attribute %s has type %q; types are STRING, INTEGER, FLOAT, BOOLEAN, JSON", a.Name, truncate(a.Type, 20))
		case len(a.Value) > 4096 || !utf8.ValidString(a.Value):
			return Errorf(EINVALID, "attribute %s's value is longer than 4096 bytes or not UTF-8", a.Name)
		}
		names[a.Name] = true
	}
	return ValidateRoleAssignments(u.Roles)
}

// ValidateRoleAssignments checks a user's role assignments.
func ValidateRoleAssignments(roles []RoleAssignment) error {
	if len(roles) > 500 {
		return Errorf(EINVALID, "a user has at most 500 role assignments")
	}
	seen := map[string]bool{}
	for _, a := range roles {
		if !roleNamePattern.MatchString(a.Role) {
			return Errorf(EINVALID, "role %q is not a role name", truncate(a.Role, 70))
		}
		key := a.Role
		if a.Context != nil {
			if !contextTypePattern.MatchString(a.Context.Type) || a.Context.ID == "" || len(a.Context.ID) > 100 || hasControl(a.Context.ID) {
				return Errorf(EINVALID, "role %s has a context that needs a type (ACCOUNT, RETAILER, LOCATION, …) and an id of at most 100 characters", a.Role)
			}
			key += "\x00" + a.Context.Type + "\x00" + a.Context.ID
		}
		if seen[key] {
			return Errorf(EINVALID, "role %s is assigned twice in the same context", a.Role)
		}
		seen[key] = true
	}
	return nil
}

// UserFilter selects users of one environment; empty fields match all.
// Username and PrimaryEmail compare case-insensitively; a % in Username,
// FirstName, LastName or PrimaryEmail is a wildcard.
type UserFilter struct {
	Username, FirstName, LastName, PrimaryEmail string
	Type, Status                                string
	CreatedFrom, CreatedTo                      *time.Time
	UpdatedFrom, UpdatedTo                      *time.Time
	// Order is how users come: by id (the default, oldest first), or by
	// creation or update time and then id, which a filter on that time
	// range should use so that one index serves both range and order.
	Order string
	// After is the position the page starts after: an id, and for the
	// time orders also that user's time.
	After     string
	AfterTime time.Time
	Limit     int
	// Scan, when above 0, bounds the work of a search that no index
	// narrows to a few users: it reads at most Scan users in list order
	// and, when the page is not full by then, says where it stopped
	// (UserList.Stopped) so that the next page goes on from there.
	Scan int
}

// UserList is one answer of a user search.
type UserList struct {
	Users []*User
	// Stopped says that the search read UserFilter.Scan users before the
	// page was full; it goes on after StoppedAt (an id, and for the time
	// orders StoppedAtTime).
	Stopped       bool
	StoppedAt     string
	StoppedAtTime time.Time
}

// User list orders.
const (
	OrderByID      = ""
	OrderByCreated = "created"
	OrderByUpdated = "updated"
)

// ListTime is the user's time in a list order: its creation or update
// time, and none for id order.
func (u *User) ListTime(order string) time.Time {
	switch order {
	case OrderByCreated:
		return u.CreatedOn
	case OrderByUpdated:
		return u.UpdatedOn
	}
	return time.Time{}
}
