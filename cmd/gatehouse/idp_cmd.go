package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func newIdPCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "idp",
		Short: "Connect an environment to corporate identity providers (OIDC or SAML)",
		Long: `Connect an environment to its customers' corporate identity providers.

A corporate user (user create --identity-provider ID) signs in at their
identity provider; discovery rules (gatehouse rule) send the usernames they
match there from the identifier step. The URLs to register at the identity
provider are built on the base URL (GATEHOUSE_BASE_URL or the settings file),
as the server builds them.`,
	}
	cmd.AddCommand(idpCreateCmd(), idpListCmd(), idpShowCmd(), idpUpdateCmd(), idpDeleteCmd(), idpTestCmd(), idpMetadataCmd())
	return cmd
}

// The flags of each kind's settings, so that a flag of the other kind is
// refused rather than ignored.
var (
	oidcFlags = []string{"issuer", "client-id", "client-secret-stdin", "scope", "username-claim"}
	samlFlags = []string{"metadata-url", "metadata-file", "username-attribute", "sign-authn-requests"}
)

// idpSettingFlags are the flags that change an IdP.
func idpSettingFlags() []string {
	flags := []string{"name", "jit-provisioning", "jit-role", "no-jit-roles", "mfa-required"}
	return append(append(flags, oidcFlags...), samlFlags...)
}

// addIdPFlags adds the flags that create and update share.
func addIdPFlags(cmd *cobra.Command, create bool) {
	fs := cmd.Flags()
	if create {
		fs.String("id", "", "the IdP's id, a slug such as okta that appears in its URLs (default: generated); it cannot change")
	}
	fs.String("name", "", "name shown to administrators"+map[bool]string{true: " (required)"}[create])
	fs.String("issuer", "", "OIDC: the IdP's issuer URL; its discovery document is read at the first sign-in")
	fs.String("client-id", "", "OIDC: the client id Gatehouse has at the IdP")
	fs.Bool("client-secret-stdin", false, "OIDC: read the client secret from the first line of standard input (it is stored encrypted and never shown)")
	fs.StringArray("scope", nil, `OIDC: a scope to ask for; repeatable; must include "openid" (default: openid, profile, email)`)
	fs.String("username-claim", "", "OIDC: the claim matched against usernames (default: preferred_username, else a verified email)")
	fs.String("metadata-url", "", "SAML: the URL of the IdP's metadata, read at the first sign-in and refreshed hourly")
	fs.String("metadata-file", "", `SAML: a file holding the IdP's metadata XML ("-" for standard input)`)
	fs.String("username-attribute", "", "SAML: the attribute matched against usernames (default: the NameID)")
	fs.Bool("sign-authn-requests", false, "SAML: sign the authentication requests sent to the IdP")
	fs.Bool("jit-provisioning", false, "create a corporate user at the first sign-in of a username not in the directory")
	fs.StringArray("jit-role", nil, "a role given to users created just in time; repeatable")
	fs.Bool("mfa-required", false, "apply the environment's MFA policy to this IdP's users (otherwise the IdP's own MFA is trusted)")
	if !create {
		fs.Bool("no-jit-roles", false, "remove every role given to users created just in time")
	}
	envFlag(cmd)
	storeFlags(cmd, false)
}

// idpInput is what the flags of create and update say, read before the
// store is opened.
type idpInput struct {
	secret   *string // --client-secret-stdin
	metadata *string // --metadata-file's content
}

// readIdPInput reads the client secret and the metadata file the flags
// name.
func readIdPInput(cmd *cobra.Command) (idpInput, error) {
	var in idpInput
	fs := cmd.Flags()
	secretStdin, _ := fs.GetBool("client-secret-stdin")
	file, _ := fs.GetString("metadata-file")
	switch {
	case fs.Changed("metadata-url") && fs.Changed("metadata-file"):
		return in, usageError{errors.New("give --metadata-url or --metadata-file, not both")}
	case secretStdin && file == "-":
		return in, usageError{errors.New("--client-secret-stdin and --metadata-file - cannot both read standard input")}
	case fs.Changed("metadata-file") && file == "":
		return in, usageError{errors.New(`--metadata-file is empty: give a file, or "-" for standard input`)}
	}
	if secretStdin {
		s, err := readSecretLine(cmd.InOrStdin())
		if err != nil {
			return in, err
		}
		in.secret = &s
	}
	if file != "" {
		m, err := readMetadataFile(cmd.InOrStdin(), file)
		if err != nil {
			return in, err
		}
		in.metadata = &m
	}
	return in, nil
}

