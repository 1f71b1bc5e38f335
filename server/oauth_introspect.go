package server

import (
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse"
)

// introspect serves RFC 7662 to a confidential application of the
// environment: whether a token is active, and what it says.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	s.clientEndpoint(w, r, func(app *gatehouse.Application, form url.Values) {
		token := form.Get("token")
		if token == "" {
			writeTokenError(w, invalidRequest("token is required"))
			return
		}
		res, err := s.svc.Introspect(r.Context(), r.PathValue("env"), token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// revoke serves RFC 7009: the calling application's token stops working.
// It answers 200 for unknown tokens too, as the RFC asks.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	s.clientEndpoint(w, r, func(app *gatehouse.Application, form url.Values) {
		token := form.Get("token")
		if token == "" {
			writeTokenError(w, invalidRequest("token is required"))
			return
		}
		if err := s.svc.Revoke(r.Context(), actorOf(r, gatehouse.ActorApplication, app.ClientID), r.PathValue("env"), app, token); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// clientEndpoint reads the form of an endpoint that a client calls with its
// own credentials (introspection, revocation) and authenticates the client.
func (s *Server) clientEndpoint(w http.ResponseWriter, r *http.Request, fn func(*gatehouse.Application, url.Values)) {
	w.Header().Set("Cache-Control", "no-store")
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.writeError(w, r, err)
		return
	}
	form, terr := tokenForm(w, r)
	if terr != nil {
		writeTokenError(w, terr)
		return
	}
	app, err := s.authenticateClientOrPublic(r, envID, form)
	if err != nil {
		if te, ok := err.(*tokenError); ok {
			writeTokenError(w, te)
			return
		}
		s.writeError(w, r, err)
		return
	}
	fn(app, form)
}
