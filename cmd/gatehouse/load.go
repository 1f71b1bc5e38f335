package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/password"
)

// newBenchCmd is the project's own load generator: bounded in time and
// count, and aimed only at loopback addresses, so that measurements stay on
// this machine.
func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running Gatehouse on this machine (loopback only)",
	}
	token := formLoadCmd("token", "Issue client_credentials tokens as fast as the server answers", "/oauth2/token",
		func(cmd *cobra.Command) (url.Values, error) {
			return url.Values{"grant_type": {"client_credentials"}}, nil
		})
	pw := formLoadCmd("password", "Issue password-grant tokens for an API user (bounded by password hashing)", "/oauth2/token",
		func(cmd *cobra.Command) (url.Values, error) {
			if flag(cmd, "username") == "" || flag(cmd, "password") == "" {
				return nil, usageError{fmt.Errorf("--username and --password are required")}
			}
			return url.Values{"grant_type": {"password"}, "username": {flag(cmd, "username")}, "password": {flag(cmd, "password")}, "scope": {"api"}}, nil
		})
	pw.Flags().String("username", "", "an API user's username")
	pw.Flags().String("password", "", "its password")
	introspect := formLoadCmd("introspect", "Introspect one token as fast as the server answers", "/oauth2/introspect",
		func(cmd *cobra.Command) (url.Values, error) {
			if flag(cmd, "token") == "" {
				return nil, usageError{fmt.Errorf("--token is required")}
			}
			return url.Values{"token": {flag(cmd, "token")}}, nil
		})
	introspect.Flags().String("token", "", "the token to introspect")
	hash := &cobra.Command{
		Use:   "hash",
		Short: "Measure this machine's argon2id ceiling: password verifications per second on every core",
		Args:  cobra.NoArgs,
		RunE:  runHashCeiling,
	}
	hash.Flags().Duration("duration", 5*time.Second, "how long to run (at most 5m)")
	addOutputFlag(hash.Flags())
	cmd.AddCommand(hash)
	get := &cobra.Command{
		Use:   "get --url URL PATH",
		Short: "GET one path (JWKS, discovery, health) as fast as the server answers",
		Args:  exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := strings.TrimRight(flag(cmd, "url"), "/") + "/" + strings.TrimLeft(args[0], "/")
			return runLoad(cmd, target, func() (*http.Request, error) { return http.NewRequest(http.MethodGet, target, nil) })
		},
	}
	cmd.AddCommand(benchAllCmd())
	for _, c := range []*cobra.Command{token, pw, introspect, get} {
		c.Flags().String("url", "http://127.0.0.1:8080", "the server's base URL (loopback only)")
		c.Flags().Int("concurrency", 16, "requests in flight")
		c.Flags().Duration("duration", 10*time.Second, "how long to run (at most 5m)")
		c.Flags().Int("requests", 1_000_000, "stop after this many requests")
		addOutputFlag(c.Flags())
		cmd.AddCommand(c)
	}
	return cmd
}

// formLoadCmd loads a form endpoint of an environment that a client calls
// with its credentials (client_secret_basic).
func formLoadCmd(name, short, path string, values func(*cobra.Command) (url.Values, error)) *cobra.Command {
	c := &cobra.Command{
		Use:   name + " --url URL --env ENV --client-id ID --client-secret SECRET",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, env, id, secret := flag(cmd, "url"), flag(cmd, "env"), flag(cmd, "client-id"), flag(cmd, "client-secret")
			if env == "" || id == "" || secret == "" {
				return usageError{fmt.Errorf("--env, --client-id and --client-secret are required")}
			}
			form, err := values(cmd)
			if err != nil {
				return err
			}
			body := form.Encode()
			target := strings.TrimRight(base, "/") + "/" + env + path
			return runLoad(cmd, target, func() (*http.Request, error) {
				req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
				if err == nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
				}
				return req, err
			})
		},
	}
	c.Flags().String("env", "", "environment id")
	c.Flags().String("client-id", "", "an application's client id")
	c.Flags().String("client-secret", "", "its secret")
	return c
}

