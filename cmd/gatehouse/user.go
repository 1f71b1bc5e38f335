package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create and manage the users of an environment",
	}
	cmd.AddCommand(userCreateCmd(), userListCmd(), userGetCmd(), userUpdateCmd(),
		userStatusCmd("disable", gatehouse.UserInactive, "Disable a user: no sign-in, every token of theirs stops working"),
		userStatusCmd("enable", gatehouse.UserActive, "Enable a disabled user"),
		userSetPasswordCmd(), userUnlockCmd(), userForceChangeCmd(), userDeleteCmd(), userMFACmd(), userSendResetCmd())
	return cmd
}

// envFlag adds --env, which every directory command needs.
func envFlag(cmd *cobra.Command) {
	cmd.Flags().String("env", "", "id of the environment (required)")
}

// withEnv checks --env, opens the app and checks that the environment
// exists, so that a mistyped id answers "not found" and not an empty list.
func withEnv(cmd *cobra.Command, fn func(a *app, env string) error) error {
	env, _ := cmd.Flags().GetString("env")
	if env == "" {
		return usageError{errors.New("--env is required: the id of the environment (see `gatehouse env list`)")}
	}
	if _, err := outputFormat(cmd); err != nil {
		return err
	}
	return withApp(cmd, func(a *app) error {
		if _, err := a.svc.GetEnvironment(cmd.Context(), env); err != nil {
			return err
		}
		return fn(a, env)
	})
}

// userField is a text field of a user that create and update set by a flag.
type userField struct {
	flag, usage string
	field       func(p *service.UserPatch) **string
}

var userFields = []userField{
	{"ref", "the platform's own reference for the user (unique in the environment)", func(p *service.UserPatch) **string { return &p.Ref }},
	{"title", "title (Mr, Dr, …)", func(p *service.UserPatch) **string { return &p.Title }},
	{"first-name", "first name", func(p *service.UserPatch) **string { return &p.FirstName }},
	{"last-name", "last name", func(p *service.UserPatch) **string { return &p.LastName }},
	{"email", "primary email address", func(p *service.UserPatch) **string { return &p.PrimaryEmail }},
	{"phone", "primary phone number", func(p *service.UserPatch) **string { return &p.PrimaryPhone }},
	{"type", "user type: ADMIN, RETAILER, LOCATION, API or a custom UPPER_SNAKE_CASE type", func(p *service.UserPatch) **string { return &p.Type }},
	{"status", "ACTIVE or INACTIVE", func(p *service.UserPatch) **string { return &p.Status }},
	{"timezone", "IANA time zone, such as Europe/Paris", func(p *service.UserPatch) **string { return &p.Timezone }},
	{"language", "language tag, such as en-AU", func(p *service.UserPatch) **string { return &p.Language }},
	{"department", "department", func(p *service.UserPatch) **string { return &p.Department }},
	{"country", "ISO 3166 alpha-2 country code, such as AU", func(p *service.UserPatch) **string { return &p.Country }},
	{"retailer", "primary retailer", func(p *service.UserPatch) **string { return &p.PrimaryRetailer }},
	{"location", "primary location", func(p *service.UserPatch) **string { return &p.PrimaryLocation }},
}

// addUserFieldFlags adds a flag per user field, with create's defaults.
func addUserFieldFlags(cmd *cobra.Command, create bool) {
	for _, f := range userFields {
		def := ""
		if create && f.flag == "type" {
			def = gatehouse.UserTypeRetailer
		}
		if create && f.flag == "status" {
			def = gatehouse.UserActive
		}
		cmd.Flags().String(f.flag, def, f.usage)
	}
	cmd.Flags().Bool("promotion-opt-in", false, "the user agreed to receive promotions")
	cmd.Flags().StringArray("role", nil, "assign a role, as ROLE or ROLE@TYPE:ID for a role limited to one context (e.g. STORE_ASSISTANT@LOCATION:l1); repeatable")
}

