package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// access is who may call a management route, by administrator role.
type access struct {
	name  string
	roles []string
	// system routes take tokens of the system environment (operators).
	system bool
}

var (
	usersRead  = access{"users:read", []string{gatehouse.RoleEnvironmentAdmin, gatehouse.RoleUserAdmin, gatehouse.RoleReadOnly}, false}
	usersWrite = access{"users:write", []string{gatehouse.RoleEnvironmentAdmin, gatehouse.RoleUserAdmin}, false}
	envRead    = access{"environment:read", []string{gatehouse.RoleEnvironmentAdmin, gatehouse.RoleReadOnly}, false}
	envWrite   = access{"environment:write", []string{gatehouse.RoleEnvironmentAdmin}, false}
	opsRead    = access{"operator:read", []string{gatehouse.RoleEnvironmentAdmin, gatehouse.RoleReadOnly}, true}
	opsWrite   = access{"operator:write", []string{gatehouse.RoleEnvironmentAdmin}, true}
)

// apiRoute is one management API operation. The table of them registers
// the routes and is what the OpenAPI document is checked against.
type apiRoute struct {
	method, path string // path below /api/v1
	access       access
	summary      string
	handle       func(w http.ResponseWriter, r *http.Request, p *principal) error
}

// principal is the authenticated caller of a management route.
type principal struct {
	envID   string
	actor   service.Actor
	roles   []string // administrator roles held now, read from the store
	claims  *service.AccessClaims
	request *http.Request
}

func (p *principal) has(role string) bool { return slices.Contains(p.roles, role) }

// mountAPI registers the management API.
func (s *Server) mountAPI() {
	for _, rt := range s.apiRoutes() {
		rt := rt
		s.mux.HandleFunc(rt.method+" /api/v1"+rt.path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			p, err := s.authorize(r, rt.access)
			if err == nil {
				err = rt.handle(w, r, p)
			}
			if err != nil {
				s.writeError(w, r, err)
			}
		})
	}
}

// authorize authenticates the bearer token for the environment in the path
// (or the system environment) and checks the route's roles against the
// caller's roles as they are now, not as the token says.
func (s *Server) authorize(r *http.Request, a access) (*principal, error) {
	envID := r.PathValue("env")
	if a.system {
		envID = gatehouse.SystemEnvironmentID
	}
	scheme, raw, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "a bearer access token of this environment is required")
	}
	p, err := s.principalOf(r, envID, raw)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(a.roles, p.has) {
		return nil, gatehouse.Errorf(gatehouse.EFORBIDDEN, "this needs one of the roles %s", strings.Join(a.roles, ", "))
	}
	return p, nil
}

// principalOf authenticates an access token of the environment and reads
// its subject's administrator roles as they are now: for the API (a bearer
// token) and the console (its session cookie holds one).
func (s *Server) principalOf(r *http.Request, envID, raw string) (*principal, error) {
	claims, err := s.svc.VerifyAccessToken(r.Context(), envID, raw)
	if gatehouse.ErrorCode(err) == gatehouse.EUNAUTHORIZED {
		s.svc.RecordBearerFailure(r.Context(), envID, actorOf(r, gatehouse.ActorAnonymous, ""), r.Method+" "+r.URL.Path)
	}
	if err != nil {
		return nil, err
	}
	p := &principal{envID: envID, claims: claims, request: r}
	p.actor = actorOf(r, claims.SubjectType, claims.Subject)
	if p.roles, err = s.svc.CurrentAdminRoles(r.Context(), envID, claims); err != nil {
		return nil, err
	}
	return p, nil
}

// actorOf is the audit actor of a request.
func actorOf(r *http.Request, actorType, id string) service.Actor {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return service.Actor{Type: actorType, ID: id, ClientIP: ip, UserAgent: r.UserAgent()}
}

// maxJSONBytes bounds a management request body.
const maxJSONBytes = 1 << 20

// decode reads one JSON object into v, refusing unknown fields, wrong
// types, trailing data and oversized bodies with a message that says which.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return gatehouse.Errorf(gatehouse.EINVALID, "the body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		if dec.More() {
			return gatehouse.Errorf(gatehouse.EINVALID, "the body must hold one JSON object")
		}
		if _, err := dec.Token(); err != io.EOF {
			return gatehouse.Errorf(gatehouse.EINVALID, "the body has data after the JSON object")
		}
		return nil
	case errors.Is(err, io.EOF):
		return gatehouse.Errorf(gatehouse.EINVALID, "the body is empty; a JSON object is required")
	case errors.As(err, &tooBig):
		return gatehouse.Errorf(gatehouse.EINVALID, "the body is larger than %d bytes", maxJSONBytes)
	case errors.As(err, &syntax):
		return gatehouse.Errorf(gatehouse.EINVALID, "the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return gatehouse.Errorf(gatehouse.EINVALID, "the body must be a JSON object")
	case errors.As(err, &typeErr):
		return gatehouse.Errorf(gatehouse.EINVALID, "field %s must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return gatehouse.Errorf(gatehouse.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return gatehouse.Errorf(gatehouse.EINVALID, "the body is not a valid JSON object: %v", err)
	}
}

// jsonKind names a Go type in JSON's words.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	default:
		return "an object"
	}
}

// respond writes v as JSON with a status.
func respond(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, v)
	return nil
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// strictQuery returns the query parameters, refusing unknown and repeated
// ones so that a misspelt filter is an error and not a silent "all".
func strictQuery(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	for key, values := range q {
		if !slices.Contains(allowed, key) {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "unknown query parameter %q (known: %s)", truncateParam(key), strings.Join(allowed, ", "))
		}
		if len(values) > 1 {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "query parameter %s is given more than once", key)
		}
	}
	return q, nil
}

// created answers 201 with the new resource and where it lives.
func created(w http.ResponseWriter, location string, v any) error {
	w.Header().Set("Location", location)
	return respond(w, http.StatusCreated, v)
}

// queryLimit parses the limit parameter.
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 100, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v || n < 1 || n > service.MaxPageSize {
		return 0, gatehouse.Errorf(gatehouse.EINVALID, "limit must be a whole number from 1 to %d", service.MaxPageSize)
	}
	return n, nil
}
