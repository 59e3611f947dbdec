"""The backend seam of breach scoping: named SQL steps run by an engine object.

Scoping is a short pipeline of SQL steps kept in ``steps/*.sql`` (Jinja
templates). A step reads tables registered earlier (the event store, context
tables, earlier steps) and is materialised under its own name, so the next step
can read it. Two engines implement :class:`SqlBackend`:

* :class:`DuckDBBackend` — the embedded default, one process, no server;
* :class:`SparkBackend` — PySpark, for stores that outgrow a machine (tested in
  ``local[2]`` mode).

Every difference of SQL dialect lives in one class, :class:`Dialect` (DuckDB)
and its subclass :class:`SparkDialect`, which the templates call as ``d.*``:
``{{ d.explode('patient_ids') }}``. This is how Splink separates its algorithms
from its backends: the algorithm enqueues named SQL, a backend runs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import jinja2
import pyarrow as pa

from vigile.errors import VigileError

__all__ = [
    "BACKENDS",
    "Dialect",
    "DuckDBBackend",
    "SparkBackend",
    "SparkDialect",
    "SqlBackend",
    "make_backend",
    "render_step",
]

#: Local time zone of the practices (days of the timeline, dates in letters).
LOCAL_TZ = "Europe/Paris"


class Dialect:
    """DuckDB's SQL; :class:`SparkDialect` overrides what Spark spells differently."""

    name = "duckdb"

    def explode(self, column: str) -> str:
        """One output row per element of a list column (in a SELECT list)."""
        return f"unnest({column})"

    def set_join(self, expr: str, sep: str = ";") -> str:
        """Aggregate: the distinct non-null values, sorted, joined by ``sep``."""
        return f"array_to_string(list_sort(list_distinct(list({expr}))), '{sep}')"

    def local_day(self, ts: str) -> str:
        """The local (practice) calendar day of a UTC timestamp."""
        return f"CAST(timezone('{LOCAL_TZ}', {ts}) AS DATE)"

    def ts_literal(self, value: datetime) -> str:
        """A timestamp-with-time-zone literal (UTC)."""
        return f"TIMESTAMPTZ '{value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}+00'"

    def count_if(self, cond: str) -> str:
        """Aggregate: rows where ``cond`` holds."""
        return f"CAST(count_if(coalesce({cond}, FALSE)) AS BIGINT)"

    def regexp_replace_all(self, expr: str, pattern: str, replacement: str = "") -> str:
        """Every match of ``pattern`` in ``expr`` replaced."""
        return f"regexp_replace({expr}, '{pattern}', '{replacement}', 'g')"

    def strip_accents(self, expr: str) -> str:
        """``expr`` with accents and ligatures folded to plain letters."""
        return f"strip_accents({expr})"

    def fold_letters(self, expr: str) -> str:
        """Upper-case letters only, accents folded, empty as NULL: ``Lefèvre-Durand`` →
        ``LEFEVREDURAND`` (names compared across practices' spellings)."""
        return (
            f"nullif({self.regexp_replace_all(f'upper({self.strip_accents(expr)})', '[^A-Z]')}, '')"
        )

    def digits(self, expr: str) -> str:
        """Digits only, empty as NULL (phone numbers)."""
        return f"nullif({self.regexp_replace_all(expr, '[^0-9]')}, '')"


_ACCENTED = "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿ"
_PLAIN = "AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOoooooUUUUuuuuYyy"


class SparkDialect(Dialect):
    """Spark SQL (3.4+)."""

    name = "spark"

    def explode(self, column: str) -> str:
        return f"explode({column})"

    def set_join(self, expr: str, sep: str = ";") -> str:
        return f"array_join(array_sort(collect_set({expr})), '{sep}')"

    def local_day(self, ts: str) -> str:
        return f"to_date(from_utc_timestamp({ts}, '{LOCAL_TZ}'))"

    def ts_literal(self, value: datetime) -> str:
        return f"TIMESTAMP '{value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}Z'"

    def regexp_replace_all(self, expr: str, pattern: str, replacement: str = "") -> str:
        return f"regexp_replace({expr}, '{pattern}', '{replacement}')"

    def strip_accents(self, expr: str) -> str:
        return f"translate({expr}, '{_ACCENTED}', '{_PLAIN}')"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("vigile.scope", "steps"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


@cache
def _template(name: str) -> jinja2.Template:
    return _ENV.get_template(f"{name}.sql")


def render_step(name: str, dialect: Dialect, **params: Any) -> str:
    """The SQL of step ``name`` (``steps/NAME.sql``) in ``dialect``."""
    return _template(name).render(d=dialect, **params)


def step_names() -> list[str]:
    """Every named step shipped in ``steps/``."""
    root = resources.files("vigile.scope").joinpath("steps")
    return sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".sql"))