// userPatchFromFlags returns the fields given on the command line; with
// all, every field flag counts, given or default.
func userPatchFromFlags(cmd *cobra.Command, all bool) (service.UserPatch, error) {
	var p service.UserPatch
	fs := cmd.Flags()
	for _, f := range userFields {
		if all || fs.Changed(f.flag) {
			v, _ := fs.GetString(f.flag)
			*f.field(&p) = &v
		}
	}
	if all || fs.Changed("promotion-opt-in") {
		v, _ := fs.GetBool("promotion-opt-in")
		p.PromotionOptIn = &v
	}
	if fs.Changed("role") {
		specs, _ := fs.GetStringArray("role")
		roles, err := parseRoles(specs)
		if err != nil {
			return p, err
		}
		p.Roles = &roles
	}
	return p, nil
}

// parseRoles reads ROLE or ROLE@TYPE:ID assignments. Only the syntax is
// checked here; the service checks the names.
func parseRoles(specs []string) ([]gatehouse.RoleAssignment, error) {
	roles := []gatehouse.RoleAssignment{}
	for _, spec := range specs {
		role, scope, limited := strings.Cut(spec, "@")
		a := gatehouse.RoleAssignment{Role: role}
		if limited {
			typ, id, ok := strings.Cut(scope, ":")
			if !ok || typ == "" || id == "" {
				return nil, usageError{fmt.Errorf("--role %q: a role limited to a context is written ROLE@TYPE:ID, such as STORE_ASSISTANT@LOCATION:l1", spec)}
			}
			a.Context = &gatehouse.RoleContext{Type: typ, ID: id}
		}
		if role == "" {
			return nil, usageError{fmt.Errorf("--role %q: the role name is missing (ROLE or ROLE@TYPE:ID)", spec)}
		}
		roles = append(roles, a)
	}
	return roles, nil
}

// addPasswordFlags adds --password and --password-stdin.
func addPasswordFlags(cmd *cobra.Command, usage string) {
	cmd.Flags().String("password", "", usage+" (visible to other local users in the process list: prefer --password-stdin)")
	cmd.Flags().Bool("password-stdin", false, "read the password from the first line of standard input")
}

// passwordFromFlags returns the password given by --password or on stdin,
// and "" when neither was given.
func passwordFromFlags(cmd *cobra.Command) (string, error) {
	fs := cmd.Flags()
	fromStdin, _ := fs.GetBool("password-stdin")
	switch {
	case fromStdin && fs.Changed("password"):
		return "", usageError{errors.New("give --password or --password-stdin, not both")}
	case fs.Changed("password"):
		p, _ := fs.GetString("password")
		if p == "" {
			return "", usageError{errors.New("--password is empty")}
		}
		return p, nil
	case fromStdin:
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			return "", usageError{errors.New("--password-stdin: standard input holds no password")}
		}
		return line, nil
	}
	return "", nil
}

// findUser returns the user whose id, or else whose username, is ref.
func findUser(ctx context.Context, a *app, env, ref string) (*gatehouse.User, error) {
	u, err := a.svc.GetUser(ctx, env, ref)
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return u, err
	}
	byName, err := a.store.GetUserByUsername(ctx, env, ref)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "user %q not found in environment %s (give an id or a username)", ref, env)
	}
	if err != nil {
		return nil, err
	}
	return a.svc.GetUser(ctx, env, byName.ID)
}

func userCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create USERNAME --env ENV",
		Short: "Create a user",
		Long: `Create a user of an environment.

A local user (--identity-provider local, the default) may be given an initial
password, which they must change at first sign-in; without one they cannot
sign in until it is set. Prefer --password-stdin: a --password flag is
visible in the process list.

A corporate user (any other --identity-provider) signs in at that identity
provider and never has a password here. API users are always local.`,
		Example: `  printf '%s\n' "$INITIAL_PASSWORD" | gatehouse user create alice@acme.example --env acme \
      --first-name Alice --last-name Liddell --email alice@acme.example --password-stdin
  gatehouse user create bob@corp.example --env acme --identity-provider corp-oidc --role ADMIN
  gatehouse user create clerk --env acme --type LOCATION --role STORE_ASSISTANT@LOCATION:l1`,
		Args: exactArgs("USERNAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			patch, err := userPatchFromFlags(cmd, true)
			if err != nil {
				return err
			}
			pw, err := passwordFromFlags(cmd)
			if err != nil {
				return err
			}
			var nu service.NewUser
			patch.Username = &args[0]
			patch.Apply(&nu.User)
			nu.IdentityProvider, _ = cmd.Flags().GetString("identity-provider")
			nu.Password = pw
			if force, _ := cmd.Flags().GetBool("force-change"); !force {
				if pw == "" {
					return usageError{fmt.Errorf("--force-change=false goes with a password")}
				}
				nu.KeepPassword = true
			}
			return withEnv(cmd, func(a *app, env string) error {
				u, err := a.svc.CreateUser(cmd.Context(), service.OperatorActor(), env, nu)
				if err != nil {
					return err
				}
				return printOut(cmd, u, func(w io.Writer) {
					fmt.Fprintf(w, "Created user %s (id %s).\n", u.Username, u.ID)
					printUser(w, u)
				})
			})
		},
	}
	addUserFieldFlags(cmd, true)
	cmd.Flags().String("identity-provider", gatehouse.LocalIdentityProvider, `"local", or the corporate identity provider the user signs in at`)
	addPasswordFlags(cmd, "initial password, to be changed at first sign-in")
	cmd.Flags().Bool("force-change", true, "with a password: the user must change it at first sign-in (false for API users, whose password is final)")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func userListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --env ENV",
		Short: "List users, oldest first, by filter",
		Long: fmt.Sprintf(`List the users of an environment, oldest first. Filters combine; username
and email compare case-insensitively, and a %% in --username, --first-name,
--last-name or --email is a wildcard. A search that no index narrows reads at
most %d users a page and says so when it stops early: go on with --cursor.`, service.DefaultUserSearchScan),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			get := func(name string) string { v, _ := fs.GetString(name); return v }
			f := gatehouse.UserFilter{
				Username: get("username"), FirstName: get("first-name"), LastName: get("last-name"),
				PrimaryEmail: get("email"), Type: get("type"), Status: get("status"),
			}
			f.Limit, _ = fs.GetInt("limit")
			if f.Limit < 1 || f.Limit > service.MaxPageSize {
				return usageError{fmt.Errorf("--limit must be between 1 and %d", service.MaxPageSize)}
			}
			return withEnv(cmd, func(a *app, env string) error {
				page, err := a.svc.ListUsers(cmd.Context(), env, f, get("cursor"))
				if err != nil {
					return err
				}
				return printOut(cmd, page, func(w io.Writer) {
					printUsers(w, page.Items...)
					if page.SearchLimitReached {
						fmt.Fprintf(w, "The search read %d users without filling the page; more may match further on.\n", page.SearchScan)
					}
					if page.NextCursor != "" {
						fmt.Fprintf(w, "More: --cursor %s\n", page.NextCursor)
					}
				})
			})
		},
	}
	for _, f := range []struct{ name, usage string }{
		{"username", "username (% is a wildcard)"}, {"first-name", "first name (% is a wildcard)"},
		{"last-name", "last name (% is a wildcard)"}, {"email", "primary email (% is a wildcard)"},
		{"type", "user type"}, {"status", "ACTIVE or INACTIVE"},
		{"cursor", "start after the previous page (its nextCursor)"},
	} {
		cmd.Flags().String(f.name, "", f.usage)
	}
	cmd.Flags().Int("limit", 100, "most users to list")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

// printUsers prints users as a table.
func printUsers(w io.Writer, users ...*gatehouse.User) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tTYPE\tSTATUS\tPASSWORD STATE")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.Type, u.Status, u.PasswordState)
	}
	tw.Flush()
}

