"""Reads and writes the SQLite database that prestart.sh created and migrated before the app started."""

import os
import sqlite3

from aiohttp import web

DATABASE_PATH = os.environ["DATABASE_PATH"]  # exported by prestart.sh


def connect() -> sqlite3.Connection:
    # short queries on a local file: a connection per request keeps workers independent
    return sqlite3.connect(DATABASE_PATH, timeout=10)


async def notes(request: web.Request) -> web.Response:
    with connect() as db:
        version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        rows = db.execute("SELECT id, text, author FROM notes ORDER BY id").fetchall()
    return web.json_response({"schema_version": version, "notes": [{"id": i, "text": t, "author": a} for i, t, a in rows]})


async def add_note(request: web.Request) -> web.Response:
    text = (await request.text()).strip()
    if not text:
        raise web.HTTPBadRequest(text="send the note as the request body\n")
    with connect() as db:
        note_id = db.execute("INSERT INTO notes (text) VALUES (?)", (text,)).lastrowid
    return web.json_response({"id": note_id, "text": text}, status=201)


app = web.Application()
app.router.add_get("/notes", notes)
app.router.add_post("/notes", add_note)
