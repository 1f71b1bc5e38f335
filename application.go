package gatehouse

import "time"

// Application types (OAuth clients).
const (
	AppTypeWeb     = "web"
	AppTypeSPA     = "spa"
	AppTypeNative  = "native"
	AppTypeService = "service"
	AppTypeAPIUser = "api-user"
)

// Application is an OAuth client of one environment: a web app, an API
// integration or a management tool.
type Application struct {
	EnvironmentID string    `json:"environmentId"`
	ID            string    `json:"id"`
	ClientID      string    `json:"clientId"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	RedirectURIs  []string  `json:"redirectUris"`
	GrantTypes    []string  `json:"grantTypes"`
	Roles         []string  `json:"roles"`
	CreatedOn     time.Time `json:"createdOn"`
	UpdatedOn     time.Time `json:"updatedOn"`

	// SecretHash is the keyed hash of a confidential client's secret.
	SecretHash []byte `json:"-"`
}
