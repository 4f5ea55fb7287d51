package glue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsglue "github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// open connects to the Glue API of the moto server scripts/test.sh starts.
func open(t *testing.T) (*Catalog, *awsglue.Client) {
	ep := testenv.AWS(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Open(cfg, Options{Warehouse: "s3://lake/base", Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	return cat, awsglue.NewFromConfig(cfg, func(o *awsglue.Options) { o.BaseEndpoint = aws.String(ep) })
}

func TestEnsureNamespace(t *testing.T) {
	cat, g := open(t)
	ctx := context.Background()
	db := fmt.Sprintf("ns_%d", time.Now().UnixNano())
	for range 2 { // idempotent
		if err := cat.EnsureNamespace(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	out, err := g.GetDatabase(ctx, &awsglue.GetDatabaseInput{Name: aws.String(db)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Database.LocationUri); got != "s3://lake/base/"+db+".db" {
		t.Fatalf("location %s", got)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, table.Identifier{db}); err != nil || !ok {
		t.Fatalf("namespace not visible to iceberg-go: %v", err)
	}
}

// TestRegisterDelta: the Glue entry has the shape Athena and Trino need,
// and a schema change updates it.
func TestRegisterDelta(t *testing.T) {
	cat, g := open(t)
	ctx := context.Background()
	db := fmt.Sprintf("delta_%d", time.Now().UnixNano())
	d := DeltaTable{Database: db, Name: "orders", Location: "s3://lake/base/" + db + ".db/orders",
		Columns: []Column{{"id", "bigint"}, {"total", "decimal(10,2)"}}}
	if err := cat.RegisterDelta(ctx, d); err != nil {
		t.Fatal(err)
	}
	get := func() *awsglue.GetTableOutput {
		out, err := g.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String(db), Name: aws.String("orders")})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tb := get().Table
	if tb.Parameters["table_type"] != "DELTA" || tb.Parameters["spark.sql.sources.provider"] != "delta" ||
		aws.ToString(tb.TableType) != "EXTERNAL_TABLE" || aws.ToString(tb.StorageDescriptor.Location) != d.Location ||
		len(tb.StorageDescriptor.Columns) != 2 || aws.ToString(tb.StorageDescriptor.Columns[1].Type) != "decimal(10,2)" {
		t.Fatalf("glue table %+v", tb)
	}
	// Trino (so Athena) reads the table root from the SerDe's path.
	if sd := tb.StorageDescriptor; sd.SerdeInfo == nil || sd.SerdeInfo.Parameters["path"] != d.Location ||
		aws.ToString(sd.SerdeInfo.SerializationLibrary) != parquetSerDe || aws.ToString(sd.InputFormat) != parquetInputFormat {
		t.Fatalf("storage descriptor %+v serde %+v", sd, sd.SerdeInfo)
	}
	v1 := aws.ToString(tb.VersionId)
	if err := cat.RegisterDelta(ctx, d); err != nil { // unchanged: no update
		t.Fatal(err)
	}
	if v := aws.ToString(get().Table.VersionId); v != v1 {
		t.Fatalf("unchanged registration updated the table (%s → %s)", v1, v)
	}
	d.Columns = append(d.Columns, Column{"note", "string"})
	if err := cat.RegisterDelta(ctx, d); err != nil {
		t.Fatal(err)
	}
	if cols := get().Table.StorageDescriptor.Columns; len(cols) != 3 || aws.ToString(cols[2].Name) != "note" {
		t.Fatalf("columns after evolution %+v", cols)
	}
	// An entry an older lakemerge wrote (no SerDeInfo) is brought up to the
	// shape Trino needs by the next registration.
	old := d.input()
	old.StorageDescriptor.SerdeInfo, old.StorageDescriptor.InputFormat, old.StorageDescriptor.OutputFormat = nil, nil, nil
	if _, err := g.UpdateTable(ctx, &awsglue.UpdateTableInput{DatabaseName: aws.String(db), TableInput: old}); err != nil {
		t.Fatal(err)
	}
	if si := get().Table.StorageDescriptor.SerdeInfo; si != nil && si.Parameters["path"] != "" {
		t.Fatalf("old shape not stored: %+v", si)
	}
	if err := cat.RegisterDelta(ctx, d); err != nil {
		t.Fatal(err)
	}
	if si := get().Table.StorageDescriptor.SerdeInfo; si == nil || si.Parameters["path"] != d.Location {
		t.Fatalf("registration did not add the SerDe path: %+v", si)
	}
	// Iceberg listing does not mistake it for an Iceberg table.
	for id, err := range cat.ListTables(ctx, table.Identifier{db}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("iceberg listing shows delta table %v", id)
	}
}

func TestHiveType(t *testing.T) {
	for dt, want := range map[arrow.DataType]string{
		arrow.PrimitiveTypes.Int32: "int", arrow.PrimitiveTypes.Int64: "bigint", arrow.BinaryTypes.String: "string",
		&arrow.Decimal128Type{Precision: 38, Scale: 9}: "decimal(38,9)", &arrow.TimestampType{Unit: arrow.Microsecond}: "timestamp",
		arrow.FixedWidthTypes.Date32: "date", arrow.FixedWidthTypes.Boolean: "boolean", arrow.BinaryTypes.Binary: "binary",
	} {
		if got, err := HiveType(dt); err != nil || got != want {
			t.Errorf("HiveType(%s) = %q %v, want %q", dt, got, err, want)
		}
	}
	if _, err := HiveType(arrow.ListOf(arrow.PrimitiveTypes.Int8)); err == nil {
		t.Error("list type accepted")
	}
}

// TestMetadataLocation: the metadata_location of an Iceberg table as Glue
// holds it; "" for a Delta table and for a table that does not exist.
func TestMetadataLocation(t *testing.T) {
	cat, g := open(t)
	ctx := context.Background()
	db := fmt.Sprintf("loc_%d", time.Now().UnixNano())
	if err := cat.EnsureNamespace(ctx, db); err != nil {
		t.Fatal(err)
	}
	loc := "s3://lake/base/" + db + ".db/orders/metadata/00001-x.metadata.json"
	_, err := g.CreateTable(ctx, &awsglue.CreateTableInput{DatabaseName: aws.String(db), TableInput: &types.TableInput{
		Name: aws.String("orders"), Parameters: map[string]string{"table_type": "ICEBERG", "metadata_location": loc}}})
	if err != nil {
		t.Fatal(err)
	}
	d := DeltaTable{Database: db, Name: "orders_delta", Location: "s3://lake/base/" + db + ".db/orders_delta",
		Columns: []Column{{"id", "bigint"}}}
	if err := cat.RegisterDelta(ctx, d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"orders": loc, "orders_delta": "", "missing": ""} {
		got, err := cat.MetadataLocation(ctx, table.Identifier{db, name})
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}