// readSecretLine reads the client secret from the first line of r.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the client secret from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageError{errors.New("--client-secret-stdin: standard input holds no client secret")}
	}
	return line, nil
}

// readMetadataFile reads IdP metadata from a file, or stdin for "-", and
// checks that it is XML; the SAML connector checks the rest.
func readMetadataFile(stdin io.Reader, path string) (string, error) {
	r, name := stdin, "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--metadata-file: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	raw, err := io.ReadAll(io.LimitReader(r, gatehouse.MaxMetadataXML+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("--metadata-file: reading %s: %w", name, err)
	case len(raw) > gatehouse.MaxMetadataXML:
		return "", gatehouse.Errorf(gatehouse.EINVALID, "--metadata-file: %s is larger than %d KiB, too large for SAML metadata", name, gatehouse.MaxMetadataXML>>10)
	case len(bytes.TrimSpace(raw)) == 0:
		return "", gatehouse.Errorf(gatehouse.EINVALID, "--metadata-file: %s is empty", name)
	}
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", gatehouse.Errorf(gatehouse.EINVALID, "--metadata-file: %s is not XML metadata: %v", name, err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			return string(raw), nil
		}
	}
}

// checkKindFlags refuses the flags of the other kind of IdP.
func checkKindFlags(cmd *cobra.Command, typ string) error {
	other, otherType := samlFlags, gatehouse.IdentityProviderSAML
	if typ == gatehouse.IdentityProviderSAML {
		other, otherType = oidcFlags, gatehouse.IdentityProviderOIDC
	}
	for _, f := range other {
		if cmd.Flags().Changed(f) {
			return usageError{fmt.Errorf("--%s is for %s identity providers, and this one is %s", f, otherType, typ)}
		}
	}
	return nil
}

// applyIdPFlags sets the fields given by flags on p, whose type is set:
// each kind's settings are changed on a copy, so that the fields not given
// are kept.
func applyIdPFlags(cmd *cobra.Command, in idpInput, p *gatehouse.IdentityProvider) error {
	if err := checkKindFlags(cmd, p.Type); err != nil {
		return err
	}
	fs := cmd.Flags()
	str := func(name string, field *string) bool {
		if !fs.Changed(name) {
			return false
		}
		*field, _ = fs.GetString(name)
		return true
	}
	boolean := func(name string, field *bool) bool {
		if !fs.Changed(name) {
			return false
		}
		*field, _ = fs.GetBool(name)
		return true
	}
	str("name", &p.Name)
	boolean("jit-provisioning", &p.JITProvisioning)
	boolean("mfa-required", &p.MFARequired)
	if fs.Changed("jit-role") {
		p.JITRoles, _ = fs.GetStringArray("jit-role")
	}
	if noRoles, _ := fs.GetBool("no-jit-roles"); noRoles {
		if fs.Changed("jit-role") {
			return usageError{errors.New("give --jit-role or --no-jit-roles, not both")}
		}
		p.JITRoles = []string{}
	}
	switch p.Type {
	case gatehouse.IdentityProviderOIDC:
		var s gatehouse.OIDCSettings
		if p.OIDC != nil {
			s = *p.OIDC
			s.Scopes = slices.Clone(s.Scopes)
		}
		// A secret left out is kept by the service; one given replaces it.
		s.ClientSecret = ""
		if in.secret != nil {
			s.ClientSecret = *in.secret
		}
		str("issuer", &s.Issuer)
		str("client-id", &s.ClientID)
		str("username-claim", &s.UsernameClaim)
		if fs.Changed("scope") {
			s.Scopes, _ = fs.GetStringArray("scope")
		}
		p.OIDC = &s
	case gatehouse.IdentityProviderSAML:
		var s gatehouse.SAMLSettings
		if p.SAML != nil {
			s = *p.SAML
		}
		if str("metadata-url", &s.MetadataURL) {
			s.MetadataXML = ""
		}
		if in.metadata != nil {
			s.MetadataXML, s.MetadataURL = *in.metadata, ""
		}
		str("username-attribute", &s.UsernameAttribute)
		boolean("sign-authn-requests", &s.SignAuthnRequests)
		p.SAML = &s
	}
	return nil
}

func idpCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --env ENV --name NAME --type OIDC|SAML",
		Short: "Add a corporate identity provider and print the URLs to register at it",
		Long: `Add a corporate identity provider (IdP) to an environment. Gatehouse does not
contact the IdP here: it can be set up before the IdP is (see idp test).

OIDC: --issuer and --client-id are required. The client secret is read from
standard input with --client-secret-stdin, never from a flag: it is stored
encrypted and never shown again.

SAML: the IdP's metadata comes from --metadata-url (read at the first
sign-in, then hourly) or --metadata-file (checked now). Gatehouse's own
metadata, to give the IdP, is printed by idp metadata.

The URLs to register at the IdP are printed: the redirect URI of an OIDC
IdP; the entity id, metadata URL and assertion consumer service (ACS) URL of
a SAML IdP.`,
		Example: `  printf '%s\n' "$CLIENT_SECRET" | gatehouse idp create --env acme --name "Acme Okta" --type OIDC \
      --issuer https://acme.okta.example --client-id 0oa1b2c3 --client-secret-stdin
  gatehouse idp create --env acme --id adfs --name "Acme ADFS" --type SAML --metadata-file adfs-metadata.xml
  gatehouse idp create --env acme --name "Acme Entra" --type SAML \
      --metadata-url https://login.microsoftonline.example/federationmetadata.xml --jit-provisioning --jit-role STORE_ASSISTANT`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			var p gatehouse.IdentityProvider
			p.ID, _ = fs.GetString("id")
			p.Name, _ = fs.GetString("name")
			typ, _ := fs.GetString("type")
			p.Type = strings.ToUpper(strings.TrimSpace(typ))
			switch {
			case strings.TrimSpace(p.Name) == "":
				return usageError{errors.New("--name is required")}
			case typ == "":
				return usageError{errors.New("--type is required: OIDC or SAML")}
			case p.Type != gatehouse.IdentityProviderOIDC && p.Type != gatehouse.IdentityProviderSAML:
				return usageError{fmt.Errorf("--type must be OIDC or SAML, not %q", typ)}
			}
			if err := checkKindFlags(cmd, p.Type); err != nil {
				return err
			}
			switch p.Type {
			case gatehouse.IdentityProviderOIDC:
				if !fs.Changed("issuer") {
					return usageError{errors.New("--issuer is required for an OIDC identity provider: the IdP's issuer URL, such as https://login.corp.example")}
				}
				if !fs.Changed("client-id") {
					return usageError{errors.New("--client-id is required for an OIDC identity provider: the client id Gatehouse has at the IdP")}
				}
			case gatehouse.IdentityProviderSAML:
				if !fs.Changed("metadata-url") && !fs.Changed("metadata-file") {
					return usageError{errors.New("a SAML identity provider needs --metadata-url or --metadata-file: the IdP's metadata")}
				}
			}
			if jit, _ := fs.GetBool("jit-provisioning"); !jit && fs.Changed("jit-role") {
				return usageError{errors.New("--jit-role goes with --jit-provisioning: roles of the users created just in time")}
			}
			in, err := readIdPInput(cmd)
			if err != nil {
				return err
			}
			if err := applyIdPFlags(cmd, in, &p); err != nil {
				return err
			}
			return withEnv(cmd, func(a *app, env string) error {
				v, err := a.svc.CreateIdentityProvider(cmd.Context(), service.OperatorActor(), env, p)
				if err != nil {
					return err
				}
				return printOut(cmd, v, func(w io.Writer) {
					fmt.Fprintf(w, "Created identity provider %s (id %s).\n", v.Name, v.ID)
					printIdentityProvider(w, v)
				})
			})
		},
	}
	cmd.Flags().String("type", "", "OIDC or SAML (required)")
	addIdPFlags(cmd, true)
	return cmd
}

