package dynamo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// tableShape is what must agree between template.yaml and TableInput, normalised:
// every list is a sorted set of "name=value" strings.
type tableShape struct {
	BillingMode          string
	AttributeDefinitions []string
	KeySchema            []string
	Indexes              []string // "name: keys; projection"
	TTLAttribute         string
}

// cfnTable is the part of an AWS::DynamoDB::Table resource the test reads. Fields the
// test ignores may hold CloudFormation tags (!Sub, !Ref); yaml.Node decoding leaves
// them alone.
type cfnTable struct {
	BillingMode          string `yaml:"BillingMode"`
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []cfnKey `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string   `yaml:"IndexName"`
		KeySchema  []cfnKey `yaml:"KeySchema"`
		Projection struct {
			ProjectionType   string   `yaml:"ProjectionType"`
			NonKeyAttributes []string `yaml:"NonKeyAttributes"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
	TimeToLiveSpecification struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
}

type cfnKey struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

func sortedSet(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

func templateShape(t *testing.T, path string) tableShape {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse template: %v", err)
	}
	node := &doc
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	for _, key := range []string{"Resources", "Table", "Properties"} {
		if node = mappingValue(node, key); node == nil {
			t.Fatalf("template has no Resources.Table.Properties (missing %s)", key)
		}
	}
	var tbl cfnTable
	if err := node.Decode(&tbl); err != nil {
		t.Fatalf("decode Table properties: %v", err)
	}
	if !tbl.TimeToLiveSpecification.Enabled {
		t.Errorf("template: TTL is not enabled")
	}
	shape := tableShape{BillingMode: tbl.BillingMode, TTLAttribute: tbl.TimeToLiveSpecification.AttributeName}
	for _, a := range tbl.AttributeDefinitions {
		shape.AttributeDefinitions = append(shape.AttributeDefinitions, a.AttributeName+"="+a.AttributeType)
	}
	keys := func(ks []cfnKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.AttributeName+"="+k.KeyType)
		}
		return sortedSet(out)
	}
	shape.KeySchema = keys(tbl.KeySchema)
	for _, g := range tbl.GlobalSecondaryIndexes {
		shape.Indexes = append(shape.Indexes, indexShape(g.IndexName, keys(g.KeySchema), g.Projection.ProjectionType, g.Projection.NonKeyAttributes))
	}
	shape.AttributeDefinitions = sortedSet(shape.AttributeDefinitions)
	shape.Indexes = sortedSet(shape.Indexes)
	return shape
}

// mappingValue returns the value under key in a YAML mapping node, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func indexShape(name string, keys []string, projection string, nonKey []string) string {
	return fmt.Sprintf("%s: %s; %s %s", name, strings.Join(keys, ","), projection, strings.Join(sortedSet(nonKey), ","))
}

func inputShape(in *dynamodb.CreateTableInput) tableShape {
	shape := tableShape{BillingMode: string(in.BillingMode), TTLAttribute: AttrExpiresAt}
	for _, a := range in.AttributeDefinitions {
		shape.AttributeDefinitions = append(shape.AttributeDefinitions, aws.ToString(a.AttributeName)+"="+string(a.AttributeType))
	}
	keys := func(ks []types.KeySchemaElement) []string {
		var out []string
		for _, k := range ks {
			out = append(out, aws.ToString(k.AttributeName)+"="+string(k.KeyType))
		}
		return sortedSet(out)
	}
	shape.KeySchema = keys(in.KeySchema)
	for _, g := range in.GlobalSecondaryIndexes {
		var projection string
		var nonKey []string
		if g.Projection != nil {
			projection, nonKey = string(g.Projection.ProjectionType), g.Projection.NonKeyAttributes
		}
		shape.Indexes = append(shape.Indexes, indexShape(aws.ToString(g.IndexName), keys(g.KeySchema), projection, nonKey))
	}
	shape.AttributeDefinitions = sortedSet(shape.AttributeDefinitions)
	shape.Indexes = sortedSet(shape.Indexes)
	return shape
}

// shapeDiff lists every difference between two shapes.
func shapeDiff(template, code tableShape) []string {
	var diffs []string
	check := func(what string, a, b []string) {
		if !slices.Equal(a, b) {
			diffs = append(diffs, fmt.Sprintf("%s: template %q, TableInput %q", what, a, b))
		}
	}
	check("BillingMode", []string{template.BillingMode}, []string{code.BillingMode})
	check("AttributeDefinitions", template.AttributeDefinitions, code.AttributeDefinitions)
	check("KeySchema", template.KeySchema, code.KeySchema)
	check("GlobalSecondaryIndexes", template.Indexes, code.Indexes)
	check("TTL attribute", []string{template.TTLAttribute}, []string{code.TTLAttribute})
	return diffs
}