class SqlBackend(Protocol):
    """What a scoping engine must do: hold named tables, run steps, hand back Arrow."""

    dialect: Dialect

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table readable as ``name``."""
        ...

    def register_parquet(self, name: str, paths: Sequence[Path], schema: pa.Schema) -> None:
        """Make Parquet files readable as ``name`` (an empty list: an empty table)."""
        ...

    def register_csv(self, name: str, path: Path) -> None:
        """Make a CSV file with a header readable as ``name``, every column as text."""
        ...

    def materialise(self, name: str, sql: str) -> None:
        """Run ``sql`` and keep its result as table ``name``."""
        ...

    def fetch(self, sql: str) -> pa.Table:
        """Run ``sql`` and return its result."""
        ...

    def fetch_batches(self, sql: str, rows: int = 262_144) -> Iterator[pa.RecordBatch]:
        """Run ``sql`` and stream its result (big tables to files, bounded memory)."""
        ...

    def close(self) -> None: ...


def run_step(backend: SqlBackend, name: str, **params: Any) -> None:
    """Render step ``name`` for the backend's dialect and materialise it as ``name``."""
    backend.materialise(name, render_step(name, backend.dialect, **params))


class DuckDBBackend:
    """The embedded default: an in-process DuckDB database, spilling to disk.

    Memory is capped at half the machine's RAM by default (the rest is for the
    report's tables in Python); what does not fit goes to ``temp_dir`` (a fresh
    temporary directory by default, removed on :meth:`close`).
    """

    dialect: Dialect = Dialect()

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_dir: Path | None = None,
    ) -> None:
        import duckdb

        self._own_tmp = temp_dir is None
        self.temp_dir = (
            Path(tempfile.mkdtemp(prefix="vigile-duckdb-")) if temp_dir is None else temp_dir
        )
        config: dict[str, Any] = {
            "memory_limit": memory_limit or _half_ram(),
            "temp_directory": str(self.temp_dir),
            "preserve_insertion_order": False,
        }
        if threads is not None:
            config["threads"] = threads
        self.con = duckdb.connect(config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        self._arrow: dict[str, pa.Table] = {}  # kept alive while registered

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self._arrow[name] = table
        self.con.register(f"_arrow_{name}", table)
        self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM "_arrow_{name}"')

    def register_parquet(self, name: str, paths: Sequence[Path], schema: pa.Schema) -> None:
        if not paths:
            self.register_arrow(name, schema.empty_table())
            return
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
        self.con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet([{files}])'
        )

    def register_csv(self, name: str, path: Path) -> None:
        source = "'" + str(path).replace("'", "''") + "'"
        self.con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_csv({source}, '
            "header = true, all_varchar = true, quote = '\"', escape = '\"', strict_mode = false)"
        )

    def materialise(self, name: str, sql: str) -> None:
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')

    def fetch(self, sql: str) -> pa.Table:
        table: pa.Table = self.con.sql(sql).to_arrow_table()
        return table

    def fetch_batches(self, sql: str, rows: int = 262_144) -> Iterator[pa.RecordBatch]:
        yield from self.con.sql(sql).to_arrow_reader(rows)

    def close(self) -> None:
        self.con.close()
        if self._own_tmp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


