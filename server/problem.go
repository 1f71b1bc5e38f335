package server

import (
	"encoding/json"
	"net/http"
	"strings"

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
	gatehouse.ETOOMANY:      http.StatusTooManyRequests,
	gatehouse.EINTERNAL:     http.StatusInternalServerError,
}

// problemType is the stable type URI of each error code (RFC 9457 §3.1.1).
func problemType(code string) string {
	if code == "" {
		return "about:blank"
	}
	return "urn:gatehouse:problem:" + strings.ReplaceAll(code, "_", "-")
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
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeProblem(w, Problem{Title: http.StatusText(status), Status: status, Detail: gatehouse.ErrorMessage(err), Code: code})
}

// writeProblem answers p; its type follows its code.
func writeProblem(w http.ResponseWriter, p Problem) {
	p.Type = problemType(p.Code)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
