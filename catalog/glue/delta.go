package glue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsglue "github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// Column is one column of a table as Glue records it: name and Hive type.
type Column struct {
	Name string
	Type string // Hive type name, see HiveType
}

// HiveType is the Glue (Hive) type name of an Arrow type, as Athena
// expects in a table's columns.
func HiveType(t arrow.DataType) (string, error) {
	switch t := t.(type) {
	case *arrow.Int8Type:
		return "tinyint", nil
	case *arrow.Int16Type:
		return "smallint", nil
	case *arrow.Int32Type:
		return "int", nil
	case *arrow.Int64Type:
		return "bigint", nil
	case *arrow.Float32Type:
		return "float", nil
	case *arrow.Float64Type:
		return "double", nil
	case *arrow.BooleanType:
		return "boolean", nil
	case *arrow.StringType, *arrow.LargeStringType:
		return "string", nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return "binary", nil
	case *arrow.Date32Type:
		return "date", nil
	case *arrow.TimestampType:
		return "timestamp", nil
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale), nil
	}
	return "", fmt.Errorf("no Glue type for %s", t)
}

// DeltaTable is a Delta Lake table to register.
type DeltaTable struct {
	Database, Name string
	Location       string // the table root (holds _delta_log/)
	Columns        []Column
	PartitionKeys  []Column
}

// deltaParameters mark a Glue table as native Delta Lake: table_type for
// Athena, spark.sql.sources.provider for Trino and Spark.
var deltaParameters = map[string]string{
	"table_type":                 "DELTA",
	"spark.sql.sources.provider": "delta",
	"EXTERNAL":                   "TRUE",
}

// The storage descriptor of a native Delta table, as Glue crawlers
// (CreateNativeDeltaTable) and Spark write it. Trino's Delta connector, and
// so Athena, finds the table root in the SerDe parameter "path" (no
// SerDeInfo: "StorageDescriptor SerDeInfo is null"; no path: "No path
// property defined for table"); the Parquet formats let Hive-style readers
// and the Glue console see the files' format.
const (
	parquetSerDe        = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
	parquetInputFormat  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	parquetOutputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
)

func (d DeltaTable) input() *types.TableInput {
	cols := func(cs []Column) []types.Column {
		out := make([]types.Column, len(cs))
		for i, c := range cs {
			out[i] = types.Column{Name: aws.String(c.Name), Type: aws.String(c.Type)}
		}
		return out
	}
	params := make(map[string]string, len(deltaParameters))
	for k, v := range deltaParameters {
		params[k] = v
	}
	return &types.TableInput{
		Name:          aws.String(d.Name),
		TableType:     aws.String("EXTERNAL_TABLE"),
		Parameters:    params,
		PartitionKeys: cols(d.PartitionKeys),
		StorageDescriptor: &types.StorageDescriptor{
			Location:     aws.String(d.Location),
			Columns:      cols(d.Columns),
			InputFormat:  aws.String(parquetInputFormat),
			OutputFormat: aws.String(parquetOutputFormat),
			SerdeInfo: &types.SerDeInfo{
				SerializationLibrary: aws.String(parquetSerDe),
				Parameters:           map[string]string{"serialization.format": "1", "path": d.Location},
			},
		},
	}
}

// RegisterDelta creates the Glue entry of a Delta table, or updates it
// when its location, columns or storage descriptor differ (a schema
// evolution, or an entry written by an older lakemerge without the SerDe
// path Trino and Athena need), so Athena, Lake Formation and the Glue
// console see the table as its log describes it. Updates use Glue's VersionId check; a concurrent change makes it
// fail, and the caller registers again.
func (c *Catalog) RegisterDelta(ctx context.Context, d DeltaTable) error {
	if err := c.EnsureNamespace(ctx, d.Database); err != nil {
		return err
	}
	cur, err := c.glue.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String(d.Database), Name: aws.String(d.Name)})
	var nf *types.EntityNotFoundException
	if errors.As(err, &nf) {
		_, err = c.glue.CreateTable(ctx, &awsglue.CreateTableInput{DatabaseName: aws.String(d.Database), TableInput: d.input()})
		var exists *types.AlreadyExistsException
		if errors.As(err, &exists) {
			return c.RegisterDelta(ctx, d) // created concurrently: compare and update
		}
		if err != nil {
			return fmt.Errorf("register delta table %s.%s: %w", d.Database, d.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("register delta table %s.%s: %w", d.Database, d.Name, err)
	}
	t := cur.Table
	if t.Parameters["table_type"] != "DELTA" {
		return fmt.Errorf("register delta table %s.%s: a table of type %q exists under that name", d.Database, d.Name, t.Parameters["table_type"])
	}
	in := d.input()
	if sameDelta(t, in) {
		return nil
	}
	_, err = c.glue.UpdateTable(ctx, &awsglue.UpdateTableInput{
		DatabaseName: aws.String(d.Database),
		TableInput:   in,
		VersionId:    t.VersionId,
		SkipArchive:  aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("update delta table %s.%s: %w", d.Database, d.Name, err)
	}
	return nil
}

func sameDelta(t *types.Table, in *types.TableInput) bool {
	sd, want := t.StorageDescriptor, in.StorageDescriptor
	if sd == nil || aws.ToString(sd.Location) != aws.ToString(want.Location) ||
		aws.ToString(sd.InputFormat) != aws.ToString(want.InputFormat) ||
		aws.ToString(sd.OutputFormat) != aws.ToString(want.OutputFormat) {
		return false
	}
	if sd.SerdeInfo == nil || aws.ToString(sd.SerdeInfo.SerializationLibrary) != aws.ToString(want.SerdeInfo.SerializationLibrary) ||
		!maps.Equal(sd.SerdeInfo.Parameters, want.SerdeInfo.Parameters) {
		return false
	}
	for k, v := range in.Parameters {
		if t.Parameters[k] != v {
			return false
		}
	}
	eq := func(a, b []types.Column) bool {
		return slices.EqualFunc(a, b, func(x, y types.Column) bool {
			return aws.ToString(x.Name) == aws.ToString(y.Name) && aws.ToString(x.Type) == aws.ToString(y.Type)
		})
	}
	return eq(sd.Columns, want.Columns) && eq(t.PartitionKeys, in.PartitionKeys)
}
