#!/usr/bin/env bash
# Back up the production PostgreSQL store, restore it into a scratch database and prove the copy
# is whole: same row counts in every table and an intact audit hash chain (`cfc audit verify`).
#
#   scripts/pg-backup-check.sh postgresql://cfc@db.internal/cfc /backups/cfc-$(date +%F).dump
#
# Needs pg_dump, pg_restore, psql and `cfc` on the PATH; the role must be allowed to CREATE DATABASE.
# Exit 0 only when the restored copy matches. The scratch database is dropped afterwards.
set -euo pipefail
SOURCE="${1:?usage: pg-backup-check.sh POSTGRES_URL DUMP_FILE}"
DUMP="${2:?usage: pg-backup-check.sh POSTGRES_URL DUMP_FILE}"
SOURCE="${SOURCE/postgresql+psycopg:/postgresql:}"
SCRATCH="cfc_restore_check_$$"
TARGET="${SOURCE%/*}/${SCRATCH}"

[ -e "$DUMP" ] && { echo "error: $DUMP exists; backups are never overwritten" >&2; exit 2; }
pg_dump --format=custom --file="$DUMP" "$SOURCE"
psql -q -v ON_ERROR_STOP=1 "$SOURCE" -c "CREATE DATABASE \"$SCRATCH\""
trap 'psql -q "$SOURCE" -c "DROP DATABASE IF EXISTS \"$SCRATCH\"" >/dev/null 2>&1 || true' EXIT
pg_restore --no-owner --exit-on-error --dbname="$TARGET" "$DUMP"

count_rows() {
    psql -At -v ON_ERROR_STOP=1 "$1" <<'SQL'
SELECT string_agg(format('%s=%s', tablename,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', tablename), false, true, '')))[1]::text),
       ' ' ORDER BY tablename)
FROM pg_tables WHERE schemaname = current_schema();
SQL
}
before=$(count_rows "$SOURCE")
after=$(count_rows "$TARGET")
if [ "$before" != "$after" ]; then
    echo "error: the restored copy differs from the source" >&2
    diff <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$after") >&2 || true
    exit 1
fi
CFC_DATABASE_URL="${TARGET/postgresql:/postgresql+psycopg:}" cfc audit verify --format json
echo "backup $DUMP restored and verified ($(wc -w <<<"$after") tables)"
