package server

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// statusOf maps a domain error code to its HTTP status, once for every
// handler.
var statusOf = map[string]int{
	gatehouse.EINVALID:      http.StatusBadRequest,
	gatehouse.EUNAUTHORIZED: http.StatusUnauthorized,
	gatehouse.EFORBIDDEN:    http.StatusForbidden,
	gatehouse.ENOTFOUND:     http.StatusNotFound,
	gatehouse.ECONFLICT:     http.StatusConflict,
	gatehouse.EUNAVAILABLE:  http.StatusServiceUnavailable,
	gatehouse.EINTERNAL:     http.StatusInternalServerError,
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code,omitempty"`
}

// writeError answers err as application/problem+json. Errors that are not
// domain errors are logged and answered without their text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := gatehouse.ErrorCode(err)
	status := statusOf[code]
	if code == gatehouse.EINTERNAL {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, Problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: gatehouse.ErrorMessage(err), Code: code})
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
