#!/usr/bin/env bash
# Runs a command next to a Trino server that plays Athena (engine v3 is
# built on Trino) for the tests: Trino 476 with only its Iceberg and Delta
# Lake connectors, on 127.0.0.1, stopped when this script exits.
#
# Usage: scripts/trino.sh COMMAND [ARGS...]
#
# Trino and its CLI come from Maven Central (io.trino:trino-server:476
# tar.gz, io.trino:trino-cli:476 executable jar), cached under
# .cache/trino/. Trino 476 needs Java 24 or newer: the newest JDK under
# /usr/lib/jvm (or $JAVA_HOME) that is new enough is used.
#
# Four catalogs:
#   iceberg_local, delta_local  file metastore under $LAKEMERGE_TRINO_DIR,
#                               tables registered with register_table
#                               (lakemerge's local default: file:// tables)
#   iceberg_glue, delta_glue    the Glue metastore and S3 of the moto server
#                               at $LAKEMERGE_AWS_ENDPOINT (when it is set)
#
# The server is started in the background and COMMAND runs at once; the
# tests wait until Trino answers. Exported for COMMAND:
#   LAKEMERGE_TRINO      http://127.0.0.1:PORT
#   LAKEMERGE_TRINO_CLI  java -jar command line of the Trino CLI
#   LAKEMERGE_TRINO_LOG  the server's log file
set -euo pipefail
cd "$(dirname "$0")/.."

version=476
cache=.cache/trino
server_tgz=$cache/trino-server-$version.tar.gz
cli_jar=$cache/trino-cli-$version-executable.jar
home=$cache/trino-server-$version
maven=https://repo1.maven.org/maven2/io/trino

fetch() { # url file
	if [[ ! -f $2 ]]; then
		echo "== downloading $(basename "$2")" >&2
		curl -sSfL --retry 3 -o "$2.part" "$1"
		mv "$2.part" "$2"
	fi
}
mkdir -p "$cache"
fetch "$maven/trino-server/$version/trino-server-$version.tar.gz" "$server_tgz"
fetch "$maven/trino-cli/$version/trino-cli-$version-executable.jar" "$cli_jar"
if [[ ! -d $home/plugin/delta-lake ]]; then
	# The archive hard-links jars shared between plugins, so it is unpacked
	# whole; then every plugin but the two connectors is deleted (~60 of
	# them: 896 MB → 470 MB, and a faster start).
	rm -rf "$home" "$home.part"
	mkdir -p "$home.part"
	tar -xzf "$server_tgz" -C "$home.part" --strip-components=1
	find "$home.part/plugin" -mindepth 1 -maxdepth 1 ! -name iceberg ! -name delta-lake -exec rm -rf {} +
	mv "$home.part" "$home"
fi

# A JDK new enough for Trino 476.
java=
for j in ${JAVA_HOME:+$JAVA_HOME/bin/java} /usr/lib/jvm/*/bin/java; do
	[[ -x $j ]] || continue
	major=$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
	if [[ -n $major && $major -ge 24 && ( -z $java || $major -gt $best ) ]]; then
		java=$j best=$major
	fi
done
if [[ -z $java ]]; then
	echo "trino.sh: no Java 24+ found (JAVA_HOME, /usr/lib/jvm); Trino $version needs one" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/lakemerge-trino.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/etc/catalog" "$dir/data" "$dir/metastore"
cat >"$dir/etc/node.properties" <<PROPS
node.environment=lakemerge_test
node.id=lakemerge-test
node.data-dir=$dir/data
PROPS
# Small heap, C1 only and a serial collector: a short-lived server on a
# shared 2-core machine.
cat >"$dir/etc/jvm.config" <<PROPS
-server
-Xmx1G
-XX:+UseSerialGC
-XX:TieredStopAtLevel=1
-XX:+ExitOnOutOfMemoryError
-XX:-OmitStackTraceInFastThrow
-XX:ReservedCodeCacheSize=128M
-Djdk.attach.allowAttachSelf=true
-XX:+EnableDynamicAgentLoading
-Dfile.encoding=UTF-8
-Duser.timezone=UTC
PROPS
cat >"$dir/etc/config.properties" <<PROPS
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$port
discovery.uri=http://127.0.0.1:$port
query.max-memory=512MB
query.max-memory-per-node=512MB
task.concurrency=2
PROPS
cat >"$dir/etc/log.properties" <<PROPS
io.trino=WARN
PROPS
# Local default: file:// tables through the Hadoop file system, a file
# metastore, register_table to add lakemerge's tables.
cat >"$dir/etc/catalog/iceberg_local.properties" <<PROPS
connector.name=iceberg
iceberg.catalog.type=testing_file_metastore
hive.metastore.catalog.dir=file://$dir/metastore/iceberg
iceberg.register-table-procedure.enabled=true
fs.hadoop.enabled=true
PROPS
cat >"$dir/etc/catalog/delta_local.properties" <<PROPS
connector.name=delta_lake
hive.metastore=file
hive.metastore.catalog.dir=file://$dir/metastore/delta
delta.register-table-procedure.enabled=true
fs.hadoop.enabled=true
PROPS
if [[ -n ${LAKEMERGE_AWS_ENDPOINT:-} ]]; then
	# Glue and S3 of the moto server: Trino's native S3 file system with
	# path-style requests, the Glue endpoint overridden.
	aws="hive.metastore.glue.region=us-east-1
hive.metastore.glue.endpoint-url=$LAKEMERGE_AWS_ENDPOINT
hive.metastore.glue.aws-access-key=test
hive.metastore.glue.aws-secret-key=test
fs.native-s3.enabled=true
s3.endpoint=$LAKEMERGE_AWS_ENDPOINT
s3.region=us-east-1
s3.path-style-access=true
s3.aws-access-key=test
s3.aws-secret-key=test"
	printf 'connector.name=iceberg\niceberg.catalog.type=glue\n%s\n' "$aws" >"$dir/etc/catalog/iceberg_glue.properties"
	printf 'connector.name=delta_lake\nhive.metastore=glue\n%s\n' "$aws" >"$dir/etc/catalog/delta_glue.properties"
fi

log=$dir/server.log
JAVA_HOME=$(dirname "$(dirname "$java")") PATH=$(dirname "$java"):$PATH \
	"$home/bin/launcher" run --etc-dir "$dir/etc" --data-dir "$dir/data" >"$log" 2>&1 &
trino_pid=$!
trap 'kill $trino_pid 2>/dev/null || true; wait $trino_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
echo "== trino $version (java $best) starting on http://127.0.0.1:$port, log $log"

export LAKEMERGE_TRINO=http://127.0.0.1:$port
export LAKEMERGE_TRINO_CLI="$java -jar $(pwd)/$cli_jar"
export LAKEMERGE_TRINO_LOG=$log
"$@"