class SparkBackend:
    """PySpark (``local[N]`` on one machine, or any cluster master URL).

    Results are cached in Spark's memory (spilling to disk) and registered as
    temporary views; Arrow moves data in and out in columnar form.
    """

    dialect: Dialect = SparkDialect()

    #: Session settings; ``conf`` given to the constructor overrides them.
    CONF: dict[str, str] = {  # noqa: RUF012
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.memory": "4g",
    }

    def __init__(
        self, master: str = "local[2]", session: Any = None, conf: dict[str, str] | None = None
    ) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyspark warns about pandas versions on import
                from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise VigileError("the Spark backend needs pyspark (pip install pyspark)") from exc
        self._checkpoints = tempfile.mkdtemp(prefix="vigile-spark-")
        if session is None:
            builder = SparkSession.builder.master(master).appName("vigile-scope")
            settings = dict(self.CONF)
            # the JVM's own start-up chatter (log4j profile, loopback address, native
            # Hadoop) to errors only: the user sees vigile's progress lines, not Spark's
            log4j = Path(self._checkpoints) / "log4j2.properties"
            log4j.write_text(_LOG4J2)
            settings["spark.driver.extraJavaOptions"] = (
                f"-Dlog4j2.configurationFile={log4j.as_uri()}"
            )
            jar = _splink_jar()
            if jar is not None:  # Splink's string-similarity functions (jaro_winkler...)
                settings["spark.jars"] = jar
            settings.update(conf or {})
            for key, value in settings.items():
                builder = builder.config(key, value)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
        if session.sparkContext.getCheckpointDir() is None:  # Splink breaks lineage with it
            session.sparkContext.setCheckpointDir(self._checkpoints)
        self.spark = session
        self._cached: dict[str, Any] = {}

    def register_arrow(self, name: str, table: pa.Table) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if table.num_rows == 0:
                frame = self.spark.createDataFrame([], schema=_spark_schema(table.schema))
            else:
                frame = self.spark.createDataFrame(table)
        frame.createOrReplaceTempView(name)

    def register_parquet(self, name: str, paths: Sequence[Path], schema: pa.Schema) -> None:
        if not paths:
            self.register_arrow(name, schema.empty_table())
            return
        self.spark.read.parquet(*(str(p) for p in paths)).createOrReplaceTempView(name)

    def register_csv(self, name: str, path: Path) -> None:
        reader = self.spark.read.option("header", "true").option("escape", '"')
        reader.option("mode", "PERMISSIVE").csv(str(path)).createOrReplaceTempView(name)

    def materialise(self, name: str, sql: str) -> None:
        old = self._cached.pop(name, None)
        frame = self.spark.sql(sql).cache()
        frame.createOrReplaceTempView(name)
        self._cached[name] = frame
        if old is not None:
            old.unpersist()

    def fetch(self, sql: str) -> pa.Table:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table: pa.Table = self.spark.sql(sql).toArrow()
        return table

    def fetch_batches(self, sql: str, rows: int = 262_144) -> Iterator[pa.RecordBatch]:
        yield from self.fetch(sql).to_batches(rows)

    def close(self) -> None:
        for frame in self._cached.values():
            frame.unpersist()
        self._cached.clear()
        # Splink's intermediate Parquet tables (gigabytes at seed scale)
        shutil.rmtree(self._checkpoints, ignore_errors=True)


#: Spark's log4j configuration while the JVM starts: warnings, less the start-up chatter
#: (loopback address, native Hadoop); errors only once the session is up (setLogLevel).
#: At "warn" the root level equals the shell's default, so Spark does not announce it.
_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark %p %c{1}: %m%n%ex
logger.utils.name = org.apache.spark.util.Utils
logger.utils.level = error
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
"""


def _half_ram() -> str:
    """Half of this machine's memory, as DuckDB spells a limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return "4GB"
    return f"{max(1, total // 2 // 1024**2)}MB"


def _splink_jar() -> str | None:
    """Splink's Spark UDF jar (string similarity), when Splink is installed."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return None
    location: str = similarity_jar_location()
    return location


def _spark_schema(schema: pa.Schema) -> Any:
    """A Spark schema for an Arrow schema (empty tables carry no rows to infer from)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


#: Names accepted by ``--backend``.
BACKENDS = ("duckdb", "spark")


def make_backend(name: str, **options: Any) -> SqlBackend:
    """The backend called ``name`` (``duckdb`` or ``spark``)."""
    if name == "duckdb":
        return DuckDBBackend(**options)
    if name == "spark":
        return SparkBackend(**options)
    raise VigileError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")


def engine_failure(e: BaseException) -> VigileError | None:
    """A user-facing error for a failure of the SQL engine itself (disk full where it
    spills, out of memory, an I/O error on the store), or None for anything else."""
    kind = type(e).__module__.split(".")[0]
    if kind not in ("duckdb", "_duckdb", "py4j", "pyspark"):
        return None
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    hint = ""
    if "No space left" in str(e):
        hint = (
            ": the disk where the engine spills is full — free space there (DuckDB spills "
            "under TMPDIR) or give it more memory with --memory"
        )
    elif "Out of Memory" in str(e) or "OutOfMemory" in str(e):
        hint = ": raise --memory, or narrow the window or the accounts"
    return VigileError(f"scope: the {kind.strip('_')} engine failed ({first}){hint}")
