"""Person linkage: which exposed patient files are the same person (Splink).

A person registered at three practices has three files, with variations: a
married name instead of the birth name, a typo, a new phone, a move, a lost
e-mail, a day and month keyed the wrong way round. The regulator and the
people themselves count *persons*, so the exposed files are linked with
`Splink <https://moj-analytical-services.github.io/splink/>`_'s probabilistic
(Fellegi-Sunter) model, on the engine the scope runs on (DuckDB by default,
Spark at scale).

* **Traits compared** — the French identity-vigilance traits the context has:
  birth name (or used name when it is missing) and used name, first names (the
  whole and the first of a compound), sex, birth date (exact, day/month
  swapped, one keying error), birth place when a ``birth_place`` column
  exists, phone, e-mail and postcode.
* **Blocking** — the national identity-vigilance guide's own search order:
  birth date with the start of the first name; then birth name with first
  name (for a keyed-wrong birth date); then phone, e-mail, and birth date with
  birth name (for a misspelt first name). Only pairs sharing one of these keys
  are ever compared.
* **Training** — u-probabilities from random pairs, λ from a strict
  deterministic rule, m-probabilities by expectation-maximisation on two
  blocking passes (on a sample of birth dates when the input is large).
* **Clustering** — connected components of the links at or above the
  threshold (0.9 by default); each file gets the person's id, the size of its
  cluster and the strongest link that joined it (its *match confidence*).
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

import pyarrow as pa

from vigile.scope.engine import Dialect, SqlBackend

#: Link probability at or above which two files are taken for the same person.
DEFAULT_THRESHOLD: Final = 0.9
#: EM training runs on about this many files (a sample of birth dates) when there are more.
TRAIN_SAMPLE: Final = 150_000
#: Random record pairs used to estimate u-probabilities.
U_PAIRS: Final = 2_000_000
#: Below this many files, the shipped parameters are used instead of training.
MIN_TRAIN_FILES: Final = 5_000

PERSONS_SCHEMA: Final = pa.schema(
    [
        ("patient_id", pa.string()),
        ("tenant", pa.string()),
        ("person_id", pa.string()),
        ("match_probability", pa.float64()),
        ("cluster_size", pa.int64()),
    ]
)


@dataclass(frozen=True)
class LinkageStats:
    """What linkage did: files in, persons out, pairs compared and links kept."""

    files: int
    persons: int
    comparisons: int
    links: int
    threshold: float
    seconds: float
    method: str
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "persons": self.persons,
            "comparisons": self.comparisons,
            "links": self.links,
            "threshold": self.threshold,
            "seconds": round(self.seconds, 3),
            "method": self.method,
            "phases": self.phases,
        }


def prepare_sql(dialect: Dialect, source: str, columns: set[str], partitions: int = 0) -> str:
    """SQL turning identities into linkage features (one row per file, ``unique_id``);
    on Spark, spread over ``partitions`` partitions (an input read with LIMIT or from
    one file may sit in one partition, and Splink would then use one core)."""

    def fold(column: str) -> str:
        return dialect.fold_letters(column) if column in columns else "CAST(NULL AS STRING)"

    first_token = dialect.fold_letters("regexp_extract(trim(first_name), '^([^- ]+)', 1)")
    hint = f"/*+ REPARTITION({partitions}) */ " if partitions and dialect.name == "spark" else ""
    return f"""
SELECT {hint}concat(tenant, '|', patient_id) AS unique_id,
       patient_id, tenant,
       coalesce({fold("birth_name")}, {fold("last_name")}) AS birth_name_n,
       {fold("birth_name")} AS birth_name_k,
       {fold("last_name")} AS used_name_n,
       {fold("first_name")} AS first_name_n,
       {first_token} AS first_name_1,
       substr({fold("first_name")}, 1, 3) AS first_name_3,
       upper(trim(sex)) AS sex,
       CAST(birth_date AS STRING) AS birth_date,
       substr(CAST(birth_date AS STRING), 1, 4) AS birth_year,
       substr(CAST(birth_date AS STRING), 6, 5) AS birth_day,
       {fold("birth_place")} AS birth_place_n,
       {dialect.digits("phone")} AS phone_n,
       nullif(lower(trim(email)), '') AS email_n,
       nullif(trim(postcode), '') AS postcode
