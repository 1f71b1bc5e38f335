package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// A grant handles one grant_type at the token endpoint (RFC 6749 §4). Each
// lives in a file of its own; adding one is adding a file and a line in
// grants.
type grant interface {
	// Token answers the token response for an authenticated or public
	// request, or a *tokenError.
	Token(r *http.Request, envID string, form url.Values) (any, error)
}

// tokenError is an RFC 6749 §5.2 error response.
type tokenError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *tokenError) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(desc string) *tokenError {
	return &tokenError{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

// maxFormBytes bounds a token request body.
const maxFormBytes = 16 << 10

// token serves POST /{env}/oauth2/token and its alias /{env}/oauth/token.
// Parameters come from the form body or, for old clients, the query string;
// the body wins where both name one.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.writeError(w, r, err)
		return
	}
	form, terr := tokenForm(w, r)
	if terr != nil {
		s.refuseToken(w, r, envID, terr)
		return
	}
	g, ok := s.grants[form.Get("grant_type")]
	if !ok {
		code := "unsupported_grant_type"
		if form.Get("grant_type") == "" {
			code = "invalid_request"
		}
		s.refuseToken(w, r, envID, &tokenError{Status: http.StatusBadRequest, Code: code, Description: "grant_type must be one of the supported grant types"})
		return
	}
	resp, err := g.Token(r, envID, form)
	if err != nil {
		if te, ok := err.(*tokenError); ok {
			s.refuseToken(w, r, envID, te)
			return
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func tokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *tokenError) {
	form := url.Values{}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidRequest("the query string is malformed")
	}
	for k, v := range query {
		form[k] = v
	}
	if r.ContentLength != 0 {
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return nil, invalidRequest("the body must be application/x-www-form-urlencoded")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, invalidRequest("the form body is malformed or too large")
		}
		for k, v := range r.PostForm {
			form[k] = v
		}
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, invalidRequest("parameter " + truncateParam(k) + " is given more than once")
		}
	}
	return form, nil
}

func truncateParam(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// refuseToken answers a refused token request and audits it. Failed client
// authentication and invalid grants are audited where they are found, with
// more to say.
func (s *Server) refuseToken(w http.ResponseWriter, r *http.Request, envID string, e *tokenError) {
	if e.Code != "invalid_client" && e.Code != "invalid_grant" {
		s.svc.RecordTokenRefusal(r.Context(), envID, actorOf(r, gatehouse.ActorAnonymous, ""), e.Code+": "+e.Description)
	}
	writeTokenError(w, e)
}

func writeTokenError(w http.ResponseWriter, e *tokenError) {
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "2")
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="token", charset="UTF-8"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(e)
}

// clientCredentials reads the client's id and secret from HTTP Basic
// (client_secret_basic, form-urlencoded per RFC 6749 §2.3.1) or the form
// (client_secret_post); using both is an error.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, terr *tokenError) {
	basicID, basicSecret, basic := r.BasicAuth()
	if basic {
		if form.Get("client_secret") != "" {
			return "", "", invalidRequest("use one client authentication method, not two")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return "", "", invalidRequest("the Basic credentials are not form-encoded")
		}
		if form.Get("client_id") != "" && form.Get("client_id") != id {
			return "", "", invalidRequest("client_id differs from the authenticated client")
		}
		return id, secret, nil
	}
	return form.Get("client_id"), form.Get("client_secret"), nil
}

// authenticateClient checks a confidential client.
func (s *Server) authenticateClient(r *http.Request, envID string, form url.Values) (*gatehouse.Application, error) {
	id, secret, terr := clientCredentials(r, form)
	if terr != nil {
		return nil, terr
	}
	if id == "" || secret == "" {
		return nil, &tokenError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication is required"}
	}
	app, err := s.svc.ClientAuthenticated(r.Context(), envID, id, secret)
	if gatehouse.ErrorCode(err) == gatehouse.EUNAUTHORIZED {
		s.svc.RecordClientAuthFailure(r.Context(), envID, actorOf(r, "APPLICATION", id), id)
		return nil, &tokenError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed"}
	}
	return app, err
}

// grantFailure maps a service refusal to its RFC 6749 error.
func grantFailure(err error) error {
	switch {
	case errors.Is(err, service.ErrInvalidGrant):
		return &tokenError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: err.Error()}
	case errors.Is(err, service.ErrInvalidScope):
		return &tokenError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: err.Error()}
	case gatehouse.ErrorCode(err) == gatehouse.EINVALID:
		return invalidRequest(gatehouse.ErrorMessage(err))
	case gatehouse.ErrorCode(err) == gatehouse.EUNAVAILABLE:
		return &tokenError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: gatehouse.ErrorMessage(err)}
	case gatehouse.ErrorCode(err) == gatehouse.ETOOMANY:
		return &tokenError{Status: http.StatusTooManyRequests, Code: "temporarily_unavailable", Description: gatehouse.ErrorMessage(err)}
	}
	return err
}

// authenticateClientOrPublic accepts a confidential client's credentials,
// or a public client (spa, native) that names itself by client_id only.
func (s *Server) authenticateClientOrPublic(r *http.Request, envID string, form url.Values) (*gatehouse.Application, error) {
	if _, _, basic := r.BasicAuth(); basic || form.Get("client_secret") != "" {
		return s.authenticateClient(r, envID, form)
	}
	id := form.Get("client_id")
	app, err := s.svc.PublicClient(r.Context(), envID, id)
	if gatehouse.ErrorCode(err) == gatehouse.EUNAUTHORIZED {
		s.svc.RecordClientAuthFailure(r.Context(), envID, actorOf(r, "APPLICATION", id), id)
		return nil, &tokenError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed"}
	}
	return app, err
}
