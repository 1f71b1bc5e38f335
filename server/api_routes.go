package server

// apiRoutes is the whole management API: the one table that registers the
// routes and that the OpenAPI document is checked against.
func (s *Server) apiRoutes() []apiRoute {
	const env = "/environments/{env}"
	return []apiRoute{
		{"GET", "/environments", opsRead, "List environments", s.listEnvironments},
		{"POST", "/environments", opsWrite, "Create an environment with its first administrator", s.createEnvironment},
		{"GET", "/environments/{id}", opsRead, "Get an environment", s.getEnvironment},
		{"PATCH", "/environments/{id}", opsWrite, "Rename, disable or enable an environment", s.updateEnvironment},
		{"DELETE", "/environments/{id}", opsWrite, "Delete an environment and all its data", s.deleteEnvironment},

		{"GET", env + "/users", usersRead, "List and filter users", s.listUsers},
		{"POST", env + "/users", usersWrite, "Create a user", s.createUser},
		{"GET", env + "/users/{id}", usersRead, "Get a user", s.getUser},
		{"PATCH", env + "/users/{id}", usersWrite, "Change a user's fields or status", s.updateUser},
		{"DELETE", env + "/users/{id}", usersWrite, "Delete a user", s.deleteUser},
		{"PUT", env + "/users/{id}/password", usersWrite, "Set a user's password", s.setPassword},
		{"POST", env + "/users/{id}/password/force-change", usersWrite, "Make a user change their password at next sign-in", s.forceChange},
		{"POST", env + "/users/{id}/password/reset-email", usersWrite, "Email a user a code to choose a new password", s.sendPasswordResetEmail},
		{"POST", env + "/users/{id}/unlock", usersWrite, "End a user's lockout", s.unlockUser},
		{"PUT", env + "/users/{id}/roles", usersWrite, "Replace a user's role assignments", s.setUserRoles},
		{"GET", env + "/users/{id}/mfa", usersRead, "Get a user's second factors, block and bypass", s.getUserMFA},
		{"DELETE", env + "/users/{id}/mfa/devices/{device}", usersWrite, "Remove one of a user's second factors", s.deleteUserMFADevice},
		{"PUT", env + "/users/{id}/mfa/bypass", usersWrite, "Let a user sign in without a second factor until a time", s.putUserMFABypass},
		{"DELETE", env + "/users/{id}/mfa/bypass", usersWrite, "End a user's MFA bypass", s.deleteUserMFABypass},
		{"POST", env + "/users/{id}/mfa/unblock", usersWrite, "End a block that wrong second factors caused", s.unblockUserMFA},

		{"GET", env + "/roles", usersRead, "List role definitions", s.listRoles},
		{"POST", env + "/roles", envWrite, "Define a role", s.createRole},
		{"GET", env + "/roles/{name}", usersRead, "Get a role definition", s.getRole},
		{"PATCH", env + "/roles/{name}", envWrite, "Change a role's description or permissions", s.updateRole},
		{"DELETE", env + "/roles/{name}", envWrite, "Delete a custom role", s.deleteRole},

		{"GET", env + "/password-policy", usersRead, "Get the password policy", s.getPasswordPolicy},
		{"PUT", env + "/password-policy", envWrite, "Replace the password policy", s.putPasswordPolicy},

		{"GET", env + "/mfa-policy", usersRead, "Get the MFA policy", s.getMFAPolicy},
		{"PUT", env + "/mfa-policy", envWrite, "Replace the MFA policy", s.putMFAPolicy},
		{"GET", env + "/sign-on-policy", usersRead, "Get the sign-on policy", s.getSignOnPolicy},
		{"PUT", env + "/sign-on-policy", envWrite, "Replace the sign-on policy", s.putSignOnPolicy},

		{"GET", env + "/branding", envRead, "Get the branding of the hosted pages", s.getBranding},
		{"PUT", env + "/branding", envWrite, "Replace the branding of the hosted pages", s.putBranding},

		{"GET", env + "/applications", envRead, "List applications", s.listApplications},
		{"POST", env + "/applications", envWrite, "Create an application", s.createApplication},
		{"GET", env + "/applications/{id}", envRead, "Get an application", s.getApplication},
		{"PATCH", env + "/applications/{id}", envWrite, "Change an application", s.updateApplication},
		{"DELETE", env + "/applications/{id}", envWrite, "Delete an application", s.deleteApplication},
		{"POST", env + "/applications/{id}/secret", envWrite, "Rotate an application's secret", s.rotateApplicationSecret},

		{"GET", env + "/identity-providers", envRead, "List corporate identity providers", s.listIdentityProviders},
		{"POST", env + "/identity-providers", envWrite, "Add a corporate identity provider (OIDC or SAML)", s.createIdentityProvider},
		{"GET", env + "/identity-providers/{id}", envRead, "Get an identity provider with the URLs to give it", s.getIdentityProvider},
		{"PATCH", env + "/identity-providers/{id}", envWrite, "Change an identity provider", s.updateIdentityProvider},
		{"DELETE", env + "/identity-providers/{id}", envWrite, "Delete an identity provider that no user or rule names", s.deleteIdentityProvider},
		{"POST", env + "/identity-providers/{id}/test", envRead, "Test the connection to an identity provider", s.testIdentityProvider},

		{"GET", env + "/discovery-rules", envRead, "List discovery rules in the order they are tried", s.listDiscoveryRules},
		{"POST", env + "/discovery-rules", envWrite, "Add a discovery rule", s.createDiscoveryRule},
		{"GET", env + "/discovery-rules/{id}", envRead, "Get a discovery rule", s.getDiscoveryRule},
		{"PATCH", env + "/discovery-rules/{id}", envWrite, "Change a discovery rule", s.updateDiscoveryRule},
		{"DELETE", env + "/discovery-rules/{id}", envWrite, "Delete a discovery rule", s.deleteDiscoveryRule},

		{"GET", env + "/audit-events", envRead, "Search the audit log", s.listAuditEvents},
	}
}
