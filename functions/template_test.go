package functions_test

// template.yaml checked as thoroughly as a test can without AWS (issue #6):
//
//   - cfn-lint (with its SAM transform) finds nothing, and does find two planted defects;
//   - the template follows the official SAM JSON schema (testdata/sam/sam.schema.json),
//     and broken copies do not;
//   - every SAM policy template used exists and gets exactly its parameters;
//   - every Ref, GetAtt, Sub variable, condition and DependsOn names something declared;
//   - every HTTP API route is served by the function it is routed to, and every route the
//     code serves is in the template, with the right authorizer;
//   - every function has its Makefile build target, FUNCTIONS entry and main package;
//   - every function runs provided.al2023 on arm64 with a timeout, memory and a log group
//     that expires its logs.
//
// Each check is a function of the parsed template returning its problems, so that the
// tests can show it catches what it is for on mutated copies, in memory.
//
// Names here start with "sam" so as not to meet functions_test.go's.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"

	"github.com/relinkhq/relink/internal/api"
	"github.com/relinkhq/relink/internal/portal"
)

// samRoot is the repository root as seen from this package's directory.
const samRoot = ".."

// samReadTemplate returns template.yaml's text.
func samReadTemplate(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// samParse is samDecode for a test: the template as CloudFormation reads it.
func samParse(t *testing.T, src string) map[string]any {
	t.Helper()
	tpl, err := samDecode([]byte(src))
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	return tpl
}

// samReplace returns src with the first old replaced by new; old must be there, so a
// mutation that no longer applies fails instead of testing nothing.
func samReplace(t *testing.T, src string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(src, pairs[i]) {
			t.Fatalf("the template no longer contains %q: update this mutation", pairs[i])
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

// ---- YAML with CloudFormation's short-form tags → the JSON CloudFormation sees ----

// samFnTags are the short-form tags whose long form is {"Fn::<tag>": argument}.
var samFnTags = []string{"And", "Base64", "Cidr", "Equals", "FindInMap", "GetAZs", "If", "ImportValue",
	"Join", "Length", "Not", "Or", "Select", "Split", "Sub", "ToJsonString", "Transform"}

// samDecode turns a CloudFormation YAML template into its JSON value: !Ref X becomes
// {"Ref": "X"}, !Condition X {"Condition": "X"}, !GetAtt A.B {"Fn::GetAtt": ["A", "B"]},
// any other short form !F {"Fn::F": …}. Unknown tags, merge keys and duplicate keys
// (which CloudFormation refuses) are errors.
func samDecode(src []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	v, err := samValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a mapping")
	}
	return m, nil
}

func samValue(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return samValue(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return samShortForm(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: only plain keys, not %q", k.Line, k.Value)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := samValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := samValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

func samShortForm(n *yaml.Node) (any, error) {
	tag := strings.TrimPrefix(n.Tag, "!")
	var arg any = n.Value // a tagged scalar is a string: !Ref 5 names "5"
	if n.Kind != yaml.ScalarNode {
		untagged := *n
		untagged.Tag = ""
		var err error
		if arg, err = samValue(&untagged); err != nil {
			return nil, err
		}
	}
	switch {
	case tag == "Ref" || tag == "Condition":
		if _, ok := arg.(string); !ok {
			return nil, fmt.Errorf("line %d: !%s takes a name", n.Line, tag)
		}
		return map[string]any{tag: arg}, nil
	case tag == "GetAtt":
		if s, ok := arg.(string); ok {
			// The resource is up to the first dot; attributes may have dots (Endpoint.Address).
			res, attr, found := strings.Cut(s, ".")
			if !found || res == "" || attr == "" {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": arg}, nil
	case slices.Contains(samFnTags, tag):
		return map[string]any{"Fn::" + tag: arg}, nil
	}
	return nil, fmt.Errorf("line %d: unknown tag !%s", n.Line, tag)
}

func TestTemplateShortFormTags(t *testing.T) {
	t.Parallel()
	got, err := samDecode([]byte(`
A: !Ref Stage
B: !Sub "${AWS::Region}-${Table.Arn}"
C: !Sub ["${X}", {X: !Ref Stage}]
D: !GetAtt Db.Endpoint.Address
E: [!GetAtt [Q, Arn]]
F: !If [HasX, !Ref AWS::NoValue, 5]
G: !Not [!Equals [!Ref P, ""]]
H: !And [!Condition HasX, !Or [!Condition HasY, !Condition HasZ]]
I: !Join ["", [!Select [0, !Split [",", "a,b"]], !Base64 "x", !GetAZs ""]]
J: !FindInMap [M, !Ref AWS::Region, K]
K: {n: 5, f: 1.5, b: true, s: "7", z: null}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": map[string]any{"Ref": "Stage"},
		"B": map[string]any{"Fn::Sub": "${AWS::Region}-${Table.Arn}"},
		"C": map[string]any{"Fn::Sub": []any{"${X}", map[string]any{"X": map[string]any{"Ref": "Stage"}}}},
		"D": map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}},
		"E": []any{map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}}},
		"F": map[string]any{"Fn::If": []any{"HasX", map[string]any{"Ref": "AWS::NoValue"}, 5}},
		"G": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "P"}, ""}}}},
		"H": map[string]any{"Fn::And": []any{map[string]any{"Condition": "HasX"},
			map[string]any{"Fn::Or": []any{map[string]any{"Condition": "HasY"}, map[string]any{"Condition": "HasZ"}}}}},
		"I": map[string]any{"Fn::Join": []any{"", []any{
			map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::Split": []any{",", "a,b"}}}},
			map[string]any{"Fn::Base64": "x"}, map[string]any{"Fn::GetAZs": ""}}}},
		"J": map[string]any{"Fn::FindInMap": []any{"M", map[string]any{"Ref": "AWS::Region"}, "K"}},
		"K": map[string]any{"n": 5, "f": 1.5, "b": true, "s": "7", "z": nil},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
	for _, bad := range []string{"A: !Reff X", "A: !GetAtt NoDot", "A: !Ref [X]", "A: 1\nA: 2", "a: &x {b: 1}\nc: {<<: *x}"} {
		if _, err := samDecode([]byte(bad)); err == nil {
			t.Errorf("%q: decoded without error", bad)
		}
	}
}

// ---- small accessors over the decoded template ----

func samMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func samStr(v any) string { s, _ := v.(string); return s }

// samInt reads a literal number (YAML int, integral float, or numeric string).
func samInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

// samRefOf returns X of {"Ref": "X"}.
func samRefOf(v any) (string, bool) {
	m := samMap(v)
	if len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// samResources returns the logical IDs of the resources of the given type, sorted.
func samResources(tpl map[string]any, typ string) []string {
	var ids []string
	for id, r := range samMap(tpl["Resources"]) {
		if samStr(samMap(r)["Type"]) == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// samProp is a function's property, or Globals.Function's when the function has none.
func samProp(tpl map[string]any, fn, key string) (any, bool) {
	props := samMap(samMap(samMap(tpl["Resources"])[fn])["Properties"])
	if v, ok := props[key]; ok {
		return v, true
	}
	v, ok := samMap(samMap(tpl["Globals"])["Function"])[key]
	return v, ok
}

// samExpectProblems wants a problem containing want among what a check found, or no
// problem at all when want is empty.
func samExpectProblems(t *testing.T, problems []string, want string) {
	t.Helper()
	if want == "" {
		if len(problems) > 0 {
			t.Errorf("want no problems, got:\n  %s", strings.Join(problems, "\n  "))
		}
		return
	}
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("want a problem containing %q, got:\n  %s", want, strings.Join(problems, "\n  "))
}

// ---- 1. cfn-lint ----

// samLintCanary has two defects cfn-lint must report: a wrong type on a SAM function
// (seen only through the SAM transform) and an unknown property on a plain resource.
const samLintCanary = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  CanaryFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: .
      Timeout: canary-timeout
  CanaryQueue:
    Type: AWS::SQS::Queue
    Properties:
      CanaryProperty: 1
`

// TestTemplateCfnLint runs cfn-lint on template.yaml: any error or warning fails.
// Informational findings (off by default) are only logged. The same run lints a small
// canary with planted defects, which must be reported: a cfn-lint that checks nothing
// (a broken install, a config that ignores everything) cannot pass. Skipped when
// cfn-lint is missing, except under CI=true, where that fails (`make tools` installs it).
func TestTemplateCfnLint(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cfn-lint is not installed (make tools installs it): %v", err)
		}
		t.Skipf("cfn-lint is not installed (make tools installs it; with CI=true this fails): %v", err)
	}
	canary := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(canary, []byte(samLintCanary), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--format", "parseable", "--", "template.yaml", canary)
	cmd.Dir = samRoot // as a person runs it, with the repository's .cfnlintrc if one is added
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("cfn-lint: %v", time.Since(start).Round(10*time.Millisecond))
	// Exit status: a bit mask of 2 (errors), 4 (warnings), 8 (informational); the
	// canary makes it at least 2. Anything else means cfn-lint itself failed.
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode()&2 == 0 || exit.ExitCode()&^(2|4|8) != 0 {
		t.Fatalf("cfn-lint did not run as expected: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	var found, canaryFound []string
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// file:line:column:end line:end column:rule:message
		f := strings.SplitN(line, ":", 7)
		if len(f) != 7 || f[5] == "" {
			t.Errorf("cfn-lint printed a line that is no finding: %s", line)
			continue
		}
		switch {
		case f[0] == canary:
			canaryFound = append(canaryFound, f[5]+": "+f[6])
		case f[5][0] == 'I':
			t.Logf("cfn-lint (informational): %s", line)
		default:
			found = append(found, line)
		}
	}
	if len(found) > 0 {
		t.Errorf("cfn-lint template.yaml:\n  %s", strings.Join(found, "\n  "))
	}
	for _, planted := range []string{"canary-timeout", "CanaryProperty"} {
		if !slices.ContainsFunc(canaryFound, func(s string) bool { return strings.Contains(s, planted) }) {
			t.Errorf("cfn-lint missed the canary's %s; it reported:\n  %s\nstderr:\n%s",
				planted, strings.Join(canaryFound, "\n  "), &stderr)
		}
	}
	if stderr.Len() > 0 {
		t.Logf("cfn-lint stderr:\n%s", &stderr)
	}
}

// ---- 2. SAM's JSON schema ----

// samRegexp compiles the schema's patterns for the validator. Go's regexp has no
// lookahead, and the schema has one such pattern, "^(?!AWS::Serverless::).+$" (the
// type of any resource that is not SAM's own), which makes a misspelt SAM type fail
// instead of passing as a plain CloudFormation resource. A leading negative lookahead
// of a literal is matched by hand; any other pattern Go cannot compile fails the
// schema's compilation, so nothing is silently skipped.
func samRegexp(s string) (jsonschema.Regexp, error) {
	if re, err := regexp.Compile(s); err == nil {
		return re, nil
	}
	m := regexp.MustCompile(`^\^\(\?!([^()\[\]\\.*+?{}|^$]+)\)(.*)$`).FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("pattern %q: not a Go regexp nor a leading negative lookahead of a literal", s)
	}
	rest, err := regexp.Compile("^" + m[2])
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", s, err)
	}
	return samLookahead{pattern: s, not: m[1], rest: rest}, nil
}

type samLookahead struct {
	pattern, not string
	rest         *regexp.Regexp
}

func (r samLookahead) String() string { return r.pattern }
func (r samLookahead) MatchString(s string) bool {
	return !strings.HasPrefix(s, r.not) && r.rest.MatchString(s)
}

// samSchema compiles testdata/sam/sam.schema.json (draft-04).
func samSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", "sam", "sam.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(samRegexp)
	if err := c.AddResource(path, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compiling SAM's schema: %v", err)
	}
	return sch
}

// samValidate validates the template's JSON value against the schema.
func samValidate(sch *jsonschema.Schema, tpl map[string]any) error {
	b, err := json.Marshal(tpl)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// samSchemaErrors flattens a validation error to one line per defect. SAM's schema
// tells resources and events apart by their Type, in an anyOf: every alternative of
// another Type fails too, and those failures are left out. A Type that no alternative
// has is reported as such.
func samSchemaErrors(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, e.Error())
			return
		}
		causes := e.Causes
		if _, ok := e.ErrorKind.(*kind.AnyOf); ok {
			typeAt := append(slices.Clone(e.InstanceLocation), "Type")
			causes = slices.DeleteFunc(slices.Clone(causes), func(c *jsonschema.ValidationError) bool { return samFailsAt(c, typeAt) })
			if len(causes) == 0 {
				out = append(out, fmt.Sprintf("at '/%s': no alternative of SAM's schema has this Type", strings.Join(typeAt, "/")))
				return
			}
		}
		for _, c := range causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// samFailsAt reports whether e has a failure at the instance location loc.
func samFailsAt(e *jsonschema.ValidationError, loc []string) bool {
	if len(e.Causes) == 0 {
		return slices.Equal(e.InstanceLocation, loc)
	}
	return slices.ContainsFunc(e.Causes, func(c *jsonschema.ValidationError) bool { return samFailsAt(c, loc) })
}

func TestTemplateSchema(t *testing.T) {
	t.Parallel()
	start := time.Now()
	sch := samSchema(t)
	t.Logf("compiled SAM's schema in %v", time.Since(start).Round(time.Millisecond))
	src := samReadTemplate(t)
	if err := samValidate(sch, samParse(t, src)); err != nil {
		t.Fatalf("template.yaml does not follow SAM's schema:\n  %s", strings.Join(samSchemaErrors(err), "\n  "))
	}
	re, err := samRegexp("^(?!AWS::Serverless::).+$")
	if err != nil || !re.MatchString("AWS::SQS::Queue") || re.MatchString("AWS::Serverless::Function") || re.MatchString("") {
		t.Fatalf("the lookahead pattern is matched wrongly (%v)", err)
	}
	// Broken copies must fail, at the place that is broken.
	for _, c := range []struct {
		name  string
		edits []string
		want  string // in the error
	}{
		{"unknown function property", []string{"      Description: Owner pages", "      Timeut: 15\n      Description: Owner pages"}, "at '/Resources/ConnectFunction/Properties': additional properties 'Timeut' not allowed"},
		{"unknown Globals property", []string{"    Handler: bootstrap", "    Handlr: bootstrap"}, "at '/Globals/Function': additional properties 'Handlr' not allowed"},
		{"route method not a string", []string{"Method: GET, Path: /me,", "Method: [GET], Path: /me,"}, "at '/Resources/ConnectFunction/Properties/Events/Accounts/Properties/Method': got array, want string"},
		{"retry count not an integer", []string{"MaximumRetryAttempts: 1\n        MaximumEventAgeInSeconds: 3600", "MaximumRetryAttempts: once\n        MaximumEventAgeInSeconds: 3600"},
			"at '/Resources/ExpiryCheckFunction/Properties/EventInvokeConfig/MaximumRetryAttempts': got string, want integer"},
		{"unknown HttpApi auth property", []string{"DefaultAuthorizer: RelinkJwt", "DefaultAuthoriser: RelinkJwt"}, "at '/Resources/HttpApi/Properties/Auth': additional properties 'DefaultAuthoriser' not allowed"},
		{"unknown event type", []string{"Type: ScheduleV2", "Type: Schedule2"}, "at '/Resources/ExpiryCheckFunction/Properties/Events/Hourly/Type': no alternative"},
		{"misspelt SAM resource type", []string{"Type: AWS::Serverless::HttpApi", "Type: AWS::Serverless::HTTPApi"}, "at '/Resources/HttpApi/Type': no alternative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := samValidate(sch, samParse(t, samReplace(t, src, c.edits...)))
			if err == nil {
				t.Fatal("the broken copy passed SAM's schema")
			}
			lines := samSchemaErrors(err)
			samExpectProblems(t, lines, c.want)
			if len(lines) != 1 {
				t.Errorf("one defect, %d lines:\n  %s", len(lines), strings.Join(lines, "\n  "))
			}
		})
	}
}

// ---- 3. SAM policy templates ----

// samPolicyTemplates maps each policy template of testdata/sam/policy_templates.json to
// its parameter names, sorted.
func samPolicyTemplates(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sam", "policy_templates.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Templates map[string]struct{ Parameters map[string]any }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]string, len(doc.Templates))
	for name, tp := range doc.Templates {
		out[name] = slices.Sorted(maps.Keys(tp.Parameters))
	}
	if len(out) < 50 {
		t.Fatalf("only %d policy templates", len(out))
	}
	return out
}

// samPolicyProblems checks the Policies of every function and state machine: a policy
// template must exist and get exactly the parameters it declares; a bare string that
// names a policy template (SAM would take it for a managed policy) is refused. It
// returns the policy templates it checked, as "Resource: Template".
func samPolicyProblems(tpl map[string]any, known map[string][]string) (problems, used []string) {
	var check func(where string, p any)
	check = func(where string, p any) {
		switch p := p.(type) {
		case string:
			if _, ok := known[p]; ok {
				problems = append(problems, fmt.Sprintf("%s: %s is a policy template and needs its parameters ({%s: {…}}), not a managed policy name", where, p, p))
			}
		case map[string]any:
			if _, ok := p["Statement"]; ok {
				return // an inline policy document
			}
			if len(p) != 1 {
				problems = append(problems, fmt.Sprintf("%s: %v is neither a policy document nor one policy template", where, slices.Sorted(maps.Keys(p))))
				return
			}
			if _, ok := p["Ref"]; ok {
				return // a managed policy ARN from a parameter
			}
			if branches, ok := p["Fn::If"].([]any); ok && len(branches) == 3 {
				check(where+" (if true)", branches[1])
				check(where+" (if false)", branches[2])
				return
			}
			for name, args := range p {
				params, ok := known[name]
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: %s is no SAM policy template", where, name))
					return
				}
				used = append(used, where[:strings.Index(where, " ")]+": "+name)
				argm, isMap := args.(map[string]any)
				if !isMap {
					problems = append(problems, fmt.Sprintf("%s: %s takes a mapping of its parameters %v", where, name, params))
					return
				}
				if given := slices.Sorted(maps.Keys(argm)); !slices.Equal(given, params) {
					problems = append(problems, fmt.Sprintf("%s: %s takes parameters %v, given %v", where, name, params, given))
				}
				for k, v := range argm {
					if v == nil || v == "" {
						problems = append(problems, fmt.Sprintf("%s: %s: parameter %s is empty", where, name, k))
					}
				}
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: a policy is a name, a document or a template, not %T", where, p))
		}
	}
	for _, typ := range []string{"AWS::Serverless::Function", "AWS::Serverless::StateMachine"} {
		for _, id := range samResources(tpl, typ) {
			policies := samMap(samMap(samMap(tpl["Resources"])[id])["Properties"])["Policies"]
			if list, ok := policies.([]any); ok {
				for i, p := range list {
					check(fmt.Sprintf("%s Policies[%d]", id, i), p)
				}
			} else if policies != nil {
				check(id+" Policies", policies)
			}
		}
	}
	return problems, used
}

func TestTemplatePolicyTemplates(t *testing.T) {
	t.Parallel()
	known := samPolicyTemplates(t)
	src := samReadTemplate(t)
	problems, used := samPolicyProblems(samParse(t, src), known)
	samExpectProblems(t, problems, "")
	if len(used) == 0 {
		t.Fatal("no policy template found in template.yaml: is the check reading Policies?")
	}
	t.Logf("policy templates checked: %s", strings.Join(slices.Compact(slices.Sorted(slices.Values(used))), ", "))

	const secret = "        - AWSSecretsManagerGetSecretValuePolicy:\n            SecretArn: !Ref AppKeysSecret\n"
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown template", secret, strings.Replace(secret, "GetSecretValuePolicy", "GetSecretValuesPolicy", 1),
			"AWSSecretsManagerGetSecretValuesPolicy is no SAM policy template"},
		{"misnamed parameter", secret, strings.Replace(secret, "SecretArn", "SecretId", 1), "takes parameters [SecretArn], given [SecretId]"},
		{"extra parameter", secret, secret + "            VersionStage: AWSCURRENT\n", "given [SecretArn VersionStage]"},
		{"missing parameter", secret, "        - AWSSecretsManagerGetSecretValuePolicy: {}\n", "given []"},
		{"empty parameter", secret, "        - AWSSecretsManagerGetSecretValuePolicy: {SecretArn: \"\"}\n", "parameter SecretArn is empty"},
		{"template as a bare name", secret, secret + "        - DynamoDBReadPolicy\n", "DynamoDBReadPolicy is a policy template"},
		{"wrong parameter inside If", secret, secret + "        - !If [HasConfigurationSet, {SESCrudPolicy: {Identity: x}}, !Ref AWS::NoValue]\n",
			"ConnectFunction Policies[2] (if true): SESCrudPolicy takes parameters [IdentityName]"},
		{"right parameters inside If", secret, secret + "        - !If [HasConfigurationSet, {SESCrudPolicy: {IdentityName: !Ref MailIdentity}}, !Ref AWS::NoValue]\n" +
			"        - DynamoDBCrudPolicy: {TableName: !Ref Table}\n        - AWSLambdaBasicExecutionRole\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			problems, _ := samPolicyProblems(samParse(t, samReplace(t, src, c.old, c.new)), known)
			samExpectProblems(t, problems, c.want)
		})
	}
}

// ---- 4. intrinsics resolve ----

// samPseudoParameters are CloudFormation's pseudo parameters.
var samPseudoParameters = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

// samGenerated lists what SAM generates that a template may name, each only when the
// template makes SAM generate it, with the reason:
//
//   - ServerlessHttpApi / ServerlessRestApi: the implicit API, when a function has an
//     HttpApi / Api event without ApiId / RestApiId;
//   - <Function>Role: the execution role of a function or state machine without Role;
//   - Ref <Function>.Alias and <Function>.Version: with AutoPublishAlias;
//   - Ref <Api>.Stage (HttpApi and Api) and <Api>.Deployment (Api).
//
// resources can be named by GetAtt, Ref and ${X} or ${X.Attr}; refs only by Ref and ${X}.
func samGenerated(tpl map[string]any) (resources, refs map[string]string) {
	resources, refs = map[string]string{}, map[string]string{}
	apis := map[string]string{}
	for id, r := range samMap(tpl["Resources"]) {
		typ, props := samStr(samMap(r)["Type"]), samMap(samMap(r)["Properties"])
		switch typ {
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			if _, ok := props["Role"]; !ok {
				resources[id+"Role"] = "the execution role SAM generates for " + id + " (no Role given)"
			}
			if _, ok := props["AutoPublishAlias"]; ok {
				refs[id+".Alias"] = "the alias of " + id + " (AutoPublishAlias)"
				refs[id+".Version"] = "the version of " + id + " (AutoPublishAlias)"
			}
			for name, e := range samMap(props["Events"]) {
				ep := samMap(samMap(e)["Properties"])
				switch samStr(samMap(e)["Type"]) {
				case "HttpApi":
					if _, ok := ep["ApiId"]; !ok {
						resources["ServerlessHttpApi"] = "the implicit HTTP API (" + id + "." + name + " has no ApiId)"
						apis["ServerlessHttpApi"] = "AWS::Serverless::HttpApi"
					}
				case "Api":
					if _, ok := ep["RestApiId"]; !ok {
						resources["ServerlessRestApi"] = "the implicit REST API (" + id + "." + name + " has no RestApiId)"
						apis["ServerlessRestApi"] = "AWS::Serverless::Api"
					}
				}
			}
		case "AWS::Serverless::HttpApi", "AWS::Serverless::Api":
			apis[id] = typ
		}
	}
	for id, typ := range apis {
		refs[id+".Stage"] = "the stage SAM generates for " + id
		if typ == "AWS::Serverless::Api" {
			refs[id+".Deployment"] = "the deployment SAM generates for " + id
		}
	}
	return resources, refs
}

// samIntrinsicProblems checks that every Ref, Fn::GetAtt, Fn::Sub variable (${X},
// ${X.Attr}; ${!X} is literal), Fn::If and Condition, Fn::FindInMap map, resource
// Condition and DependsOn names something declared: a parameter, resource, condition,
// mapping, pseudo parameter, a Fn::Sub variable of its own, or what SAM generates
// (samGenerated). It returns how many names it checked.
func samIntrinsicProblems(tpl map[string]any) (problems []string, checked int) {
	params := samMap(tpl["Parameters"])
	resources := samMap(tpl["Resources"])
	conditions := samMap(tpl["Conditions"])
	mappings := samMap(tpl["Mappings"])
	genResources, genRefs := samGenerated(tpl)
	isResource := func(name string) bool {
		_, ok := resources[name]
		_, gen := genResources[name]
		return ok || gen
	}
	isRef := func(name string) bool {
		_, ok := params[name]
		_, gen := genRefs[name]
		return ok || gen || isResource(name) || slices.Contains(samPseudoParameters, name)
	}
	bad := func(where, format string, args ...any) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	condition := func(where string, v any) {
		checked++
		if _, ok := conditions[samStr(v)]; !ok {
			bad(where, "condition %v is not declared", v)
		}
	}
	subVar := regexp.MustCompile(`\$\{([^}]*)\}`)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), x)
			}
			return
		case map[string]any:
			if len(v) != 1 {
				break
			}
			for fn, arg := range v {
				switch fn {
				case "Ref":
					checked++
					if !isRef(samStr(arg)) {
						bad(where, "Ref %v names nothing declared", arg)
					}
					return
				case "Condition":
					if _, ok := arg.(string); ok {
						condition(where, arg)
						return
					}
				case "Fn::GetAtt":
					if s, ok := arg.(string); ok { // the long form also takes "Resource.Attribute"
						res, attr, _ := strings.Cut(s, ".")
						arg = []any{res, attr}
					}
					a, _ := arg.([]any)
					if len(a) != 2 || samStr(a[0]) == "" {
						bad(where, "Fn::GetAtt takes [Resource, Attribute], not %v", arg)
						return
					}
					checked++
					if !isResource(samStr(a[0])) {
						bad(where, "Fn::GetAtt %v: no resource %v", a, a[0])
					}
					walk(where, a[1])
					return
				case "Fn::Sub":
					s, vars := arg, map[string]any(nil)
					if a, ok := arg.([]any); ok && len(a) == 2 {
						s, vars = a[0], samMap(a[1])
						walk(where+" (Fn::Sub variables)", a[1])
					}
					str, ok := s.(string)
					if !ok {
						bad(where, "Fn::Sub takes a string or [string, variables], not %v", arg)
						return
					}
					for _, m := range subVar.FindAllStringSubmatch(str, -1) {
						name := m[1]
						if strings.HasPrefix(name, "!") {
							continue // ${!Literal}
						}
						checked++
						if _, local := vars[name]; local || isRef(name) {
							continue
						}
						if res, _, dot := strings.Cut(name, "."); dot && isResource(res) {
							continue
						}
						bad(where, "Fn::Sub ${%s} names nothing declared", name)
					}
					return
				case "Fn::If":
					a, _ := arg.([]any)
					if len(a) != 3 {
						bad(where, "Fn::If takes [condition, if true, if false], not %v", arg)
						return
					}
					condition(where, a[0])
					walk(where, a[1:])
					return
				case "Fn::FindInMap":
					if a, _ := arg.([]any); len(a) >= 1 {
						if name, ok := a[0].(string); ok {
							checked++
							if _, ok := mappings[name]; !ok {
								bad(where, "Fn::FindInMap: no mapping %s", name)
							}
						}
					}
				}
			}
		default:
			return
		}
		for _, k := range slices.Sorted(maps.Keys(samMap(v))) {
			walk(where+"."+k, samMap(v)[k])
		}
	}
	for _, section := range []string{"Globals", "Conditions", "Resources", "Outputs", "Metadata"} {
		walk(section, tpl[section])
	}
	for _, section := range []string{"Resources", "Outputs"} {
		for id, r := range samMap(tpl[section]) {
			if c, ok := samMap(r)["Condition"]; ok {
				condition(section+"."+id+".Condition", c)
			}
			deps := samMap(r)["DependsOn"]
			if s, ok := deps.(string); ok {
				deps = []any{s}
			}
			for _, d := range samSlice(deps) {
				checked++
				if !isResource(samStr(d)) {
					bad(section+"."+id+".DependsOn", "no resource %v", d)
				}
			}
		}
	}
	slices.Sort(problems)
	return problems, checked
}