// printIdentityProvider prints an IdP, then the URLs to register at it.
func printIdentityProvider(w io.Writer, v *service.IdentityProviderView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	yesNo := func(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
	line("ID", v.ID)
	line("Name", v.Name)
	line("Type", v.Type)
	if s := v.OIDC; s != nil {
		line("Issuer", s.Issuer)
		line("Client ID", s.ClientID)
		line("Scopes", strings.Join(s.Scopes, " "))
		line("Username claim", orDefault(s.UsernameClaim, "preferred_username, else a verified email (default)"))
	}
	if s := v.SAML; s != nil {
		line("Metadata URL", s.MetadataURL)
		if s.MetadataXML != "" {
			line("Metadata", fmt.Sprintf("given inline (%d bytes)", len(s.MetadataXML)))
		}
		line("Username attribute", orDefault(s.UsernameAttribute, "the NameID (default)"))
		line("Sign requests", yesNo(s.SignAuthnRequests))
	}
	line("JIT provisioning", yesNo(v.JITProvisioning))
	line("JIT roles", strings.Join(v.JITRoles, ", "))
	line("MFA required", yesNo(v.MFARequired))
	line("Created", v.CreatedOn.Format(time.RFC3339))
	line("Updated", v.UpdatedOn.Format(time.RFC3339))
	tw.Flush()
	fmt.Fprintln(w, "\nRegister these at the identity provider:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	e := v.Endpoints
	line("  Redirect URI", e.RedirectURI)
	line("  Entity ID", e.EntityID)
	line("  Metadata URL", e.MetadataURL)
	line("  ACS URL", e.ACSURL)
	tw.Flush()
}

// orDefault is v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// notFoundIn names what was not found and where.
func notFoundIn(err error, what, id, env string) error {
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "%s %q not found in environment %s", what, id, env)
	}
	return err
}

// getIdP returns one IdP of the environment.
func getIdP(ctx context.Context, a *app, env, id string) (*service.IdentityProviderView, error) {
	v, err := a.svc.GetIdentityProvider(ctx, env, id)
	return v, notFoundIn(err, "identity provider", id, env)
}

func idpListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --env ENV",
		Short: "List the identity providers of an environment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				list, err := a.svc.ListIdentityProviders(cmd.Context(), env)
				if err != nil {
					return err
				}
				return printOut(cmd, list, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tNAME\tTYPE\tISSUER OR METADATA\tJIT\tMFA REQUIRED")
					for _, v := range list {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\n", v.ID, v.Name, v.Type, idpSource(v.IdentityProvider),
							v.JITProvisioning, v.MFARequired)
					}
					tw.Flush()
				})
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

// idpSource says where the IdP is: its issuer or its metadata.
func idpSource(p *gatehouse.IdentityProvider) string {
	switch {
	case p.OIDC != nil:
		return p.OIDC.Issuer
	case p.SAML != nil && p.SAML.MetadataURL != "":
		return p.SAML.MetadataURL
	case p.SAML != nil:
		return "(metadata given inline)"
	}
	return ""
}

func idpShowCmd() *cobra.Command {
	return envObjectCmd("show ID --env ENV", "Show an identity provider and the URLs to register at it", "ID",
		func(cmd *cobra.Command, a *app, env, id string) error {
			v, err := getIdP(cmd.Context(), a, env, id)
			if err != nil {
				return err
			}
			return printOut(cmd, v, func(w io.Writer) { printIdentityProvider(w, v) })
		})
}

func idpUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID --env ENV [--FLAG VALUE]…",
		Short: "Change some settings of an identity provider",
		Long: `Change the settings of an identity provider given by flags; the others are
kept. The type never changes: create another identity provider instead.

OIDC: the client secret is kept unless a new one is read with
--client-secret-stdin. --scope replaces the scopes.
SAML: --metadata-url or --metadata-file replaces the metadata, whichever way
it was given; Gatehouse's own signing key, and so its metadata, is kept.`,
		Example: `  gatehouse idp update 01J9ZK3Q6W8V4R2T5Y7X9B1C3D --env acme --client-id 0oa9z8y7
  printf '%s\n' "$NEW_SECRET" | gatehouse idp update 01J9ZK3Q6W8V4R2T5Y7X9B1C3D --env acme --client-secret-stdin
  gatehouse idp update 01J9ZK3Q6W8V4R2T5Y7X9B1C3D --env acme --jit-provisioning=false`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := slices.ContainsFunc(idpSettingFlags(), cmd.Flags().Changed)
			if !changed {
				return usageError{errors.New("nothing to change: give the settings to change as flags (see --help)")}
			}
			in, err := readIdPInput(cmd)
			if err != nil {
				return err
			}
			id := args[0]
			return withEnv(cmd, func(a *app, env string) error {
				v, err := a.svc.UpdateIdentityProvider(cmd.Context(), service.OperatorActor(), env, id,
					func(p *gatehouse.IdentityProvider) error { return applyIdPFlags(cmd, in, p) })
				if err != nil {
					return notFoundIn(err, "identity provider", id, env)
				}
				return printOut(cmd, v, func(w io.Writer) {
					fmt.Fprintf(w, "Updated identity provider %s (id %s).\n", v.Name, v.ID)
					printIdentityProvider(w, v)
				})
			})
		},
	}
	addIdPFlags(cmd, false)
	return cmd
}

func idpDeleteCmd() *cobra.Command {
	return deleteInEnvCmd("delete ID --env ENV --yes", "Delete an identity provider that no user or discovery rule names",
		"ID", "deleting identity provider %s and its settings cannot be undone: add --yes to confirm",
		func(cmd *cobra.Command, a *app, env, id string) (map[string]any, string, error) {
			v, err := getIdP(cmd.Context(), a, env, id)
			if err != nil {
				return nil, "", err
			}
			if err := a.svc.DeleteIdentityProvider(cmd.Context(), service.OperatorActor(), env, id); err != nil {
				return nil, "", err
			}
			return map[string]any{"id": id, "deleted": true}, fmt.Sprintf("Deleted identity provider %s (id %s).", v.Name, id), nil
		})
}

func idpTestCmd() *cobra.Command {
	return envObjectCmd("test ID --env ENV", "Reach an identity provider and check its configuration (exit 1 when it fails)", "ID",
		func(cmd *cobra.Command, a *app, env, id string) error {
			v, err := getIdP(cmd.Context(), a, env, id)
			if err != nil {
				return err
			}
			err = a.svc.TestIdentityProvider(cmd.Context(), env, id)
			if gatehouse.ErrorCode(err) == gatehouse.EUNAVAILABLE {
				problem := gatehouse.ErrorMessage(err)
				if f, _ := outputFormat(cmd); f == outputJSON {
					printOut(cmd, map[string]any{"id": id, "ok": false, "problem": problem}, nil)
				}
				return fmt.Errorf("identity provider %s (id %s) failed the test: %s", v.Name, id, problem)
			}
			if err != nil {
				return err
			}
			return printOut(cmd, map[string]any{"id": id, "ok": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Identity provider %s (id %s) answered and its configuration is usable.\n", v.Name, id)
			})
		})
}

func idpMetadataCmd() *cobra.Command {
	return envObjectCmd("metadata ID --env ENV", "Print Gatehouse's SAML service provider metadata for an identity provider", "ID",
		func(cmd *cobra.Command, a *app, env, id string) error {
			v, err := getIdP(cmd.Context(), a, env, id)
			if err != nil {
				return err
			}
			if v.Type != gatehouse.IdentityProviderSAML {
				return gatehouse.Errorf(gatehouse.EINVALID, "identity provider %s is %s: only SAML identity providers have service provider metadata (register the redirect URI %s instead)",
					id, v.Type, v.Endpoints.RedirectURI)
			}
			md, err := a.svc.ServiceProviderMetadata(cmd.Context(), env, id)
			if err != nil {
				return err
			}
			return printOut(cmd, map[string]any{"id": id, "metadataUrl": v.Endpoints.MetadataURL, "metadataXml": string(md)}, func(w io.Writer) {
				w.Write(md)
				if !bytes.HasSuffix(md, []byte("\n")) {
					fmt.Fprintln(w)
				}
			})
		})
}

func newRuleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Discovery rules: route usernames to corporate identity providers",
		Long: `Discovery rules send a username typed at the identifier step to a corporate
identity provider. Rules are tried by order (lowest first, then oldest); the
first that matches wins, and a username no rule matches signs in with a
password. A rule matches an email domain (--email-domain corp.example matches
anyone@corp.example, case-insensitively) or a pattern (--pattern, an RE2
regular expression matched against the whole username, case-insensitively).`,
	}
	cmd.AddCommand(ruleCreateCmd(), ruleListCmd(), ruleUpdateCmd(), ruleDeleteCmd())
	return cmd
}

// ruleFlags adds the flags that create and update share.
func ruleFlags(cmd *cobra.Command, create bool) {
	orderUsage := "position: rules are tried from the lowest order"
	if create {
		orderUsage += " (default: after the last rule, its order + 10)"
	}
	cmd.Flags().String("idp", "", "id of the identity provider the rule routes to"+map[bool]string{true: " (required)"}[create])
	cmd.Flags().String("email-domain", "", "match usernames that end with @ and this domain")
	cmd.Flags().String("pattern", "", "match usernames by this regular expression (RE2, whole username, case-insensitive)")
	cmd.Flags().Int("order", 0, orderUsage)
	envFlag(cmd)
	storeFlags(cmd, false)
}

// checkRuleIdP makes sure --idp names an IdP of the environment, to say so
// in the flag's words.
func checkRuleIdP(ctx context.Context, a *app, env, id string) error {
	_, err := a.svc.GetIdentityProvider(ctx, env, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return gatehouse.Errorf(gatehouse.EINVALID, "--idp: no identity provider %q in environment %s (see gatehouse idp list --env %s)", id, env, env)
	}
	return err
}

func ruleCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --env ENV --idp ID (--email-domain DOMAIN | --pattern REGEXP) [--order N]",
		Short: "Add a discovery rule",
		Example: `  gatehouse rule create --env acme --idp 01J9ZK3Q6W8V4R2T5Y7X9B1C3D --email-domain corp.example
  gatehouse rule create --env acme --idp 01J9ZK3Q6W8V4R2T5Y7X9B1C3D --pattern '.*@(eu|us)\.corp\.example' --order 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			var d gatehouse.DiscoveryRule
			d.IdentityProviderID, _ = fs.GetString("idp")
			d.EmailDomain, _ = fs.GetString("email-domain")
			d.Pattern, _ = fs.GetString("pattern")
			d.Order, _ = fs.GetInt("order")
			switch {
			case d.IdentityProviderID == "":
				return usageError{errors.New("--idp is required: the id of the identity provider the rule routes to (see gatehouse idp list)")}
			case fs.Changed("email-domain") && fs.Changed("pattern"):
				return usageError{errors.New("give --email-domain or --pattern, not both: a rule matches one way")}
			case d.EmailDomain == "" && d.Pattern == "":
				return usageError{errors.New("give --email-domain or --pattern: what usernames the rule matches")}
			}
			return withEnv(cmd, func(a *app, env string) error {
				ctx := cmd.Context()
				if err := checkRuleIdP(ctx, a, env, d.IdentityProviderID); err != nil {
					return err
				}
				if !fs.Changed("order") {
					rules, err := a.svc.ListDiscoveryRules(ctx, env)
					if err != nil {
						return err
					}
					d.Order = 10
					if len(rules) > 0 {
						d.Order = min(rules[len(rules)-1].Order+10, 1_000_000)
					}
				}
				rule, err := a.svc.CreateDiscoveryRule(ctx, service.OperatorActor(), env, d)
				if err != nil {
					return err
				}
				return printOut(cmd, rule, func(w io.Writer) {
					fmt.Fprintf(w, "Created discovery rule %s.\n", rule.ID)
					printRules(w, idpNames(ctx, a, env), rule)
				})
			})
		},
	}
	ruleFlags(cmd, true)
	return cmd
}

// idpNames maps the environment's IdP ids to their names, for showing
// rules; empty if they cannot be read.
func idpNames(ctx context.Context, a *app, env string) map[string]string {
	names := map[string]string{}
	list, _ := a.svc.ListIdentityProviders(ctx, env)
	for _, v := range list {
		names[v.ID] = v.Name
	}
	return names
}

// printRules prints rules as a table, in the order given.
func printRules(w io.Writer, names map[string]string, rules ...*gatehouse.DiscoveryRule) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tID\tMATCHES\tIDENTITY PROVIDER")
	for _, d := range rules {
		match := "pattern " + d.Pattern
		if d.EmailDomain != "" {
			match = "*@" + d.EmailDomain
		}
		idp := d.IdentityProviderID
		if name := names[idp]; name != "" {
			idp += " (" + name + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", d.Order, d.ID, match, idp)
	}
	tw.Flush()
}

func ruleListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --env ENV",
		Short: "List the discovery rules of an environment in the order they are tried",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				rules, err := a.svc.ListDiscoveryRules(cmd.Context(), env)
				if err != nil {
					return err
				}
				return printOut(cmd, rules, func(w io.Writer) { printRules(w, idpNames(cmd.Context(), a, env), rules...) })
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func ruleUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID --env ENV [--order N] [--email-domain DOMAIN | --pattern REGEXP] [--idp ID]",
		Short: "Change a discovery rule",
		Long: `Change the fields of a discovery rule given by flags; the others are kept.
