"""Fill the reference application from a simulated world's context (``vigile sim``).

Practices and accounts come from ``actors.csv`` (each account gets a random
password, written once to a ``0600`` file for the demo's replay client — a real
deployment has no such file), patient files from ``patients.csv``, notes from
``annotations.csv`` (encrypted at rest), the schedule from ``appointments.csv``.
Each file gets one to three documents (``<patient id>-D1`` ...), so that the
replayed clients have something to open. Canary files stay ordinary rows: the
application does not know which files are decoys, only vigile does.
"""

from __future__ import annotations

import csv
import os
import secrets
import unicodedata
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import polars as pl

from vigile.demo.app.db import Database
from vigile.demo.app.security import NoteCipher, hash_password
from vigile.errors import InputError

__all__ = ["fold", "load_passwords", "seed"]

_DOC_TITLES: Final = (
    "Compte rendu de biologie",
    "Courrier du cardiologue",
    "Radiographie thoracique",
    "Compte rendu opératoire",
    "Certificat de vaccination",
    "Échographie abdominale",
)
_CHUNK: Final = 20_000


def fold(text: str) -> str:
    """Lower case without accents: the search key of a last name (``Émile`` → ``emile``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"{path}: no such context file")
    return pl.read_csv(path, infer_schema_length=0, encoding="utf8")


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(
    db: Database, table: str, cols: tuple[str, ...], rows: Iterator[tuple[Any, ...]]
) -> int:
    n = 0
    if db.postgres:
        with (
            db.conn().cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    for batch in _chunks(rows):
        with db.tx():
            db.many(sql, batch)
        n += len(batch)
    return n


def seed(
    db: Database,
    context: Path,
    *,
    passwords_out: Path,
    cipher: NoteCipher,
) -> dict[str, int]:
    """Create the schema and load a world's context; returns row counts."""
    db.create_schema()
    actors = _read(context / "actors.csv")
    patients = _read(context / "patients.csv")
    counts: dict[str, int] = {}

    tenants = sorted(set(actors["tenant"].to_list()) | set(patients["tenant"].unique().to_list()))
    counts["practices"] = _insert(
        db, "practices", ("tenant", "name"), ((t, f"Cabinet {t}") for t in tenants)
    )

    accounts = actors.select("actor", "tenant", "role", "created").rows()
    passwords = {actor: secrets.token_urlsafe(12) for actor, *_ in accounts}
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        hashes = list(pool.map(hash_password, (passwords[a] for a, *_ in accounts)))
    counts["users"] = _insert(
        db,
        "users",
        ("actor", "tenant", "role", "password_hash", "created"),
        ((a, t, r, h, c) for (a, t, r, c), h in zip(accounts, hashes, strict=True)),
    )
    passwords_out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(passwords_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["actor", "tenant", "role", "password"])
        for actor, tenant, role, _ in accounts:
            writer.writerow([actor, tenant, role, passwords[actor]])

    cols = (
        "patient_id", "tenant", "last_name", "birth_name", "first_name", "sex", "birth_date",
        "phone", "email", "address", "postcode", "city", "vip",
    )  # fmt: skip
    for col in cols:
        if col not in patients.columns:
            patients = patients.with_columns(pl.lit(None, pl.Utf8).alias(col))
    frame = patients.select(cols).with_columns(
        pl.col("vip").fill_null("0").cast(pl.Int64, strict=False).fill_null(0),
        pl.col("last_name").fill_null(""),
    )
    counts["patients"] = _insert(
        db,
        "patients",
        (*cols, "last_name_key"),
        ((*row, fold(row[2])) for row in frame.iter_rows()),
    )
    numbers = [int(p[1:]) for p in frame["patient_id"].to_list() if p[1:].isdigit()]
    db.run("DELETE FROM counters WHERE name = 'patient'")
    db.run(
        "INSERT INTO counters (name, value) VALUES ('patient', ?)",
        (max(numbers, default=10_000_000),),
    )

    def documents() -> Iterator[tuple[str, str, str, str, str]]:
        for pid, tenant in frame.select("patient_id", "tenant").iter_rows():
            h = zlib.crc32(pid.encode())
            for k in range(1 + h % 3):
                title = _DOC_TITLES[(h >> 4 + k) % len(_DOC_TITLES)]
                yield f"{pid}-D{k + 1}", pid, tenant, title, f"20{15 + (h >> 8) % 10}-0{1 + k}-15"

    counts["documents"] = _insert(
        db, "documents", ("document_id", "patient_id", "tenant", "title", "created"), documents()
    )

    notes_path = context / "annotations.csv"
    if notes_path.exists():
        notes = _read(notes_path)
        counts["annotations"] = _insert(
            db,
            "annotations",
            ("annotation_id", "patient_id", "tenant", "author", "created", "ciphertext"),
            (
                (aid, pid, tenant, author, created, cipher.encrypt(text or "", aid, pid))
                for aid, pid, tenant, author, created, text in notes.select(
                    "annotation_id", "patient_id", "tenant", "author", "created", "text"
                ).iter_rows()
            ),
        )
    appts_path = context / "appointments.csv"
    if appts_path.exists():
        appts = _read(appts_path)
        counts["appointments"] = _insert(
            db,
            "appointments",
            ("tenant", "actor", "patient_id", "start", "day"),
            (
                (t, a, p, s, s[:10])
                for t, a, p, s in appts.select("tenant", "actor", "patient_id", "start").iter_rows()
            ),
        )
    return counts


def load_passwords(path: Path) -> dict[str, tuple[str, str, str]]:
    """``actor → (tenant, role, password)`` from the file :func:`seed` wrote."""
    with open(path, newline="") as handle:
        return {r["actor"]: (r["tenant"], r["role"], r["password"]) for r in csv.DictReader(handle)}