const templatePath = "../../template.yaml"

func TestTableMatchesTemplate(t *testing.T) {
	template := templateShape(t, templatePath)
	if len(template.Indexes) == 0 || len(template.AttributeDefinitions) == 0 {
		t.Fatalf("template table looks empty: %+v", template)
	}
	for _, d := range shapeDiff(template, inputShape(TableInput("relink-test"))) {
		t.Error(d)
	}
}

// TestTemplateDriftIsNoticed edits a copy of the template the way a careless change
// would and checks that the comparison fails for each edit.
func TestTemplateDriftIsNoticed(t *testing.T) {
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	code := inputShape(TableInput("relink-test"))
	for name, edit := range map[string][2]string{
		"projection":    {"ProjectionType: ALL", "ProjectionType: KEYS_ONLY"},
		"TTL attribute": {"AttributeName: ExpiresAt", "AttributeName: TTL"},
		"index name":    {"IndexName: due-index", "IndexName: due"},
		"remind index":  {"IndexName: remind-index", "IndexName: remind"},
		"remind key":    {"AttributeName: RemindAt\n              KeyType: RANGE", "AttributeName: DueAt\n              KeyType: RANGE"},
		"key type":      {"AttributeType: N", "AttributeType: S"},
		"billing":       {"BillingMode: PAY_PER_REQUEST", "BillingMode: PROVISIONED"},
	} {
		if !strings.Contains(string(raw), edit[0]) {
			t.Fatalf("%s: template no longer contains %q; update this test", name, edit[0])
		}
		path := filepath.Join(t.TempDir(), "template.yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(string(raw), edit[0], edit[1], 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if len(shapeDiff(templateShape(t, path), code)) == 0 {
			t.Errorf("%s: drift not detected", name)
		}
	}
}

// TestShapeDiffCatchesDrift guards the comparison itself: any drift must show.
func TestShapeDiffCatchesDrift(t *testing.T) {
	base := inputShape(TableInput("x"))
	for name, mutate := range map[string]func(*dynamodb.CreateTableInput){
		"billing":    func(in *dynamodb.CreateTableInput) { in.BillingMode = "PROVISIONED" },
		"attr type":  func(in *dynamodb.CreateTableInput) { in.AttributeDefinitions[4].AttributeType = "S" },
		"key type":   func(in *dynamodb.CreateTableInput) { in.KeySchema[1].KeyType = "HASH" },
		"index name": func(in *dynamodb.CreateTableInput) { in.GlobalSecondaryIndexes[0].IndexName = aws.String("other") },
		"index key": func(in *dynamodb.CreateTableInput) {
			in.GlobalSecondaryIndexes[1].KeySchema[1].AttributeName = aws.String("Due")
		},
		"projection": func(in *dynamodb.CreateTableInput) {
			in.GlobalSecondaryIndexes[1].Projection.ProjectionType = "KEYS_ONLY"
		},
		"index dropped": func(in *dynamodb.CreateTableInput) { in.GlobalSecondaryIndexes = in.GlobalSecondaryIndexes[:1] },
	} {
		in := TableInput("x")
		mutate(in)
		if len(shapeDiff(base, inputShape(in))) == 0 {
			t.Errorf("%s: drift not detected", name)
		}
	}
	ttl := base
	ttl.TTLAttribute = "TTL"
	if len(shapeDiff(base, ttl)) == 0 {
		t.Error("TTL attribute drift not detected")
	}
}

// TestCreateTableTakesItsOwnRetry: creating a table that exists with Relink's shape
// succeeds (the SDK's retry of a CreateTable whose answer was lost finds the first
// attempt's table); one that exists with another shape is an error.
func TestCreateTableTakesItsOwnRetry(t *testing.T) {
	tables := newMotoTables(t)
	ctx := context.Background()
	name := fmt.Sprintf("relink-twice-%d", time.Now().UnixNano())
	for range 2 {
		if err := CreateTable(ctx, tables.client, name); err != nil {
			t.Fatalf("create the same table again: %v", err)
		}
	}
	_, _ = tables.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})

	other := TableInput(fmt.Sprintf("relink-other-%d", time.Now().UnixNano()))
	other.GlobalSecondaryIndexes[0].Projection = &types.Projection{ProjectionType: types.ProjectionTypeAll} // the owner index as it was
	if _, err := tables.client.CreateTable(ctx, other); err != nil {
		t.Fatal(err)
	}
	defer tables.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: other.TableName})
	if err := CreateTable(ctx, tables.client, aws.ToString(other.TableName)); err == nil || !strings.Contains(err.Error(), "another shape") {
		t.Fatalf("a table of another shape was taken as Relink's: %v", err)
	}
}