FROM {source}
"""


#: One keying error in an ISO birth date (both always 10 characters): one character
#: replaced, or two neighbours swapped — Damerau-Levenshtein distance 1 between strings of
#: equal length, written with native SQL (Spark's Damerau-Levenshtein is a JVM UDF from
#: Splink's jar that allocates a matrix per pair: the slowest part of Spark's scoring).
ONE_KEYING_ERROR = "levenshtein(birth_date_l, birth_date_r) <= 1 OR " + " OR ".join(
    f"concat(substr(birth_date_l, 1, {i - 1}), substr(birth_date_l, {i + 1}, 1), "
    f"substr(birth_date_l, {i}, 1), substr(birth_date_l, {i + 2})) = birth_date_r"
    for i in range(1, 10)
    if i not in (4, 5, 7, 8)  # a swap with a '-' is not a date
)


def settings(has_birth_place: bool, dialect: str = "duckdb") -> Any:
    """The Splink model: comparisons of French identity traits and blocking rules.
    ``dialect`` only changes how a level is computed, never what it means."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    swapped = (
        "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) "
        "AND substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2) "
        "AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)"
    )
    names = cl.CustomComparison(
        output_column_name="birth_name",
        comparison_levels=[
            cll.And(cll.NullLevel("birth_name_n"), cll.NullLevel("used_name_n")),
            cll.ExactMatchLevel("birth_name_n").configure(tf_adjustment_column="birth_name_n"),
            cll.CustomLevel(
                "birth_name_n_l = used_name_n_r OR used_name_n_l = birth_name_n_r "
                "OR used_name_n_l = used_name_n_r",
                label_for_charts="Birth or used name in common (marriage)",
            ),
            cll.JaroWinklerLevel("birth_name_n", 0.92),
            cll.JaroWinklerLevel("birth_name_n", 0.80),
            # a woman's files may carry her birth name in one practice and her
            # married name in another (birth name missing): a weaker disagreement
            cll.CustomLevel(
                "sex_l = 'F' AND sex_r = 'F' "
                "AND (birth_name_k_l IS NULL OR birth_name_k_r IS NULL)",
                label_for_charts="Different names, a woman's birth name missing",
            ),
            cll.ElseLevel(),
        ],
    )
    first = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name_n"),
            cll.ExactMatchLevel("first_name_n").configure(tf_adjustment_column="first_name_n"),
            cll.ExactMatchLevel("first_name_1"),
            cll.JaroWinklerLevel("first_name_n", 0.92),
            cll.ElseLevel(),
        ],
    )
    dob = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(swapped, label_for_charts="Day and month swapped"),
            cll.DamerauLevenshteinLevel("birth_date", 1)
            if dialect != "spark"
            else cll.CustomLevel(ONE_KEYING_ERROR, label_for_charts="One keying error"),
            cll.ElseLevel(),
        ],
    )
    comparisons: list[Any] = [
        names,
        first,
        dob,
        cl.ExactMatch("sex"),
        cl.ExactMatch("phone_n"),
        cl.ExactMatch("postcode"),
    ]
    if has_birth_place:
        comparisons.append(cl.ExactMatch("birth_place_n"))
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
        additional_columns_to_retain=[],
    )