func samSlice(v any) []any { s, _ := v.([]any); return s }

func TestTemplateIntrinsics(t *testing.T) {
	t.Parallel()
	src := samReadTemplate(t)
	tpl := samParse(t, src)
	problems, checked := samIntrinsicProblems(tpl)
	samExpectProblems(t, problems, "")
	if checked < 50 {
		t.Fatalf("only %d names checked: is the walk reaching the intrinsics?", checked)
	}
	genResources, genRefs := samGenerated(tpl)
	t.Logf("%d names checked; SAM-generated names allowed here: %v %v", checked,
		slices.Sorted(maps.Keys(genResources)), slices.Sorted(maps.Keys(genRefs)))

	const reminderURL = `!Sub "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"]`
	const stylesheetAPI = "Stylesheet: { Type: HttpApi, Properties: { ApiId: !Ref HttpApi, "
	for _, c := range []struct {
		name  string
		edits []string
		want  string
	}{
		{"Ref to a missing resource", []string{"TABLE_NAME: !Ref Table", "TABLE_NAME: !Ref Tabel"}, "Ref Tabel names nothing declared"},
		{"Ref to a missing pseudo parameter", []string{"!Ref AWS::NoValue", "!Ref AWS::NoValues"}, "Ref AWS::NoValues"},
		{"GetAtt of a missing resource", []string{"!GetAtt ScheduledRunsDeadLetterQueue.Arn", "!GetAtt DeadLetterQueue.Arn"}, "no resource DeadLetterQueue"},
		{"Sub attribute of a missing resource", []string{`!Sub "${Table.Arn}/index/*"`, `!Sub "${Tabel.Arn}/index/*"`}, "${Tabel.Arn}"},
		{"Sub missing pseudo parameter", []string{"${AWS::Region}", "${AWS::Regoin}"}, "${AWS::Regoin}"},
		{"Sub missing parameter", []string{`"relink-${Stage}-reminders"`, `"relink-${stage}-reminders"`}, "${stage}"},
		{"Sub own variables and literals", []string{`"relink-${Stage}-reminders"`, `["relink-${S}-${!Literal}-reminders", {S: !Ref Stage}]`}, ""},
		{"If of a missing condition", []string{"!If [HasConfigurationSet,", "!If [HasConfigSet,"}, "condition HasConfigSet is not declared"},
		{"Condition in a condition", []string{`HasConfigurationSet: !Not [!Equals [!Ref SesConfigurationSet, ""]]`,
			`HasConfigurationSet: !And [!Condition HasPublicURL, !Not [!Equals [!Ref SesConfigurationSet, ""]]]`}, "condition HasPublicURL"},
		{"resource Condition", []string{"    Type: AWS::SQS::Queue\n", "    Type: AWS::SQS::Queue\n    Condition: HasQueue\n"}, "ScheduledRunsDeadLetterQueue.Condition: condition HasQueue"},
		{"DependsOn", []string{"    Type: AWS::SQS::Queue\n", "    Type: AWS::SQS::Queue\n    DependsOn: [Table, Tabel]\n"}, "DependsOn: no resource Tabel"},
		{"generated role of a function", []string{"!GetAtt ScheduledRunsDeadLetterQueue.Arn", "!GetAtt ConnectFunctionRole.Arn"}, ""},
		{"implicit HTTP API never generated", []string{reminderURL, strings.Replace(reminderURL, "${HttpApi}", "${ServerlessHttpApi}", 1)}, "${ServerlessHttpApi}"},
		{"implicit HTTP API generated", []string{reminderURL, strings.Replace(reminderURL, "${HttpApi}", "${ServerlessHttpApi}", 1),
			stylesheetAPI, "Stylesheet: { Type: HttpApi, Properties: { "}, ""},
		{"alias without AutoPublishAlias", []string{"TABLE_NAME: !Ref Table", "TABLE_NAME: !Ref ConnectFunction.Alias"}, "Ref ConnectFunction.Alias"},
		{"API stage", []string{"TABLE_NAME: !Ref Table", "TABLE_NAME: !Ref HttpApi.Stage"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			problems, _ := samIntrinsicProblems(samParse(t, samReplace(t, src, c.edits...)))
			samExpectProblems(t, problems, c.want)
		})
	}
}