// runHashCeiling verifies one argon2id hash on every core for a while: the
// most password sign-ins this machine can serve per second.
func runHashCeiling(cmd *cobra.Command, _ []string) error {
	duration, _ := cmd.Flags().GetDuration("duration")
	if duration <= 0 || duration > 5*time.Minute {
		return usageError{fmt.Errorf("--duration must be up to 5m")}
	}
	perSecond, err := hashCeiling(cmd.Context(), duration)
	if err != nil {
		return err
	}
	return printOut(cmd, map[string]any{"verificationsPerSecond": perSecond, "cores": runtime.GOMAXPROCS(0)}, func(w io.Writer) {
		fmt.Fprintf(w, "argon2id (m=19 MiB, t=2, p=1): %.1f verifications/s on %d cores\n", perSecond, runtime.GOMAXPROCS(0))
	})
}

// hashCeiling is how many argon2id verifications per second this machine
// does on every core.
func hashCeiling(ctx context.Context, duration time.Duration) (float64, error) {
	hash, err := password.Hash(ctx, "a password to verify")
	if err != nil {
		return 0, err
	}
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if ok, _, _ := password.Verify(context.Background(), "a password to verify", hash); ok {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func flag(cmd *cobra.Command, name string) string {
	v, _ := cmd.Flags().GetString(name)
	return v
}

// loadResult is what a load run measured.
type loadResult struct {
	Target      string `json:"target"`
	Concurrency int    `json:"concurrency"`
	Requests    int64  `json:"requests"`
	Errors      int64  `json:"errors"`
	// Shed are the requests the server turned away as busy (503 with
	// Retry-After: more password hashes waiting than it takes, by design),
	// which are not errors.
	Shed       int64   `json:"shed"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"perSecond"`
	P50ms      float64 `json:"p50Ms"`
	P99ms      float64 `json:"p99Ms"`
	MaxMs      float64 `json:"maxMs"`
	FirstError string  `json:"firstError,omitempty"`
}

func runLoad(cmd *cobra.Command, target string, newRequest func() (*http.Request, error)) error {
	concurrency, _ := cmd.Flags().GetInt("concurrency")
	duration, _ := cmd.Flags().GetDuration("duration")
	limit, _ := cmd.Flags().GetInt("requests")
	if concurrency < 1 || concurrency > 1024 || duration <= 0 || duration > 5*time.Minute || limit < 1 {
		return usageError{fmt.Errorf("--concurrency must be 1 to 1024, --duration up to 5m, --requests at least 1")}
	}
	if err := checkLoopback(target); err != nil {
		return err
	}
	res := load(cmd.Context(), target, concurrency, duration, limit, newRequest)
	err := printOut(cmd, res, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n  %d requests in %.1fs at concurrency %d: %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d shed as busy, %d errors\n",
			target, res.Requests, res.Seconds, concurrency, res.PerSecond, res.P50ms, res.P99ms, res.MaxMs, res.Shed, res.Errors)
		if res.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", res.FirstError)
		}
	})
	if err == nil && res.Errors > 0 {
		return fmt.Errorf("%d requests failed (first: %s)", res.Errors, res.FirstError)
	}
	return err
}

// checkLoopback refuses any target that is not on this machine.
func checkLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return usageError{fmt.Errorf("--url must be an http URL")}
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError{fmt.Errorf("bench only targets loopback addresses (127.0.0.0/8, ::1, localhost), not %s", u.Hostname())}
	}
	return nil
}

// load sends requests from concurrency workers until the duration or the
// request limit runs out, and measures them.
func load(parent context.Context, target string, concurrency int, duration time.Duration, limit int, newRequest func() (*http.Request, error)) loadResult {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency, DisableCompression: true},
	}
	ctx, cancel := context.WithTimeout(parent, duration)
	defer cancel()
	var sent, failed, shed atomic.Int64
	var firstErr atomic.Value
	latencies := make([][]time.Duration, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && sent.Add(1) <= int64(limit) {
				req, err := newRequest()
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					failed.Add(1)
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req.WithContext(ctx))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
						shed.Add(1)
						continue
					}
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						sent.Add(-1)
						return
					}
					firstErr.CompareAndSwap(nil, err.Error())
					failed.Add(1)
					continue
				}
				latencies[w] = append(latencies[w], time.Since(t0))
			}
			sent.Add(-1)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := loadResult{Target: target, Concurrency: concurrency, Requests: int64(len(all)), Errors: failed.Load(), Shed: shed.Load(), Seconds: elapsed.Seconds()}
	res.PerSecond = float64(len(all)) / elapsed.Seconds()
	if n := len(all); n > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.P50ms, res.P99ms, res.MaxMs = ms(all[n/2]), ms(all[n*99/100]), ms(all[n-1])
	}
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	return res
}