#: A pair sharing a blocking key is scored only if something else agrees too: a name
#: (birth or used, or their first letters), the phone or the postcode. Namesakes born
#: the same day far apart are never scored, which keeps seed-scale linkage tractable.
_SOME_AGREEMENT = (
    "(l.birth_name_n = r.birth_name_n OR l.used_name_n = r.used_name_n"
    " OR l.birth_name_n = r.used_name_n OR l.used_name_n = r.birth_name_n"
    " OR substr(l.birth_name_n, 1, 3) = substr(r.birth_name_n, 1, 3)"
    " OR l.phone_n = r.phone_n OR l.postcode = r.postcode)"
)
#: For a birth date keyed wrong: the same month, the same day, both swapped, or contact.
_DATE_NEAR = (
    "(substr(l.birth_date, 6, 2) = substr(r.birth_date, 6, 2)"
    " OR substr(l.birth_date, 9, 2) = substr(r.birth_date, 9, 2)"
    " OR substr(l.birth_date, 6, 2) = substr(r.birth_date, 9, 2)"
    " OR l.phone_n = r.phone_n OR l.postcode = r.postcode)"
)
_YEAR_NEAR = (
    "(substr(l.birth_year, 1, 3) = substr(r.birth_year, 1, 3)"
    " OR (substr(l.birth_year, 1, 2) = substr(r.birth_year, 1, 2)"
    " AND substr(l.birth_year, 4, 1) = substr(r.birth_year, 4, 1))"
    " OR l.phone_n = r.phone_n OR l.postcode = r.postcode)"
)


def blocking_rules() -> list[Any]:
    """Pairs compared: they share one of these keys (identity-vigilance search order),
    and agree on something more (see ``_SOME_AGREEMENT``)."""
    from splink.blocking_rule_library import And, CustomRule, block_on

    return [
        # a name changed (marriage, typo): same birth date and first name
        And(block_on("birth_date", "first_name_n"), CustomRule(_SOME_AGREEMENT)),
        # a first name misspelt or shortened: same birth date and birth name
        And(block_on("birth_date", "birth_name_n"), CustomRule("l.sex = r.sex")),
        # a birth date keyed wrong: same names and year, or same names and day
        And(block_on("birth_name_n", "first_name_n", "birth_year"), CustomRule(_DATE_NEAR)),
        And(block_on("birth_name_n", "first_name_n", "birth_day"), CustomRule(_YEAR_NEAR)),
        # several traits changed at once: the same phone
        And(block_on("phone_n"), CustomRule("l.sex = r.sex")),
    ]


#: Where Splink's own messages go: vigile's logger, at INFO (not shown unless asked for).
log = logging.getLogger("vigile.scope.linkage")


class _ToVigileLog(logging.Handler):
    """Re-emits a library's log records on vigile's linkage logger, one level down
    (Splink's training notes — "level not observed", "not yet fully trained" — are
    about the model, not something the user must act on: ``summary.json`` says how
    linkage was trained)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = logging.INFO if record.levelno >= logging.WARNING else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s: %s", record.name, record.getMessage().strip())


_HANDLER = _ToVigileLog()


def route_library_logs() -> None:
    """Send Splink's (and py4j's) log records to vigile's logger instead of stderr."""
    for name in ("splink", "py4j"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)


