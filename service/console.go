package service

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// ConsoleClientID is the client id of the admin console, an application of
// every environment: administrators sign in to it through the environment's
// own sign-in, like to any application.
const ConsoleClientID = "gatehouse-console"

// ConsoleRedirectURI is where an environment's sign-in sends the console's
// administrators back.
func (s *Service) ConsoleRedirectURI(envID string) string {
	return strings.TrimSuffix(s.BaseURL, "/") + "/console/" + envID + "/callback"
}

// ConsoleApplication returns the environment's console application, making
// it (again) when it is missing, or when the base URL changed.
func (s *Service) ConsoleApplication(ctx context.Context, envID string) (*gatehouse.Application, error) {
	redirect := s.ConsoleRedirectURI(envID)
	app, err := s.applicationByClientID(ctx, envID, ConsoleClientID)
	if err == nil && len(app.RedirectURIs) == 1 && app.RedirectURIs[0] == redirect {
		return app, nil
	}
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		existing, err := r.GetApplicationByClientID(ctx, envID, ConsoleClientID)
		if err == nil {
			existing.RedirectURIs = []string{redirect}
			existing.PostLogoutRedirectURIs = []string{strings.TrimSuffix(redirect, "callback")}
			existing.UpdatedOn = s.now()
			app = existing
			return r.UpdateApplication(ctx, existing)
		}
		if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			return err
		}
		now := s.now()
		// A public client: the console exchanges its codes inside this
		// server, with PKCE, and never holds a secret.
		app = &gatehouse.Application{EnvironmentID: envID, ID: gatehouse.NewID(), ClientID: ConsoleClientID, Name: "Admin console",
			Type: gatehouse.AppTypeSPA, RedirectURIs: []string{redirect}, GrantTypes: []string{gatehouse.GrantAuthorizationCode},
			ApplicationSettings: gatehouse.ApplicationSettings{Description: "Gatehouse's admin console; made again when deleted.",
				PostLogoutRedirectURIs: []string{strings.TrimSuffix(redirect, "callback")}},
			CreatedOn: now, UpdatedOn: now}
		if err := app.Validate(); err != nil {
			return err
		}
		if err := s.ensureAlgorithmKeys(ctx, r, envID, app.TokenAlgorithm()); err != nil {
			return err
		}
		return r.CreateApplication(ctx, app)
	})
	if err != nil {
		return nil, err
	}
	s.cache.apps.forget(envID + "\x00" + ConsoleClientID)
	return app, nil
}
