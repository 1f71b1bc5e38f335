// Package server is Gatehouse's HTTP adapter: it routes requests to the
// service layer, speaks RFC 9457 problems, and serves the operations
// endpoints. Each protocol area mounts its own routes.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// Server holds what the handlers use.
type Server struct {
	svc     *service.Service
	store   gatehouse.Store
	log     *slog.Logger
	metrics *Metrics
	mux     *http.ServeMux
	// consoleMux routes /console/….
	consoleMux *http.ServeMux
	grants     map[string]grant
	trusted    []netip.Prefix
}

// New returns the HTTP handler of a Gatehouse node.
func New(svc *service.Service, log *slog.Logger, metrics *Metrics) *Server {
	s := &Server{svc: svc, store: svc.Store, log: log, metrics: metrics, mux: http.NewServeMux(), consoleMux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", metrics.Handler())
	s.mux.HandleFunc("GET /{env}/oauth2/jwks", s.jwks)
	s.grants = map[string]grant{
		"client_credentials": clientCredentialsGrant{s},
		"password":           passwordGrant{s},
		"refresh_token":      refreshTokenGrant{s},
		"authorization_code": authorizationCodeGrant{s},
	}
	s.mux.HandleFunc("POST /{env}/oauth2/token", s.token)
	s.mux.HandleFunc("POST /{env}/oauth/token", s.token)
	s.mux.HandleFunc("POST /{env}/oauth2/introspect", s.introspect)
	s.mux.HandleFunc("POST /{env}/oauth2/revoke", s.revoke)
	s.mux.HandleFunc("GET /{env}/.well-known/openid-configuration", s.discovery)
	s.mux.HandleFunc("GET /{env}/oauth2/authorize", s.authorizeEndpoint)
	s.mux.HandleFunc("POST /{env}/oauth2/authorize", s.authorizeEndpoint)
	s.mux.HandleFunc("GET /{env}/login/{flow}", s.loginPage)
	s.mux.HandleFunc("POST /{env}/login/{flow}", s.loginSubmit)
	s.mux.HandleFunc("POST /{env}/login/{flow}/restart", s.loginRestart)
	s.mux.HandleFunc("GET /{env}/login/assets/{file}", s.assets)
	s.mux.HandleFunc("GET /{env}/reset", s.resetPage)
	s.mux.HandleFunc("POST /{env}/reset", s.resetSubmit)
	s.mux.HandleFunc("GET /{env}/oidc/{idp}/callback", s.upstreamCallback)
	s.mux.HandleFunc("POST /{env}/oidc/{idp}/callback", s.upstreamCallback)
	s.mux.HandleFunc("POST /{env}/saml/{idp}/acs", s.upstreamCallback)
	s.mux.HandleFunc("GET /{env}/saml/{idp}/metadata", s.serviceProviderMetadata)
	s.mux.HandleFunc("GET /{env}/oauth2/userinfo", s.userinfo)
	s.mux.HandleFunc("POST /{env}/oauth2/userinfo", s.userinfo)
	s.mux.HandleFunc("GET /{env}/oauth2/logout", s.logout)
	s.mux.HandleFunc("POST /{env}/oauth2/logout", s.logout)
	s.mountAccount()
	s.mountConsole()
	s.mountAPI()
	s.mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	return s
}

// unrouted answers, as a problem, a request that matched no route: 404, or
// 405 with Allow when the path exists for other methods.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	p := Problem{Status: probe.status, Title: http.StatusText(probe.status), Code: gatehouse.ENOTFOUND, Detail: "no such endpoint"}
	if probe.status == http.StatusMethodNotAllowed {
		p.Code, p.Detail = gatehouse.EINVALID, "method not allowed; allowed: "+probe.header.Get("Allow")
	}
	writeProblem(w, p)
}

// headerProbe records what the mux's own not-found and method-not-allowed
// handlers would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(status int)      { p.status = status }

// ServeHTTP runs every request through recovery, security headers and
// metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.metrics.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The console has a router of its own: its paths would clash with
		// the environments' (/{env}/login/{flow} and /console/{env}/callback
		// both match /console/login/callback), and "console" is a reserved
		// environment id.
		mux := s.mux
		if strings.HasPrefix(r.URL.Path, "/console/") || r.URL.Path == "/console" {
			mux = s.consoleMux
		}
		if h, pattern := mux.Handler(r); pattern == "" {
			s.unrouted(w, r, h)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	if len(s.trusted) > 0 {
		r.RemoteAddr = s.clientAddr(r)
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", v)
			writeProblem(w, Problem{Title: "Internal Server Error", Status: 500, Code: gatehouse.EINTERNAL})
		}
	}()
	h.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		writeProblem(w, Problem{Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
			Detail: gatehouse.ErrorMessage(err), Code: gatehouse.EUNAVAILABLE})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	doc, err := s.svc.JWKS(r.Context(), r.PathValue("env"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(doc)
}

// ShutdownGrace is how long in-flight requests may take to finish after a
// stop is asked for.
const ShutdownGrace = 30 * time.Second

// Serve serves h on ln until ctx ends, then stops accepting connections and
// waits up to ShutdownGrace for in-flight requests to finish.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