@contextmanager
def _library_warnings() -> Iterator[None]:
    """Python warnings raised while Splink runs go to vigile's logger too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                log.info("%s: %s", w.category.__name__, str(w.message).strip())


def link_persons(
    backend: SqlBackend,
    source: str = "exposed_identities",
    *,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 42,
    sample_training: bool | None = None,
) -> LinkageStats:
    """Link the files of table ``source`` into persons; register the result as ``persons``.

    ``sample_training``: train in an embedded DuckDB on a uniform sample
    (:func:`train_on_sample`) rather than on the engine; default: on Spark only.

    ``source`` has ``patient_id, tenant`` and identity columns (INTERFACE §2
    ``patients.csv``). The table ``persons`` (:data:`PERSONS_SCHEMA`, one row per
    file) stays in the backend — millions of rows at seed scale; returns what
    linkage did. Splink's messages go to vigile's logger (``vigile.scope.linkage``).
    """
    route_library_logs()
    with _library_warnings():
        return _link_persons(backend, source, threshold, seed, sample_training)


def _link_persons(
    backend: SqlBackend, source: str, threshold: float, seed: int, sample_training: bool | None
) -> LinkageStats:
    started = mark = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 2)
        mark = now

    dialect = backend.dialect.name
    columns = {f.name for f in backend.fetch(f"SELECT * FROM {source} LIMIT 0").schema}
    partitions = _spark_partitions(backend) if dialect == "spark" else 0
    backend.materialise("linkage_input", prepare_sql(backend.dialect, source, columns, partitions))
    files = int(backend.fetch("SELECT count(*) AS n FROM linkage_input").column(0)[0].as_py())
    if files < 2:
        return _singletons(backend, files, threshold, started)
    lap("prepare")
    from splink import Linker

    db_api = _splink_api(backend)
    frame = db_api.register("linkage_input")
    model = settings("birth_place" in columns, dialect)
    linker = Linker(frame, model, log_level=None)
    if sample_training is None:
        sample_training = dialect == "spark"
    if files >= MIN_TRAIN_FILES and sample_training:
        trained = train_on_sample(backend, files, "birth_place" in columns, seed)
        apply_parameters(linker, trained, files)
        method = "trained in DuckDB on a uniform sample of the exposed files"
    elif files >= MIN_TRAIN_FILES:
        train(linker, backend, db_api, files, seed)
        method = "trained on the exposed files"
    else:
        apply_parameters(linker, shipped_parameters(), files)
        method = "shipped parameters (too few files to train)"
    lap("train")
    predictions = linker.inference.predict(threshold_match_probability=min(0.5, threshold))
    lap("predict")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    lap("cluster")
    edges = predictions.physical_name
    linked = f"match_probability >= {threshold}"
    backend.materialise(
        "persons",
        f"""
WITH best AS (
  SELECT uid, max(p) AS match_probability FROM (
    SELECT unique_id_l AS uid, match_probability AS p FROM {edges} WHERE {linked}
    UNION ALL
    SELECT unique_id_r AS uid, match_probability AS p FROM {edges} WHERE {linked}
  ) AS e GROUP BY uid
), sized AS (
  SELECT unique_id, cluster_id, count(*) OVER (PARTITION BY cluster_id) AS cluster_size
  FROM {clusters.physical_name}
)
SELECT i.patient_id, i.tenant,
       concat('PER-', substr(md5(CAST(s.cluster_id AS STRING)), 1, 12)) AS person_id,
       CASE WHEN s.cluster_size > 1 THEN b.match_probability END AS match_probability,
       s.cluster_size