// printUser prints every field of a user that is set.
func printUser(w io.Writer, u *gatehouse.User) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	at := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	line("ID", u.ID)
	line("Username", u.Username)
	line("Ref", u.Ref)
	line("Type", u.Type)
	line("Status", u.Status)
	line("Identity provider", u.IdentityProvider)
	line("Password state", u.PasswordState)
	line("Name", strings.TrimSpace(strings.Join([]string{u.Title, u.FirstName, u.LastName}, " ")))
	line("Email", u.PrimaryEmail)
	line("Phone", u.PrimaryPhone)
	line("Time zone", u.Timezone)
	line("Language", u.Language)
	line("Department", u.Department)
	line("Country", u.Country)
	line("Retailer", u.PrimaryRetailer)
	line("Location", u.PrimaryLocation)
	if u.PromotionOptIn {
		line("Promotions", "opted in")
	}
	line("Roles", roleList(u.Roles))
	for _, a := range u.Attributes {
		line("Attribute "+a.Name, a.Value+" ("+a.Type+")")
	}
	line("Created", at(&u.CreatedOn))
	line("Updated", at(&u.UpdatedOn))
	line("Last sign-on", at(u.LastSignOn))
	line("Locked until", at(u.LockedUntil))
	tw.Flush()
}

// roleList writes role assignments as --role takes them.
func roleList(roles []gatehouse.RoleAssignment) string {
	names := make([]string, len(roles))
	for i, a := range roles {
		names[i] = a.Role
		if a.Context != nil {
			names[i] += "@" + a.Context.Type + ":" + a.Context.ID
		}
	}
	return strings.Join(names, ", ")
}

func userGetCmd() *cobra.Command {
	return envObjectCmd("get ID|USERNAME --env ENV", "Show one user, by id or username", "ID or USERNAME",
		func(cmd *cobra.Command, a *app, env, ref string) error {
			u, err := findUser(cmd.Context(), a, env, ref)
			if err != nil {
				return err
			}
			return printOut(cmd, u, func(w io.Writer) { printUser(w, u) })
		})
}

func userUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID|USERNAME --env ENV [--FIELD VALUE]…",
		Short: "Change some fields of a user",
		Long: `Change the fields of a user given by flags; fields not given are left alone.
An empty value clears a field (--ref ""). --role replaces every role
assignment of the user; --no-roles removes them all. The identity provider
and the password are not changed here: see set-password.`,
		Args: exactArgs("ID or USERNAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			patch, err := userPatchFromFlags(cmd, false)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("username") {
				v, _ := cmd.Flags().GetString("username")
				patch.Username = &v
			}
			if noRoles, _ := cmd.Flags().GetBool("no-roles"); noRoles {
				if patch.Roles != nil {
					return usageError{errors.New("give --role or --no-roles, not both")}
				}
				patch.Roles = &[]gatehouse.RoleAssignment{}
			}
			if patch == (service.UserPatch{}) {
				return usageError{errors.New("nothing to change: give the fields to change as flags (see --help)")}
			}
			return withEnv(cmd, func(a *app, env string) error {
				target, err := findUser(cmd.Context(), a, env, args[0])
				if err != nil {
					return err
				}
				u, err := a.svc.UpdateUser(cmd.Context(), service.OperatorActor(), env, target.ID, patch)
				if err != nil {
					return err
				}
				return printOut(cmd, u, func(w io.Writer) {
					fmt.Fprintf(w, "Updated user %s.\n", u.Username)
					printUser(w, u)
				})
			})
		},
	}
	addUserFieldFlags(cmd, false)
	cmd.Flags().String("username", "", "new username")
	cmd.Flags().Bool("no-roles", false, "remove every role assignment")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

