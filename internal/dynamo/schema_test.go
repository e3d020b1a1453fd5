package dynamo

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// cfnTable is the part of template.yaml's AWS::DynamoDB::Table the code depends on.
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
			ProjectionType string `yaml:"ProjectionType"`
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

// templateTable reads Resources.Table.Properties from template.yaml. It walks the YAML
// node tree, so CloudFormation short tags (!Sub, !Ref) elsewhere do not get in the way.
func templateTable(t *testing.T) cfnTable {
	t.Helper()
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse template: %v", err)
	}
	node := doc.Content[0]
	for _, key := range []string{"Resources", "Table", "Properties"} {
		node = child(node, key)
		if node == nil {
			t.Fatalf("template.yaml has no %s on the path Resources.Table.Properties", key)
		}
	}
	var tbl cfnTable
	if err := node.Decode(&tbl); err != nil {
		t.Fatalf("decode table properties: %v", err)
	}
	return tbl
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// describe flattens a table definition into sorted lines, so two definitions compare
// regardless of order.
func describeTemplate(c cfnTable) []string {
	var out []string
	out = append(out, "billing "+c.BillingMode, fmt.Sprintf("ttl %s enabled=%v", c.TimeToLiveSpecification.AttributeName, c.TimeToLiveSpecification.Enabled))
	for _, a := range c.AttributeDefinitions {
		out = append(out, "attr "+a.AttributeName+":"+a.AttributeType)
	}
	out = append(out, "key "+cfnKeys(c.KeySchema))
	for _, g := range c.GlobalSecondaryIndexes {
		out = append(out, "gsi "+g.IndexName+" "+cfnKeys(g.KeySchema)+" "+g.Projection.ProjectionType)
	}
	slices.Sort(out)
	return out
}

func cfnKeys(ks []cfnKey) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k.AttributeName + ":" + k.KeyType
	}
	return strings.Join(parts, ",")
}

func describeInput(in *dynamodb.CreateTableInput, ttlAttr string) []string {
	var out []string
	out = append(out, "billing "+string(in.BillingMode), fmt.Sprintf("ttl %s enabled=true", ttlAttr))
	for _, a := range in.AttributeDefinitions {
		out = append(out, "attr "+aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	out = append(out, "key "+sdkKeys(in.KeySchema))
	for _, g := range in.GlobalSecondaryIndexes {
		out = append(out, "gsi "+aws.ToString(g.IndexName)+" "+sdkKeys(g.KeySchema)+" "+string(g.Projection.ProjectionType))
	}
	slices.Sort(out)
	return out
}

func sdkKeys(ks []types.KeySchemaElement) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = aws.ToString(k.AttributeName) + ":" + string(k.KeyType)
	}
	return strings.Join(parts, ",")
}

// TestTableMatchesTemplate: the table the tests and the local stack create is the one
// template.yaml deploys.
func TestTableMatchesTemplate(t *testing.T) {
	got, want := describeTemplate(templateTable(t)), describeInput(TableInput("x"), AttrExpiresAt)
	if !slices.Equal(got, want) {
		t.Fatalf("template.yaml and TableInput differ:\n template: %s\n code:     %s", strings.Join(got, "; "), strings.Join(want, "; "))
	}
}

// TestTableComparisonNoticesDrift makes sure the comparison above can fail.
func TestTableComparisonNoticesDrift(t *testing.T) {
	tmpl := describeTemplate(templateTable(t))
	drifts := map[string]func(*dynamodb.CreateTableInput){
		"projection": func(in *dynamodb.CreateTableInput) {
			in.GlobalSecondaryIndexes[1].Projection.ProjectionType = types.ProjectionTypeKeysOnly
		},
		"attribute type": func(in *dynamodb.CreateTableInput) {
			in.AttributeDefinitions[4].AttributeType = types.ScalarAttributeTypeS
		},
		"index name": func(in *dynamodb.CreateTableInput) { in.GlobalSecondaryIndexes[0].IndexName = aws.String("by-owner") },
		"key order": func(in *dynamodb.CreateTableInput) {
			in.KeySchema[0].KeyType, in.KeySchema[1].KeyType = types.KeyTypeRange, types.KeyTypeHash
		},
		"billing": func(in *dynamodb.CreateTableInput) { in.BillingMode = types.BillingModeProvisioned },
	}
	for name, drift := range drifts {
		in := TableInput("x")
		drift(in)
		if slices.Equal(tmpl, describeInput(in, AttrExpiresAt)) {
			t.Errorf("a %s drift went unnoticed", name)
		}
	}
	if slices.Equal(tmpl, describeInput(TableInput("x"), "ttl")) {
		t.Error("a TTL attribute drift went unnoticed")
	}
}
