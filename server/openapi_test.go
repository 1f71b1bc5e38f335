package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// The embedded OpenAPI document is written by hand; these tests hold it to
// the route table, the mux and the Go types it describes.

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIDoc parses the embedded document.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// openAPIOperation is one operation of the document.
type openAPIOperation struct {
	method, path string // method in upper case
	op           map[string]any
	item         map[string]any // the path item, for its parameters
}

func (o openAPIOperation) key() string { return o.method + " " + o.path }

func openAPIOperations(t *testing.T, doc map[string]any) []openAPIOperation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("the document has no paths object")
	}
	var ops []openAPIOperation
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for _, m := range openAPIMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops = append(ops, openAPIOperation{strings.ToUpper(m), path, op, item})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].key() < ops[j].key() })
	return ops
}

// resolve follows a local $ref ("#/a/b") from the document root.
func resolve(doc map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q is not local to the document", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not inside an object", ref, part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, part)
		}
	}
	return cur, nil
}

// deref returns v, or what it refers to when it is a {"$ref": …} object.
func deref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, err := resolve(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		return deref(t, doc, target)
	}
	return m
}

func TestOpenAPIDocumentIsJSON31(t *testing.T) {
	if !json.Valid(openAPIDocument) {
		t.Fatal("openapi.json is not valid JSON")
	}
	if err := noDuplicateKeys(json.NewDecoder(bytes.NewReader(openAPIDocument)), "$"); err != nil {
		t.Fatal(err)
	}
	doc := openAPIDoc(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info lacks title or version: %v", info)
	}
	if servers, _ := doc["servers"].([]any); len(servers) != 1 || deref(t, doc, servers[0])["url"] != "/" {
		t.Errorf("servers = %v, want one with url /", doc["servers"])
	}
}

// noDuplicateKeys reads one JSON value and reports a key given twice in an
// object, which json.Unmarshal would silently let the last one win.
func noDuplicateKeys(dec *json.Decoder, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if seen[key] {
				return fmt.Errorf("openapi.json: key %q is given twice in %s", key, at)
			}
			seen[key] = true
			if err := noDuplicateKeys(dec, at+"."+key); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := noDuplicateKeys(dec, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	if err == io.EOF {
		err = nil
	}
	return err
}

// rolesSentence is how each operation's description begins: who may call it.
func rolesSentence(a access) string {
	if a.system {
		return "Operators only: the token must come from the system environment, and its subject must hold one of " +
			strings.Join(a.roles, ", ") + " there."
	}
	return "Administrators of the environment: the token's subject must hold one of " + strings.Join(a.roles, ", ") + "."
}

func TestOpenAPIMatchesRouteTable(t *testing.T) {
	doc := openAPIDoc(t)
	documented := map[string]openAPIOperation{}
	for _, o := range openAPIOperations(t, doc) {
		if strings.HasPrefix(o.path, "/api/v1/") {
			documented[o.key()] = o
		}
	}
	routes := map[string]apiRoute{}
	for _, rt := range (&Server{}).apiRoutes() {
		key := rt.method + " /api/v1" + rt.path
		if _, dup := routes[key]; dup {
			t.Errorf("the route table has %s twice", key)
		}
		routes[key] = rt
	}
	var missing, extra []string
	for key := range routes {
		if _, ok := documented[key]; !ok {
			missing = append(missing, key)
		}
	}
	for key := range documented {
		if _, ok := routes[key]; !ok {
			extra = append(extra, key)
		}
	}
	if len(missing)+len(extra) > 0 {
		list := func(keys []string) string {
			if len(keys) == 0 {
				return "(none)"
			}
			sort.Strings(keys)
			return strings.Join(keys, "\n    ")
		}
		t.Errorf("openapi.json and apiRoutes differ:\n  in apiRoutes, not documented:\n    %s\n  documented, not in apiRoutes:\n    %s",
			list(missing), list(extra))
	}
	for key, rt := range routes {
		o, ok := documented[key]
		if !ok {
			continue
		}
		if got := o.op["summary"]; got != rt.summary {
			t.Errorf("%s: summary %q, the table says %q", key, got, rt.summary)
		}
		if got := o.op["x-gatehouse-access"]; got != rt.access.name {
			t.Errorf("%s: x-gatehouse-access %v, the table says %s", key, got, rt.access.name)
		}
		desc, _ := o.op["description"].(string)
		if want := rolesSentence(rt.access); !strings.HasPrefix(desc, want) {
			t.Errorf("%s: description should begin %q; it is %q", key, want, desc)
		}
		if _, ok := o.op["security"]; ok {
			t.Errorf("%s: overrides security; every management operation takes the bearer token", key)
		}
		responses, _ := o.op["responses"].(map[string]any)
		for _, code := range []string{"401", "403"} {
			if _, ok := responses[code]; !ok {
				t.Errorf("%s: response %s is not documented", key, code)
			}
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(responses)), func(c string) bool { return strings.HasPrefix(c, "2") }) {
			t.Errorf("%s: no success response", key)
		}
	}
}