// ---- 5. HTTP API routes: template ↔ code ----

// samCodeRoutes is what the code serves, per function: the owner pages (portal.Routes)
// behind ConnectFunction, the admin API (api.Handler.Routes) behind AdminApiFunction.
func samCodeRoutes() map[string][]string {
	return map[string][]string{
		"ConnectFunction":  slices.Clone(portal.Routes),
		"AdminApiFunction": api.NewHandler(nil, nil).Routes(),
	}
}

// samPublicAdminRoutes is the admin routes openapi.yaml serves without a token
// (security: [] on the operation, or no global security).
func samPublicAdminRoutes(t *testing.T) map[string]bool {
	t.Helper()
	var doc struct {
		Security []any                           `yaml:"security"`
		Paths    map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if method == "parameters" || strings.HasPrefix(method, "x-") {
				continue
			}
			var sec struct {
				Security *[]any `yaml:"security"`
			}
			if err := op.Decode(&sec); err != nil {
				t.Fatalf("openapi.yaml %s %s: %v", method, path, err)
			}
			if sec.Security != nil && len(*sec.Security) == 0 || sec.Security == nil && len(doc.Security) == 0 {
				public[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	return public
}

// samGoRoute turns a net/http pattern into API Gateway's "METHOD /path": no method is
// ANY, {name...} is {name+}, a trailing {$} goes. Host patterns and subtree patterns
// (a trailing /) have no API Gateway route and are errors.
func samGoRoute(pattern string) (string, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(pattern), " ")
	if !ok {
		method, path = "ANY", pattern
	}
	path = strings.TrimSpace(path)
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("%q: a host pattern has no API Gateway route", pattern)
	}
	if trimmed, exact := strings.CutSuffix(path, "{$}"); exact {
		path = trimmed
	} else if strings.HasSuffix(path, "/") {
		return "", fmt.Errorf("%q: a subtree pattern has no API Gateway route; route {name...} or {$}", pattern)
	}
	path = regexp.MustCompile(`\{(\w+)\.\.\.\}`).ReplaceAllString(path, "{$1+}")
	return method + " " + path, nil
}

// samRoute is one HttpApi event: the route and who authorizes it ("NONE" or the name
// of a JWT authorizer).
type samRoute struct {
	fn, event, authorizer string
}

// samRouteProblems compares the template's HttpApi events with the code: each route
// must be routed to the function whose code serves it, once, and each route served
// must be in the template; public(fn, route) says whether a route takes no token,
// which the route's authorizer must agree with (NONE, else a JWT authorizer of its API).
func samRouteProblems(tpl map[string]any, code map[string][]string, public func(fn, route string) bool) []string {
	var problems []string
	resources := samMap(tpl["Resources"])
	routes := map[string]samRoute{}
	for _, fn := range samResources(tpl, "AWS::Serverless::Function") {
		events := samMap(samMap(samMap(resources[fn])["Properties"])["Events"])
		for _, name := range slices.Sorted(maps.Keys(events)) {
			e := samMap(events[name])
			if samStr(e["Type"]) != "HttpApi" {
				continue
			}
			p := samMap(e["Properties"])
			where := fn + ".Events." + name
			method, path := strings.ToUpper(samStr(p["Method"])), samStr(p["Path"])
			if method == "" || !strings.HasPrefix(path, "/") {
				problems = append(problems, fmt.Sprintf("%s: Method %v and Path %v are not a route", where, p["Method"], p["Path"]))
				continue
			}
			route := method + " " + path
			if other, dup := routes[route]; dup {
				problems = append(problems, fmt.Sprintf("%s: %s is routed twice (also %s.Events.%s)", where, route, other.fn, other.event))
				continue
			}
			// The API: a Ref to an HttpApi of this template, or the implicit one (Globals).
			apiAuth := samMap(samMap(samMap(tpl["Globals"])["HttpApi"])["Auth"])
			if id, hasAPI := p["ApiId"]; hasAPI {
				ref, _ := samRefOf(id)
				api := samMap(resources[ref])
				if samStr(api["Type"]) != "AWS::Serverless::HttpApi" {
					problems = append(problems, fmt.Sprintf("%s: ApiId %v is not an AWS::Serverless::HttpApi of this template", where, id))
				}
				apiAuth = samMap(samMap(api["Properties"])["Auth"])
			}
			authorizer := "NONE"
			if a, ok := samMap(p["Auth"])["Authorizer"]; ok {
				authorizer = samStr(a)
			} else if d, ok := apiAuth["DefaultAuthorizer"]; ok {
				authorizer = samStr(d)
			}
			if authorizer != "NONE" {
				jwt := samMap(samMap(samMap(apiAuth["Authorizers"])[authorizer])["JwtConfiguration"])
				if jwt["issuer"] == nil || jwt["audience"] == nil {
					problems = append(problems, fmt.Sprintf("%s: %s: authorizer %q is no JWT authorizer (issuer, audience) of its API", where, route, authorizer))
				}
			}
			routes[route] = samRoute{fn: fn, event: name, authorizer: authorizer}
		}
	}
	served := map[string]string{}
	for _, fn := range slices.Sorted(maps.Keys(code)) {
		if samStr(samMap(resources[fn])["Type"]) != "AWS::Serverless::Function" {
			problems = append(problems, fmt.Sprintf("%s serves HTTP routes but is no function of template.yaml", fn))
		}
		for _, pattern := range code[fn] {
			route, err := samGoRoute(pattern)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", fn, err))
				continue
			}
			served[route] = fn
			r, ok := routes[route]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s is served by %s but template.yaml has no HttpApi event for it", route, fn))
			case r.fn != fn:
				problems = append(problems, fmt.Sprintf("%s is served by %s but template.yaml routes it to %s (Events.%s)", route, fn, r.fn, r.event))
			case public(fn, route) && r.authorizer != "NONE":
				problems = append(problems, fmt.Sprintf("%s.Events.%s: %s takes no token, but its authorizer is %s: add Auth: { Authorizer: NONE }", r.fn, r.event, route, r.authorizer))
			case !public(fn, route) && r.authorizer == "NONE":
				problems = append(problems, fmt.Sprintf("%s.Events.%s: %s needs the JWT authorizer, but has none", r.fn, r.event, route))
			}
		}
	}
	for route, r := range routes {
		if _, ok := served[route]; !ok {
			problems = append(problems, fmt.Sprintf("%s.Events.%s: %s is in template.yaml but %s does not serve it", r.fn, r.event, route, r.fn))
		}
	}
	slices.Sort(problems)
	return problems
}