FROM sized AS s
JOIN linkage_input AS i ON i.unique_id = s.unique_id
LEFT JOIN best AS b ON b.uid = s.unique_id
""",
    )
    counts = backend.fetch(
        f"SELECT (SELECT count(DISTINCT person_id) FROM persons) AS persons, "
        f"(SELECT count(*) FROM {edges}) AS comparisons, "
        f"(SELECT count(*) FROM {edges} WHERE match_probability >= {threshold}) AS links"
    ).to_pylist()[0]
    lap("persons")
    stats = LinkageStats(
        files=files,
        persons=int(counts["persons"]),
        comparisons=int(counts["comparisons"]),
        links=int(counts["links"]),
        threshold=threshold,
        seconds=time.perf_counter() - started,
        method=f"splink on {dialect}, {method}",
        phases=phases,
    )
    return stats


def train(linker: Any, backend: SqlBackend, db_api: Any, files: int, seed: int) -> None:
    """Estimate the model on the files themselves: λ, u by random pairs, m by EM."""
    from splink import Linker, block_on

    strict = [block_on("birth_name_n", "first_name_n", "birth_date", "sex")]
    linker.training.estimate_probability_two_random_records_match(strict, recall=0.85)
    linker.training.estimate_u_using_random_sampling(max_pairs=min(U_PAIRS, files * 20), seed=seed)
    trainer = linker
    if files > 2 * TRAIN_SAMPLE:
        # m-probabilities from the files of a sample of birth dates (pairs stay whole)
        share = -(-files // TRAIN_SAMPLE)
        backend.materialise(
            "linkage_sample",
            f"SELECT * FROM linkage_input WHERE abs(hash(birth_date)) % {share} = 0",
        )
        trainer = Linker(
            db_api.register("linkage_sample"), linker._settings_obj.as_dict(), log_level=None
        )
    # Each pass blocks on whole compared fields only: a pass blocked on a part of a
    # field (its first letters) would see that field agree in every pair and bias it.
    trainer.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date"), estimate_without_term_frequencies=True
    )
    trainer.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_name_n", "first_name_n"), estimate_without_term_frequencies=True
    )
    if trainer is not linker:
        trained = model_parameters(trainer, files)
        apply_parameters(linker, trained, files, probability=False, u=False)


def train_on_sample(
    backend: SqlBackend, files: int, has_birth_place: bool, seed: int
) -> dict[str, Any]:
    """Train on a uniform sample (≤ 2 × :data:`TRAIN_SAMPLE` files) of ``linkage_input``
    fetched from the engine into an embedded DuckDB; return the parameters for all
    ``files``.

    Used on Spark: training is a long series of small queries (two EM passes of up to
    25 iterations, each a Spark job whose SQL embeds the current parameters, so each is
    compiled anew), which costs Spark minutes of fixed overhead and DuckDB seconds.
    m and u probabilities do not depend on the sample; λ (the chance that two random
    files match) neither: a uniform share f of the files keeps f² of the matching pairs
    and f² of all pairs.
    """
    from splink import Linker

    from vigile.scope.engine import DuckDBBackend

    share = -(-files // (2 * TRAIN_SAMPLE))
    where = f" WHERE abs(hash(unique_id)) % {share} = 0" if share > 1 else ""
    sample = backend.fetch(f"SELECT * FROM linkage_input{where}")
    local = DuckDBBackend(memory_limit="2GB")
    try:
        local.register_arrow("linkage_input", sample)
        db_api = _splink_api(local)
        linker = Linker(db_api.register("linkage_input"), settings(has_birth_place), log_level=None)
        train(linker, local, db_api, sample.num_rows, seed)
        trained = model_parameters(linker, files)
    finally:
        local.close()
    return trained


def model_parameters(linker: Any, files: int) -> dict[str, Any]:
    """The trained parameters (λ and each level's m and u), dialect-free."""
    settings_obj = linker._settings_obj
    return {
        "files": files,
        "probability_two_random_records_match": settings_obj._probability_two_random_records_match,
        "levels": {
            c.output_column_name: {
                str(lvl.comparison_vector_value): {"m": lvl.m_probability, "u": lvl.u_probability}
                for lvl in c.comparison_levels
                if not lvl.is_null_level
            }
            for c in settings_obj.comparisons
        },
    }


def apply_parameters(
    linker: Any, params: dict[str, Any], files: int, *, probability: bool = True, u: bool = True
) -> None:
    """Set a model's parameters; λ is rescaled to the number of files linked
    (the chance that two random files match falls as 1 / files)."""
    settings_obj = linker._settings_obj
    if probability:
        scaled = (
            params["probability_two_random_records_match"]
            * (params["files"] - 1)
            / max(files - 1, 1)
        )
        settings_obj._probability_two_random_records_match = min(scaled, 0.5)
    for c in settings_obj.comparisons:
        levels = params["levels"].get(c.output_column_name, {})
        for lvl in c.comparison_levels:
            known = levels.get(str(lvl.comparison_vector_value))
            if lvl.is_null_level or not known:
                continue
            if known.get("m") is not None:
                lvl.m_probability = known["m"]
            if u and known.get("u") is not None:
                lvl.u_probability = known["u"]


@cache
def shipped_parameters() -> dict[str, Any]:
    """Parameters trained on a simulated world of ~1 M files (``persons_model.json``),
    used when too few files are exposed to train on them."""
    loaded: dict[str, Any] = json.loads(
        resources.files("vigile.scope").joinpath("persons_model.json").read_text()
    )
    return loaded


def _spark_partitions(backend: SqlBackend) -> int:
    spark = backend.spark  # type: ignore[attr-defined]
    return max(2, int(spark.conf.get("spark.sql.shuffle.partitions", "4")))


#: Splink tables that Spark would otherwise recompute at each use: the agreement
#: pattern counts are re-read by every EM iteration (up to 25 per pass).
_SPARK_CACHED = re.compile(r"__splink__agreement_pattern_counts|__splink__df_tf_.+")


def _splink_api(backend: SqlBackend) -> Any:
    if backend.dialect.name == "spark":
        from splink import SparkAPI

        class _SparkAPI(SparkAPI):
            def _break_lineage_and_repartition(
                self, spark_df: Any, templated_name: str, physical_name: str
            ) -> Any:
                if _SPARK_CACHED.fullmatch(templated_name):
                    return spark_df.cache()
                return super()._break_lineage_and_repartition(  # type: ignore[no-untyped-call]
                    spark_df, templated_name, physical_name
                )

        return _SparkAPI(spark_session=backend.spark)  # type: ignore[attr-defined,no-untyped-call]
    from splink import DuckDBAPI

    return DuckDBAPI(connection=backend.con)  # type: ignore[attr-defined]


def _singletons(backend: SqlBackend, files: int, threshold: float, started: float) -> LinkageStats:
    backend.materialise(
        "persons",
        "SELECT patient_id, tenant, concat('PER-', substr(md5(unique_id), 1, 12)) AS person_id, "
        "CAST(NULL AS DOUBLE) AS match_probability, CAST(1 AS BIGINT) AS cluster_size "
        "FROM linkage_input",
    )
    return LinkageStats(files, files, 0, 0, threshold, time.perf_counter() - started, "none")


@dataclass(frozen=True)
class LinkageQuality:
    """Pairwise precision and recall of predicted persons against true persons."""

    files: int
    persons_predicted: int
    persons_true: int
    pairs_predicted: int
    pairs_true: int
    pairs_correct: int

    @property
    def precision(self) -> float:
        return self.pairs_correct / self.pairs_predicted if self.pairs_predicted else 1.0

    @property
    def recall(self) -> float:
        return self.pairs_correct / self.pairs_true if self.pairs_true else 1.0

    @property
    def persons_error(self) -> float:
        """Relative error of the person count (+ too many persons, − too few)."""
        return self.persons_predicted / self.persons_true - 1 if self.persons_true else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "persons_predicted": self.persons_predicted,
            "persons_true": self.persons_true,
            "persons_error": round(self.persons_error, 5),
            "pairs_predicted": self.pairs_predicted,
            "pairs_true": self.pairs_true,
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
        }


def pairwise_quality(predicted: Any, truth: Any) -> LinkageQuality:
    """Compare ``predicted`` (``patient_id, person_id``) with ``truth`` (same columns),
    both Polars frames, over the files of ``predicted``."""
    import polars as pl

    both = predicted.select("patient_id", pl.col("person_id").alias("pred")).join(
        truth.select("patient_id", pl.col("person_id").alias("true")), on="patient_id", how="left"
    )
    both = both.with_columns(pl.col("true").fill_null(pl.lit("?") + pl.col("patient_id")))

    def pairs(*keys: str) -> int:
        sizes = both.group_by(list(keys)).len()["len"].cast(pl.Int64)
        return int((sizes * (sizes - 1) // 2).sum())

    return LinkageQuality(
        files=both.height,
        persons_predicted=both["pred"].n_unique(),
        persons_true=both["true"].n_unique(),
        pairs_predicted=pairs("pred"),
        pairs_true=pairs("true"),
        pairs_correct=pairs("pred", "true"),
    )
