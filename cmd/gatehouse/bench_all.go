package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// benchAllCmd measures a running server against DESIGN.md §7, every figure
// from the same run: it makes a throw-away environment in the server's
// store (the CLI works beside a running server), loads each endpoint on
// loopback in turn, prints the table and deletes the environment.
func benchAllCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "all --url URL",
		Short: "Measure every budget of a running server on this machine and print the table",
		Args:  cobra.NoArgs,
		RunE:  runBenchAll,
	}
	cmd.Flags().String("url", "http://127.0.0.1:8080", "the server's base URL (loopback only)")
	cmd.Flags().Int("concurrency", 16, "requests in flight")
	cmd.Flags().Duration("duration", 10*time.Second, "how long each load runs (at most 5m)")
	storeFlags(cmd, false)
	return cmd
}

// benchRow is one line of the table.
type benchRow struct {
	What     string      `json:"what"`
	Measured string      `json:"measured"`
	Budget   string      `json:"budget"`
	Result   *loadResult `json:"result,omitempty"`
}

func runBenchAll(cmd *cobra.Command, _ []string) error {
	base := strings.TrimRight(flag(cmd, "url"), "/")
	concurrency, _ := cmd.Flags().GetInt("concurrency")
	duration, _ := cmd.Flags().GetDuration("duration")
	if concurrency < 1 || concurrency > 1024 || duration <= 0 || duration > 5*time.Minute {
		return usageError{fmt.Errorf("--concurrency must be 1 to 1024, --duration up to 5m")}
	}
	if err := checkLoopback(base); err != nil {
		return err
	}
	return withApp(cmd, func(a *app) error {
		ctx := cmd.Context()
		f, err := newBenchFixtures(ctx, a)
		if err != nil {
			return err
		}
		defer a.svc.DeleteEnvironment(context.WithoutCancel(ctx), service.OperatorActor(), f.env)
		if err := f.waitForServer(ctx, base); err != nil {
			return err
		}
		ceiling, err := hashCeiling(ctx, duration/2)
		if err != nil {
			return err
		}
		run := func(path string, form url.Values, id, secret string) loadResult {
			target := base + "/" + f.env + path
			body := form.Encode()
			return load(ctx, target, concurrency, duration, 10_000_000, func() (*http.Request, error) {
				method, reader := http.MethodGet, io.Reader(nil)
				if form != nil {
					method, reader = http.MethodPost, strings.NewReader(body)
				}
				req, err := http.NewRequest(method, target, reader)
				if err == nil && form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
				}
				return req, err
			})
		}
		cc := run("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.service.ClientID, f.service.ClientSecret)
		pw := run("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {f.username}, "password": {f.password}, "scope": {"api"}},
			f.apiApp.ClientID, f.apiApp.ClientSecret)
		token, err := f.token(ctx, base)
		if err != nil {
			return err
		}
		intro := run("/oauth2/introspect", url.Values{"token": {token}}, f.service.ClientID, f.service.ClientSecret)
		disc := run("/.well-known/openid-configuration", nil, "", "")
		jwks := run("/oauth2/jwks", nil, "", "")
		rate := func(r loadResult) string {
			s := fmt.Sprintf("%.0f/s, p99 %.1f ms", r.PerSecond, r.P99ms)
			if r.Shed > 0 {
				s += fmt.Sprintf(", %d shed as busy", r.Shed)
			}
			if r.Errors > 0 {
				s += fmt.Sprintf(", %d errors (%s)", r.Errors, r.FirstError)
			}
			return s
		}
		rows := []benchRow{
			{"client_credentials tokens", rate(cc), "≥ 2,000/s, p99 ≤ 20 ms", &cc},
			{"password-grant tokens", fmt.Sprintf("%s = %.0f%% of the %.0f/s argon2id ceiling", rate(pw), 100*pw.PerSecond/ceiling, ceiling), "≥ 75% of the ceiling, p99 ≤ 300 ms", &pw},
			{"introspection", rate(intro), "≥ 5,000/s", &intro},
			{"discovery", rate(disc), "≥ 20,000/s", &disc},
			{"JWKS", rate(jwks), "≥ 20,000/s", &jwks},
		}
		return printOut(cmd, map[string]any{"concurrency": concurrency, "hashCeilingPerSecond": ceiling, "rows": rows}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "WHAT (concurrency %d, %s each)\tMEASURED\tBUDGET (DESIGN.md §7)\n", concurrency, duration)
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.What, r.Measured, r.Budget)
			}
			tw.Flush()
		})
	})
}

// benchFixtures is the throw-away environment a benchmark loads.
type benchFixtures struct {
	env                string
	service, apiApp    *service.CreatedApplication
	username, password string
}

func newBenchFixtures(ctx context.Context, a *app) (*benchFixtures, error) {
	op := service.OperatorActor()
	f := &benchFixtures{env: "bench-" + strings.ToLower(gatehouse.NewID()[14:]), username: "bench-api-user", password: "bench-password-" + gatehouse.NewID()}
	if _, err := a.svc.CreateEnvironment(ctx, op, service.NewEnvironment{ID: f.env, DisplayName: "Benchmark (temporary)"}); err != nil {
		return nil, err
	}
	var err error
	if f.service, err = a.svc.CreateApplication(ctx, op, f.env, gatehouse.Application{Name: "bench", Type: gatehouse.AppTypeService}); err != nil {
		return nil, err
	}
	if f.apiApp, err = a.svc.CreateApplication(ctx, op, f.env, gatehouse.Application{Name: "bench-api", Type: gatehouse.AppTypeAPIUser}); err != nil {
		return nil, err
	}
	u, err := a.svc.CreateUser(ctx, op, f.env, service.NewUser{User: gatehouse.User{Username: f.username, Type: gatehouse.UserTypeAPI}})
	if err != nil {
		return nil, err
	}
	_, err = a.svc.SetPassword(ctx, op, f.env, u.ID, f.password, false)
	return f, err
}

// waitForServer waits until the server sees the new environment.
func (f *benchFixtures) waitForServer(ctx context.Context, base string) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/" + f.env + "/.well-known/openid-configuration"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the server at %s does not see environment %s: is it running on the same store?", base, f.env)
}

func (f *benchFixtures) token(ctx context.Context, base string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+f.env+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.service.ClientID), url.QueryEscape(f.service.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("getting a token for introspection: status %d", resp.StatusCode)
	}
	return body.AccessToken, nil
}