// userActionCmd is a command on one user that prints the user afterwards.
func userActionCmd(use, short, long string, do func(cmd *cobra.Command, a *app, env string, u *gatehouse.User) (*gatehouse.User, string, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  exactArgs("ID or USERNAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				target, err := findUser(cmd.Context(), a, env, args[0])
				if err != nil {
					return err
				}
				u, done, err := do(cmd, a, env, target)
				if err != nil {
					return err
				}
				return printOut(cmd, u, func(w io.Writer) {
					fmt.Fprintln(w, done)
					printUsers(w, u)
				})
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func userStatusCmd(verb, status, short string) *cobra.Command {
	return userActionCmd(verb+" ID|USERNAME --env ENV", short, "",
		func(cmd *cobra.Command, a *app, env string, u *gatehouse.User) (*gatehouse.User, string, error) {
			u, err := a.svc.UpdateUser(cmd.Context(), service.OperatorActor(), env, u.ID, service.UserPatch{Status: &status})
			if err != nil {
				return nil, "", err
			}
			return u, fmt.Sprintf("User %s is %s.", u.Username, u.Status), nil
		})
}

func userSetPasswordCmd() *cobra.Command {
	var pw string
	cmd := userActionCmd("set-password ID|USERNAME --env ENV --password-stdin|--password PASSWORD [--force-change=false]",
		"Set a local user's password",
		`Set a local user's password, as an administrator. The password must meet
the environment's password policy. By default the user must change it at
next sign-in; --force-change=false makes it their password as is. Setting a
password also ends a lockout. Corporate users have no password here.`,
		func(cmd *cobra.Command, a *app, env string, u *gatehouse.User) (*gatehouse.User, string, error) {
			force, _ := cmd.Flags().GetBool("force-change")
			u, err := a.svc.SetPassword(cmd.Context(), service.OperatorActor(), env, u.ID, pw, force)
			if err != nil {
				return nil, "", err
			}
			return u, fmt.Sprintf("Set the password of %s.", u.Username), nil
		})
	addPasswordFlags(cmd, "the new password")
	cmd.Flags().Bool("force-change", true, "the user must change the password at next sign-in")
	// The password is read before the store is opened.
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var err error
		if pw, err = passwordFromFlags(cmd); err != nil {
			return err
		}
		if pw == "" {
			return usageError{errors.New("give the new password with --password-stdin (or --password)")}
		}
		return run(cmd, args)
	}
	return cmd
}

func userUnlockCmd() *cobra.Command {
	return userActionCmd("unlock ID|USERNAME --env ENV", "End a local user's lockout after failed sign-ins", "",
		func(cmd *cobra.Command, a *app, env string, u *gatehouse.User) (*gatehouse.User, string, error) {
			u, err := a.svc.Unlock(cmd.Context(), service.OperatorActor(), env, u.ID)
			if err != nil {
				return nil, "", err
			}
			return u, fmt.Sprintf("Unlocked %s.", u.Username), nil
		})
}

func userForceChangeCmd() *cobra.Command {
	return userActionCmd("force-change ID|USERNAME --env ENV", "Make a local user change their password at next sign-in", "",
		func(cmd *cobra.Command, a *app, env string, u *gatehouse.User) (*gatehouse.User, string, error) {
			u, err := a.svc.ForcePasswordChange(cmd.Context(), service.OperatorActor(), env, u.ID)
			if err != nil {
				return nil, "", err
			}
			return u, fmt.Sprintf("%s must change their password at next sign-in.", u.Username), nil
		})
}

func userDeleteCmd() *cobra.Command {
	return deleteInEnvCmd("delete ID|USERNAME --env ENV --yes", "Delete a user for good", "ID or USERNAME",
		"deleting user %s cannot be undone: add --yes to confirm",
		func(cmd *cobra.Command, a *app, env, ref string) (map[string]any, string, error) {
			u, err := findUser(cmd.Context(), a, env, ref)
			if err != nil {
				return nil, "", err
			}
			if err := a.svc.DeleteUser(cmd.Context(), service.OperatorActor(), env, u.ID); err != nil {
				return nil, "", err
			}
			return map[string]any{"id": u.ID, "username": u.Username, "deleted": true}, fmt.Sprintf("Deleted user %s (id %s).", u.Username, u.ID), nil
		})
}