func TestTemplateRoutes(t *testing.T) {
	t.Parallel()
	src := samReadTemplate(t)
	code := samCodeRoutes()
	adminPublic := samPublicAdminRoutes(t)
	if !adminPublic["GET /v1/openapi.yaml"] || adminPublic["GET /v1/accounts"] {
		t.Fatalf("openapi.yaml's public routes: %v", slices.Sorted(maps.Keys(adminPublic)))
	}
	// The owner pages take no JWT (the magic link and the OAuth state are the
	// credentials); the admin API takes one except where openapi.yaml says security: [].
	public := func(fn, route string) bool { return fn == "ConnectFunction" || adminPublic[route] }
	samExpectProblems(t, samRouteProblems(samParse(t, src), code, public), "")
	if n := len(code["ConnectFunction"]) + len(code["AdminApiFunction"]); n < 40 {
		t.Fatalf("only %d routes in the code", n)
	}

	withCode := func(fn, route string) map[string][]string {
		c := samCodeRoutes()
		c[fn] = append(c[fn], route)
		return c
	}
	const me = "        Accounts: { Type: HttpApi, Properties: { ApiId: !Ref HttpApi, Method: GET, Path: /me, Auth: { Authorizer: NONE } } }\n"
	const users = `        ListUsers: { Type: HttpApi, Properties: { ApiId: !Ref HttpApi, Method: GET, Path: "/v1/users" } }` + "\n"
	for _, c := range []struct {
		name  string
		edits []string
		code  map[string][]string
		want  string
	}{
		{"template route the code does not serve", []string{me, me + "        Extra: { Type: HttpApi, Properties: { ApiId: !Ref HttpApi, Method: GET, Path: /me/extra, Auth: { Authorizer: NONE } } }\n"},
			code, "ConnectFunction.Events.Extra: GET /me/extra is in template.yaml but ConnectFunction does not serve it"},
		{"owner route missing from the template", []string{me, ""}, code, "GET /me is served by ConnectFunction but template.yaml has no HttpApi event"},
		{"admin route missing from the template", nil, withCode("AdminApiFunction", "POST /v1/accounts/{id}/archive"), "POST /v1/accounts/{id}/archive is served by AdminApiFunction but"},
		{"owner route added to the code only", nil, withCode("ConnectFunction", "GET /me/{account_id}/history"), "GET /me/{account_id}/history is served by ConnectFunction"},
		{"path parameter renamed", []string{`Path: "/v1/users/{id}" }`, `Path: "/v1/users/{user}" }`}, code, "GET /v1/users/{id} is served by AdminApiFunction but"},
		{"method changed", []string{"Method: POST, Path: /signout", "Method: GET, Path: /signout"}, code, "POST /signout is served by ConnectFunction but"},
		{"route on the wrong function", []string{users, "", me, me + users}, code, "GET /v1/users is served by AdminApiFunction but template.yaml routes it to ConnectFunction"},
		{"route twice", []string{me, me + strings.Replace(me, "Accounts:", "Accounts2:", 1)}, code, "GET /me is routed twice"},
		{"owner route behind the JWT authorizer", []string{"Path: /me, Auth: { Authorizer: NONE }", "Path: /me"}, code,
			"ConnectFunction.Events.Accounts: GET /me takes no token, but its authorizer is RelinkJwt"},
		{"admin route without authorizer", []string{`Path: "/v1/users" }`, `Path: "/v1/users", Auth: { Authorizer: NONE } }`}, code,
			"AdminApiFunction.Events.ListUsers: GET /v1/users needs the JWT authorizer"},
		{"unknown authorizer", []string{`Path: "/v1/users" }`, `Path: "/v1/users", Auth: { Authorizer: Jwt } }`}, code, `authorizer "Jwt" is no JWT authorizer`},
		{"ApiId of no HTTP API", []string{`ApiId: !Ref HttpApi, Method: GET, Path: "/v1/users" }`, `ApiId: !Ref Table, Method: GET, Path: "/v1/users" }`}, code, "ApiId map[Ref:Table] is not an AWS::Serverless::HttpApi"},
		{"code route API Gateway cannot route", nil, withCode("ConnectFunction", "GET /static/"), `"GET /static/": a subtree pattern`},
		{"catch-all code route", []string{me, me + "        Files: { Type: HttpApi, Properties: { ApiId: !Ref HttpApi, Method: GET, Path: \"/files/{path+}\", Auth: { Authorizer: NONE } } }\n"},
			withCode("ConnectFunction", "GET /files/{path...}"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			samExpectProblems(t, samRouteProblems(samParse(t, samReplace(t, src, c.edits...)), c.code, public), c.want)
		})
	}
}