A rule matches one way: --email-domain replaces a pattern, and --pattern an
email domain.`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if fs.Changed("email-domain") && fs.Changed("pattern") {
				return usageError{errors.New("give --email-domain or --pattern, not both: a rule matches one way")}
			}
			if !fs.Changed("order") && !fs.Changed("email-domain") && !fs.Changed("pattern") && !fs.Changed("idp") {
				return usageError{errors.New("nothing to change: give --order, --email-domain, --pattern or --idp")}
			}
			id := args[0]
			return withEnv(cmd, func(a *app, env string) error {
				ctx := cmd.Context()
				if fs.Changed("idp") {
					idp, _ := fs.GetString("idp")
					if err := checkRuleIdP(ctx, a, env, idp); err != nil {
						return err
					}
				}
				rule, err := a.svc.UpdateDiscoveryRule(ctx, service.OperatorActor(), env, id, func(d *gatehouse.DiscoveryRule) {
					if fs.Changed("order") {
						d.Order, _ = fs.GetInt("order")
					}
					if fs.Changed("email-domain") {
						d.EmailDomain, _ = fs.GetString("email-domain")
						d.Pattern = ""
					}
					if fs.Changed("pattern") {
						d.Pattern, _ = fs.GetString("pattern")
						d.EmailDomain = ""
					}
					if fs.Changed("idp") {
						d.IdentityProviderID, _ = fs.GetString("idp")
					}
				})
				if err != nil {
					return notFoundIn(err, "discovery rule", id, env)
				}
				return printOut(cmd, rule, func(w io.Writer) {
					fmt.Fprintf(w, "Updated discovery rule %s.\n", rule.ID)
					printRules(w, idpNames(ctx, a, env), rule)
				})
			})
		},
	}
	ruleFlags(cmd, false)
	return cmd
}

func ruleDeleteCmd() *cobra.Command {
	return envObjectCmd("delete ID --env ENV", "Delete a discovery rule: the usernames it matched go to the next rule, or sign in with a password", "ID",
		func(cmd *cobra.Command, a *app, env, id string) error {
			ctx := cmd.Context()
			if _, err := a.svc.GetDiscoveryRule(ctx, env, id); err != nil {
				return notFoundIn(err, "discovery rule", id, env)
			}
			if err := a.svc.DeleteDiscoveryRule(ctx, service.OperatorActor(), env, id); err != nil {
				return notFoundIn(err, "discovery rule", id, env)
			}
			return printOut(cmd, map[string]any{"id": id, "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted discovery rule %s.\n", id)
			})
		})
}
