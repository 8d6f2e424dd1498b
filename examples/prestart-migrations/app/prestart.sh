#!/bin/sh
# Sourced by /start.sh before the app starts: its exports reach the app, and a failure stops the container.
# Brings the SQLite database to the newest schema. Each migration runs once, in one transaction with its
# version row, so a restart (or a second replica racing this one) finds nothing left to do.
export DATABASE_PATH="${DATABASE_PATH:-/app/data/app.db}"

python - "$DATABASE_PATH" <<'PY'
import sqlite3
import sys
from pathlib import Path

MIGRATIONS = [  # append only: never edit one that has shipped
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    "INSERT INTO notes (text) VALUES ('migrated by prestart.sh')",
    "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'anonymous'",
]

path = Path(sys.argv[1])
path.parent.mkdir(parents=True, exist_ok=True)
db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
for version, sql in enumerate(MIGRATIONS, start=1):
    db.execute("BEGIN IMMEDIATE")  # one writer at a time: the check below cannot race
    if db.execute("SELECT 1 FROM schema_version WHERE version = ?", (version,)).fetchone():
        db.execute("ROLLBACK")
        continue
    db.execute(sql)
    db.execute("INSERT INTO schema_version VALUES (?, datetime())", (version,))
    db.execute("COMMIT")
    print(f"prestart: applied migration {version}", file=sys.stderr)
current = db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
print(f"prestart: {path} is at schema version {current}", file=sys.stderr)
PY

# prestart.sh runs as root; the app as APP_USER (aiohttp in the images), which writes the database and its journal
if [ "$(id -u)" = 0 ] && [ -n "${APP_USER:-}" ]; then
    chown -R "$APP_USER" "$(dirname "$DATABASE_PATH")"
fi