// ---- 6. Makefile build targets ----

// samMakefile is what the Makefile says about the functions.
type samMakefile struct {
	functions []string            // FUNCTIONS entries, dir:LogicalId
	targets   map[string][]string // build-<LogicalId> → its recipe lines
}

func samParseMakefile(src string) samMakefile {
	mk := samMakefile{targets: map[string][]string{}}
	src = strings.ReplaceAll(src, "\\\n", " ")
	target := ""
	for line := range strings.Lines(src) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "\t") && target != "" {
			mk.targets[target] = append(mk.targets[target], strings.TrimSpace(line))
			continue
		}
		target = ""
		if v, ok := strings.CutPrefix(line, "FUNCTIONS :="); ok {
			mk.functions = strings.Fields(v)
		} else if m := regexp.MustCompile(`^build-([A-Za-z0-9]+):`).FindStringSubmatch(line); m != nil {
			target = m[1]
			mk.targets[target] = []string{}
		}
	}
	return mk
}

// samMakefileProblems: every function is built by the Makefile (Metadata BuildMethod
// makefile; provided.al2023 has no other builder for Go here) from CodeUri ".", the
// directory that holds the Makefile (where sam build runs make; "." is also SAM CLI's
// default); its build-<LogicalId> target builds ./functions/<dir> into
// $(ARTIFACTS_DIR); FUNCTIONS lists it as <dir>:<LogicalId>; functions/<dir>/main.go
// exists under root. No FUNCTIONS entry or build target is left without a function.
func samMakefileProblems(tpl map[string]any, mk samMakefile, root string) []string {
	var problems []string
	fns := samResources(tpl, "AWS::Serverless::Function")
	dirs := map[string]string{}
	for _, f := range mk.functions {
		dir, id, ok := strings.Cut(f, ":")
		if !ok || dir == "" || id == "" {
			problems = append(problems, fmt.Sprintf("Makefile FUNCTIONS: %q is not dir:LogicalId", f))
			continue
		}
		if _, dup := dirs[id]; dup {
			problems = append(problems, fmt.Sprintf("Makefile FUNCTIONS: %s listed twice", id))
		}
		dirs[id] = dir
		if !slices.Contains(fns, id) {
			problems = append(problems, fmt.Sprintf("Makefile FUNCTIONS: %s is no function of template.yaml", f))
		}
	}
	for id := range mk.targets {
		if !slices.Contains(fns, id) {
			problems = append(problems, fmt.Sprintf("Makefile: build-%s builds no function of template.yaml", id))
		}
	}
	for _, id := range fns {
		r := samMap(samMap(tpl["Resources"])[id])
		if bm := samMap(r["Metadata"])["BuildMethod"]; bm != "makefile" {
			problems = append(problems, fmt.Sprintf("%s: Metadata BuildMethod is %v, not makefile", id, bm))
			continue
		}
		codeURI, ok := samProp(tpl, id, "CodeUri")
		if s, isStr := codeURI.(string); ok && (!isStr || filepath.Clean(s) != ".") {
			problems = append(problems, fmt.Sprintf("%s: CodeUri %v: sam build runs make there, and the Makefile is in . (leave CodeUri out or set it to .)", id, codeURI))
		}
		dir, listed := dirs[id]
		if !listed {
			problems = append(problems, fmt.Sprintf("%s: not in the Makefile's FUNCTIONS (as <dir>:%s)", id, id))
		}
		recipe, hasTarget := mk.targets[id]
		if !hasTarget {
			problems = append(problems, fmt.Sprintf("%s: the Makefile has no build-%s target, which sam build calls", id, id))
		} else if listed && !slices.Contains(recipe, "$(call build_function,"+dir+",$(ARTIFACTS_DIR))") {
			problems = append(problems, fmt.Sprintf("%s: build-%s does not build ./functions/%s into $(ARTIFACTS_DIR): %q", id, id, dir, recipe))
		}
		if listed {
			if _, err := os.Stat(filepath.Join(root, "functions", dir, "main.go")); err != nil {
				problems = append(problems, fmt.Sprintf("%s: functions/%s/main.go: %v", id, dir, err))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

func TestTemplateMakefile(t *testing.T) {
	t.Parallel()
	src := samReadTemplate(t)
	b, err := os.ReadFile(filepath.Join(samRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(b)
	mk := samParseMakefile(makefile)
	if len(mk.functions) == 0 || len(mk.targets) == 0 {
		t.Fatalf("read nothing from the Makefile: %+v", mk)
	}
	samExpectProblems(t, samMakefileProblems(samParse(t, src), mk, samRoot), "")

	const target = "build-RemindersFunction:\n\t$(call build_function,reminders,$(ARTIFACTS_DIR))\n"
	for _, c := range []struct {
		name, old, new string // in the Makefile, else in the template
		template       bool
		want           string
	}{
		{"no build target", target, "", false, "RemindersFunction: the Makefile has no build-RemindersFunction target"},
		{"target builds another function", target, strings.Replace(target, ",reminders,", ",expiry-check,", 1), false, "build-RemindersFunction does not build ./functions/reminders"},
		{"not in FUNCTIONS", " \\\n\treminders:RemindersFunction", "", false, "RemindersFunction: not in the Makefile's FUNCTIONS"},
		{"FUNCTIONS entry of no function", "reminders:RemindersFunction", "reminders:RemindersFunction digest:DigestFunction", false, "digest:DigestFunction is no function of template.yaml"},
		{"no main package", "reminders:RemindersFunction", "remind:RemindersFunction", false, "functions/remind/main.go"},
		{"target of no function", target, target + "build-DigestFunction:\n\t$(call build_function,digest,$(ARTIFACTS_DIR))\n", false, "build-DigestFunction builds no function"},
		{"CodeUri elsewhere", "    Properties:\n      Description: Sends the reminder", "    Properties:\n      CodeUri: functions/reminders\n      Description: Sends the reminder", true, "RemindersFunction: CodeUri functions/reminders"},
		{"CodeUri the Makefile's directory", "    Properties:\n      Description: Sends the reminder", "    Properties:\n      CodeUri: ./\n      Description: Sends the reminder", true, ""},
		{"no BuildMethod", "    Metadata:\n      BuildMethod: makefile\n    Properties:\n      Description: Sends the reminder", "    Properties:\n      Description: Sends the reminder", true, "RemindersFunction: Metadata BuildMethod is <nil>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tsrc, msrc := src, makefile
			if c.template {
				tsrc = samReplace(t, src, c.old, c.new)
			} else {
				msrc = samReplace(t, makefile, c.old, c.new)
			}
			samExpectProblems(t, samMakefileProblems(samParse(t, tsrc), samParseMakefile(msrc), samRoot), c.want)
		})
	}
}

// ---- function settings ----

// samRetentionDays are the values CloudWatch Logs accepts for RetentionInDays.
var samRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// samFunctionProblems: every function (directly or through Globals) runs
// provided.al2023 on [arm64] — what make build and the Makefile targets produce — has
// a Timeout (at most 900 s; at most 30 s behind the HTTP API, which gives up then) and
// a MemorySize (128–10240 MB), and logs to an AWS::Logs::LogGroup of the template
// (LoggingConfig.LogGroup: !Ref) with a RetentionInDays CloudWatch accepts (a literal,
// or a parameter whose default and allowed values all are).
func samFunctionProblems(tpl map[string]any) []string {
	var problems []string
	bad := func(fn, format string, args ...any) {
		problems = append(problems, fn+": "+fmt.Sprintf(format, args...))
	}
	resources, params := samMap(tpl["Resources"]), samMap(tpl["Parameters"])
	retention := func(v any) error {
		if n, ok := samInt(v); ok {
			if !slices.Contains(samRetentionDays, n) {
				return fmt.Errorf("RetentionInDays %d is not one CloudWatch accepts", n)
			}
			return nil
		}
		ref, ok := samRefOf(v)
		p := samMap(params[ref])
		if !ok || p == nil {
			return fmt.Errorf("RetentionInDays %v is neither a number nor a parameter", v)
		}
		allowed := samSlice(p["AllowedValues"])
		if len(allowed) == 0 {
			return fmt.Errorf("RetentionInDays: parameter %s needs AllowedValues (CloudWatch takes only %v)", ref, samRetentionDays)
		}
		for _, a := range append(allowed, p["Default"]) {
			if n, ok := samInt(a); !ok || !slices.Contains(samRetentionDays, n) {
				return fmt.Errorf("RetentionInDays: parameter %s allows %v, which CloudWatch does not accept", ref, a)
			}
		}
		return nil
	}
	for _, fn := range samResources(tpl, "AWS::Serverless::Function") {
		if rt, _ := samProp(tpl, fn, "Runtime"); rt != "provided.al2023" {
			bad(fn, "Runtime %v, not provided.al2023", rt)
		}
		if arch, _ := samProp(tpl, fn, "Architectures"); !reflect.DeepEqual(arch, []any{"arm64"}) {
			bad(fn, "Architectures %v, not [arm64]", arch)
		}
		http := false
		for _, e := range samMap(samMap(samMap(resources[fn])["Properties"])["Events"]) {
			http = http || samStr(samMap(e)["Type"]) == "HttpApi"
		}
		if v, ok := samProp(tpl, fn, "Timeout"); !ok {
			bad(fn, "no Timeout")
		} else if n, lit := samInt(v); lit && (n < 1 || n > 900 || http && n > 30) {
			bad(fn, "Timeout %d: 1–900 s, and at most 30 s behind the HTTP API", n)
		}
		if v, ok := samProp(tpl, fn, "MemorySize"); !ok {
			bad(fn, "no MemorySize")
		} else if n, lit := samInt(v); lit && (n < 128 || n > 10240) {
			bad(fn, "MemorySize %d: 128–10240 MB", n)
		}
		lg, _ := samProp(tpl, fn, "LoggingConfig")
		ref, ok := samRefOf(samMap(lg)["LogGroup"])
		group := samMap(resources[ref])
		if !ok || samStr(group["Type"]) != "AWS::Logs::LogGroup" {
			bad(fn, "LoggingConfig.LogGroup %v is no AWS::Logs::LogGroup of the template (its logs would never expire)", samMap(lg)["LogGroup"])
			continue
		}
		if err := retention(samMap(group["Properties"])["RetentionInDays"]); err != nil {
			bad(fn, "log group %s: %v", ref, err)
		}
	}
	slices.Sort(problems)
	return problems
}

func TestTemplateFunctionSettings(t *testing.T) {
	t.Parallel()
	src := samReadTemplate(t)
	samExpectProblems(t, samFunctionProblems(samParse(t, src)), "")
	if n := len(samResources(samParse(t, src), "AWS::Serverless::Function")); n < 4 {
		t.Fatalf("only %d functions", n)
	}
	const reminders = "      Description: Sends the reminder emails"
	for _, c := range []struct {
		name  string
		edits []string
		want  string
	}{
		{"runtime", []string{"    Runtime: provided.al2023", "    Runtime: provided.al2"}, "AdminApiFunction: Runtime provided.al2, not provided.al2023"},
		{"runtime of one function", []string{reminders, "      Runtime: go1.x\n" + reminders}, "RemindersFunction: Runtime go1.x"},
		{"architecture", []string{"Architectures: [arm64]", "Architectures: [x86_64]"}, "ConnectFunction: Architectures [x86_64]"},
		{"no timeout", []string{"    Timeout: 15\n", "", "      Timeout: 15\n", ""}, "ConnectFunction: no Timeout"},
		{"API timeout past API Gateway's", []string{"Timeout: 20", "Timeout: 60"}, "AdminApiFunction: Timeout 60"},
		{"no memory size", []string{"    MemorySize: 256\n", "", "      MemorySize: 256\n", ""}, "ConnectFunction: no MemorySize"},
		{"no log group", []string{"        LogGroup: !Ref RemindersLogs\n", "        LogFormat: JSON\n"}, "RemindersFunction: LoggingConfig.LogGroup <nil>"},
		{"log group not one of ours", []string{"LogGroup: !Ref RemindersLogs", "LogGroup: /aws/lambda/reminders"}, "RemindersFunction: LoggingConfig.LogGroup /aws/lambda/reminders"},
		{"no retention", []string{"/aws/lambda/relink-${Stage}-reminders\"\n      RetentionInDays: !Ref LogRetentionDays\n", "/aws/lambda/relink-${Stage}-reminders\"\n"},
			"log group RemindersLogs: RetentionInDays <nil>"},
		{"retention CloudWatch refuses", []string{"AllowedValues: [7, 14, 30, 60, 90, 180, 365]", "AllowedValues: [7, 14, 30, 60, 90, 180, 366]"},
			"parameter LogRetentionDays allows 366"},
		{"literal retention", []string{"      RetentionInDays: !Ref LogRetentionDays\n", "      RetentionInDays: 400\n"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			samExpectProblems(t, samFunctionProblems(samParse(t, samReplace(t, src, c.edits...))), c.want)
		})
	}
}