// TestOpenAPIOperationsAreRouted checks that the mux serves every documented
// operation, OAuth endpoints included, at exactly that pattern.
func TestOpenAPIOperationsAreRouted(t *testing.T) {
	s := New(&service.Service{}, slog.New(slog.DiscardHandler), NewMetrics())
	ids := map[string]string{}
	for _, o := range openAPIOperations(t, openAPIDoc(t)) {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", o.key())
		} else if other, dup := ids[id]; dup {
			t.Errorf("operationId %s is used by %s and %s", id, other, o.key())
		}
		ids[id] = o.key()
		if o.op["summary"] == nil || o.op["responses"] == nil {
			t.Errorf("%s lacks a summary or responses", o.key())
		}
		path := regexp.MustCompile(`\{[^}/]+\}`).ReplaceAllString(o.path, "x1")
		_, pattern := s.mux.Handler(httptest.NewRequest(o.method, path, nil))
		if pattern != o.key() {
			t.Errorf("%s is documented, but the mux serves %s %s by %q", o.key(), o.method, path, pattern)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := openAPIDoc(t)
	used := map[string]bool{}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/components/") {
					t.Errorf("%s: $ref %q is not to a component", at, ref)
				} else if _, err := resolve(doc, ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
				used[ref] = true
			}
			for k, x := range v {
				walk(x, at+"."+k)
			}
		case []any:
			for i, x := range v {
				walk(x, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	walk(doc, "$")
	components, _ := doc["components"].(map[string]any)
	for _, kind := range []string{"schemas", "parameters", "responses"} {
		defined, _ := components[kind].(map[string]any)
		for name := range defined {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is defined but never used", ref)
			}
		}
	}
}

func TestOpenAPIPathParametersDeclared(t *testing.T) {
	doc := openAPIDoc(t)
	template := regexp.MustCompile(`\{([^}]+)\}`)
	for _, o := range openAPIOperations(t, doc) {
		var want []string
		for _, m := range template.FindAllStringSubmatch(o.path, -1) {
			want = append(want, m[1])
		}
		declared := map[string]bool{}
		for _, level := range []any{o.item["parameters"], o.op["parameters"]} {
			list, _ := level.([]any)
			for _, p := range list {
				param := deref(t, doc, p)
				name, _ := param["name"].(string)
				if param["in"] != "path" {
					continue
				}
				if param["required"] != true {
					t.Errorf("%s: path parameter %s is not required: true", o.key(), name)
				}
				if param["schema"] == nil {
					t.Errorf("%s: path parameter %s has no schema", o.key(), name)
				}
				declared[name] = true
			}
		}
		for _, name := range want {
			if !declared[name] {
				t.Errorf("%s: path parameter {%s} is not declared", o.key(), name)
			}
		}
		for name := range declared {
			if !slices.Contains(want, name) {
				t.Errorf("%s: declares path parameter %s, which the path does not have", o.key(), name)
			}
		}
	}
}

// TestOpenAPIRequestBodiesAreClosed: the server refuses unknown fields, so
// every JSON request body says additionalProperties: false.
func TestOpenAPIRequestBodiesAreClosed(t *testing.T) {
	doc := openAPIDoc(t)
	var closed func(s map[string]any) bool
	closed = func(s map[string]any) bool {
		if s["additionalProperties"] == false {
			return true
		}
		all, _ := s["allOf"].([]any)
		return slices.ContainsFunc(all, func(x any) bool { return closed(deref(t, doc, x)) })
	}
	for _, o := range openAPIOperations(t, doc) {
		body := deref(t, doc, o.op["requestBody"])
		content, _ := body["content"].(map[string]any)
		media, ok := content["application/json"].(map[string]any)
		if !ok {
			continue
		}
		if !closed(deref(t, doc, media["schema"])) {
			t.Errorf("%s: the request body schema does not refuse unknown fields", o.key())
		}
	}
}

// jsonFields returns the JSON member names of a struct type, embedded
// structs inline, each with whether it is left out when empty.
func jsonFields(typ reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for k, v := range jsonFields(ft) {
				fields[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = strings.Contains(opts, "omitempty")
	}
	return fields
}

// schemaMembers returns the properties and required members of a schema,
// through allOf.
func schemaMembers(t *testing.T, doc map[string]any, s map[string]any) (props, required map[string]bool) {
	props, required = map[string]bool{}, map[string]bool{}
	own, _ := s["properties"].(map[string]any)
	for name := range own {
		props[name] = true
	}
	if list, ok := s["required"].([]any); ok {
		for _, r := range list {
			required[r.(string)] = true
		}
	}
	all, _ := s["allOf"].([]any)
	for _, x := range all {
		p, r := schemaMembers(t, doc, deref(t, doc, x))
		for k := range p {
			props[k] = true
		}
		for k := range r {
			required[k] = true
		}
	}
	return props, required
}

// TestOpenAPISchemasMatchGoTypes holds each schema to the Go type the
// server decodes or encodes: the same members, and for responses, required
// exactly when the member is always there (no omitempty).
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := openAPIDoc(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	cases := []struct {
		schema   string
		value    any
		response bool
	}{
		{"User", gatehouse.User{}, true},
		{"UserInput", userInput{}, false},
		{"Attribute", gatehouse.Attribute{}, false},
		{"RoleAssignment", gatehouse.RoleAssignment{}, false},
		{"RoleContext", gatehouse.RoleContext{}, false},
		{"UserPage", service.UserPage{}, true},
		{"Role", gatehouse.Role{}, true},
		{"RoleInput", roleInput{}, false},
		{"Application", gatehouse.Application{}, true},
		{"ApplicationInput", applicationInput{}, false},
		{"CreatedApplication", service.CreatedApplication{}, true},
		{"PasswordPolicy", gatehouse.PasswordPolicy{}, true},
		{"PasswordPolicyInput", gatehouse.PasswordPolicy{}, false},
		{"AuditEvent", gatehouse.AuditEvent{}, true},
		{"AuditPage", service.AuditPage{}, true},
		{"Environment", gatehouse.Environment{}, true},
		{"EnvironmentPage", service.EnvironmentPage{}, true},
		{"CreatedEnvironment", service.CreatedEnvironment{}, true},
		{"AdminCredentials", service.AdminCredentials{}, true},
		{"IdentityProvider", service.IdentityProviderView{}, true},
		{"IdentityProviderInput", identityProviderInput{}, false},
		{"IdentityProviderEndpoints", service.IdentityProviderEndpoints{}, true},
		{"OIDCSettings", gatehouse.OIDCSettings{}, false},
		{"SAMLSettings", gatehouse.SAMLSettings{}, false},
		{"DiscoveryRule", gatehouse.DiscoveryRule{}, true},
		{"DiscoveryRuleInput", discoveryRuleInput{}, false},
		{"MFAPolicy", gatehouse.MFAPolicy{}, true},
		{"MFAPolicyInput", gatehouse.MFAPolicy{}, false},
		{"SignOnPolicy", gatehouse.SignOnPolicy{}, true},
		{"MFADevice", gatehouse.MFADevice{}, true},
		{"UserMFA", service.UserMFA{}, true},
		{"MFABypassInput", bypassInput{}, false},
		{"Problem", Problem{}, true},
		{"TokenResponse", tokenResponse{}, true},
		{"OAuthError", tokenError{}, true},
	}
	for _, tc := range cases {
		s, ok := schemas[tc.schema].(map[string]any)
		if !ok {
			t.Errorf("schema %s is not defined", tc.schema)
			continue
		}
		props, required := schemaMembers(t, doc, s)
		fields := jsonFields(reflect.TypeOf(tc.value))
		for name, omitEmpty := range fields {
			switch {
			case !props[name]:
				t.Errorf("schema %s lacks %s, a member of %T", tc.schema, name, tc.value)
			case tc.response && !omitEmpty && !required[name]:
				t.Errorf("schema %s: %s is always answered, so it should be required", tc.schema, name)
			case tc.response && omitEmpty && required[name]:
				t.Errorf("schema %s: %s is left out when empty, so it should not be required", tc.schema, name)
			}
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				t.Errorf("schema %s has %s, which %T does not", tc.schema, name, tc.value)
			}
		}
	}
}
