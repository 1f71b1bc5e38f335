package server

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of the management API,
// written by hand and checked against apiRoutes by the tests.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves GET /api/v1/openapi.json. The document is public: it
// describes the API, and holds nothing of any environment.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openAPIDocument)
}
