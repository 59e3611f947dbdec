"""The regulatory report, the per-practice breach packs and the patient letters.

:func:`write_reports` turns a :class:`vigile.scope.scoping.ScopeResult` into:

* ``report.html`` / ``report.pdf`` (French) and ``report.en.html`` /
  ``report.en.pdf`` (English): GDPR art. 33(3) content, the art. 33(5)
  register entry, the ENISA severity assessment, the deadlines (72 h from
  detection, the health-sector declaration, NIS2 24 h / 72 h / 1 month), vector
  charts of the exposure over time, per practice and per category;
* ``practices/<tenant>/`` for each data controller: ``rapport.html`` (its own
  figures, deadlines, severity and register entry), ``patients.csv`` (its
  patients concerned, with contact details and which letter to send),
  ``lettre_<variant>.html`` (the art. 34 letter in plain French, one variant per
  situation) and, when there are few practices or ``--pack-pdf all``, PDFs.

Texts live in ``texts.yaml`` (fr, en), the severity scores in
``severity.yaml``; HTML goes through Jinja2 and WeasyPrint (system fonts only,
nothing fetched from the network).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import jinja2
import polars as pl
import yaml

from vigile.report import charts
from vigile.scope.sensitivity import NOTE_CATEGORIES

if TYPE_CHECKING:
    from vigile.scope.run import ScopeOptions
    from vigile.scope.scoping import ScopeResult

PARIS: Final = ZoneInfo("Europe/Paris")
#: Rows shown in the report's tables (the CSV files hold them all).
TABLE_ROWS: Final = 25
#: With ``--pack-pdf auto``, practices' PDFs are rendered up to this many practices.
AUTO_PACK_PDF: Final = 12
LETTERS: Final = ("liste", "dossier", "dossier_medical")

_MONTHS_FR: Final = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
    "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


@cache
def texts() -> dict[str, dict[str, Any]]:
    """Every sentence of the report, per language (``texts.yaml``)."""
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(
        resources.files("vigile.report").joinpath("texts.yaml").read_text()
    )
    return loaded


@cache
def severity_model() -> dict[str, Any]:
    """The ENISA scores (``severity.yaml``)."""
    loaded: dict[str, Any] = yaml.safe_load(
        resources.files("vigile.report").joinpath("severity.yaml").read_text()
    )
    return loaded


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("vigile.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


@cache
def _css() -> str:
    return resources.files("vigile.report").joinpath("templates", "style.css").read_text()


def fmt_int(n: int | None, lang: str) -> str:
    """Thousands grouped the way each language writes them (``19 923`` / ``19,923``)."""
    text = f"{int(n or 0):,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def fmt_dt(value: datetime | None, lang: str, with_time: bool = True) -> str:
    """A local (Paris) date and time, spelt out: ``12 novembre 2025 à 09:20``."""
    if value is None:
        return "—"
    local = value.astimezone(PARIS)
    if lang == "fr":
        day = f"{local.day} {_MONTHS_FR[local.month - 1]} {local.year}"
        return f"{day} à {local:%H:%M}" if with_time else day
    day = f"{local.day} {local:%B %Y}"
    return f"{day}, {local:%H:%M}" if with_time else day


@dataclass(frozen=True)
class Deadline:
    label: str
    due: str
    basis: str
    applies: str


def _deadlines(detected: datetime, lang: str, high_risk: bool) -> list[Deadline]:
    t = texts()[lang]
    notif = detected + timedelta(hours=72)
    rows = [
        Deadline(t["dl_cnil"], fmt_dt(notif, lang), t["dl_cnil_basis"], t["word_yes"]),
        Deadline(t["dl_health"], fmt_dt(detected, lang), t["dl_health_basis"], t["word_yes"]),
        Deadline(
            t["dl_persons"],
            fmt_dt(detected, lang, with_time=False) if high_risk else "—",
            t["dl_persons_basis"] if high_risk else t["dl_persons_not_required"],
            t["word_yes"] if high_risk else t["word_no"],
        ),
        Deadline(
            t["dl_nis2_early"], fmt_dt(detected + timedelta(hours=24), lang),
            t["dl_nis2_early_basis"], t["if_relevant"],
        ),
        Deadline(
            t["dl_nis2_notif"], fmt_dt(notif, lang), t["dl_nis2_notif_basis"], t["if_relevant"]
        ),
        Deadline(
            t["dl_nis2_final"], fmt_dt(notif + timedelta(days=30), lang, with_time=False),
            t["dl_nis2_final_basis"], t["if_relevant"],
        ),
    ]  # fmt: skip
    return rows


def _level(se: float) -> str:
    for row in severity_model()["levels"]:
        if se < row["below"]:
            return str(row["level"])
    return "very_high"


def _severity(files: pl.DataFrame, lang: str, clinical: Sequence[str]) -> dict[str, Any]:
    """ENISA SE = DPC × EI + CB for each population of persons, and overall."""
    model = severity_model()
    t = texts()[lang]
    ei = float(model["ease_of_identification"]["score"])
    circ = model["circumstances"]
    modified = files.height > 0 and bool((files["modifications"] > 0).any())
    cb = float(circ["confidentiality"]["score"]) + float(circ["malicious"]["score"])
    notes = [circ["confidentiality"][lang], circ["malicious"][lang]]
    if modified:
        cb += float(circ["integrity"]["score"])
        notes.append(circ["integrity"][lang])
    clinical_re = "|".join(re.escape(c) for c in clinical) or "^$"
    masks = {
        "consulted": pl.col("exposure") == "consulted",
        "extracted": pl.col("exposure") == "extracted",
        "clinical": (pl.col("exposure") == "extracted")
        & pl.col("categories").str.contains(clinical_re),
        "sensitive": pl.col("sensitive_notes") > 0,
    }
    segment_persons: dict[str, int] = _MEMO.get(
        files,
        "segments",
        lambda: {
            key: files.filter(mask)["person_id"].n_unique() if files.height else 0
            for key, mask in masks.items()
        },
    )
    rows = []
    worst = 0.0
    for key in masks:
        seg = model["segments"][key]
        persons = segment_persons[key]
        se = seg["dpc"] * ei + cb
        if persons:
            worst = max(worst, se)
        level = _level(se)
        rows.append(
            {
                "name": seg[lang]["name"],
                "why": seg[lang]["why"],
                "persons": fmt_int(persons, lang),
                "dpc": seg["dpc"],
                "ei": ei,
                "cb": cb,
                "se": f"{se:g}",
                "level": level,
                "level_text": t[f"level_{level}"],
            }
        )
    level = _level(worst)
    high = level in ("high", "very_high")
    conclusion = t["severity_conclusion_high" if high else "severity_conclusion_low"].format(
        level=t[f"level_{level}"]
    )
    return {
        "rows": rows,
        "level": level,
        "high_risk": high,
        "conclusion": conclusion,
        "circumstances": notes,
        "ei_text": model["ease_of_identification"][lang],
    }


def _new_per_day(files: pl.DataFrame) -> tuple[list[date], list[int], list[int]]:
    """Files newly exposed per local day: extracted and the rest (consulted)."""
    if files.height == 0:
        return [], [], []
    daily = (
        files.select(
            pl.col("first_exposed").dt.convert_time_zone("Europe/Paris").dt.date().alias("day"),
            (pl.col("exposure") == "extracted").alias("extracted"),
        )
        .group_by("day")
        .agg(pl.col("extracted").sum().alias("x"), (~pl.col("extracted")).sum().alias("c"))
        .sort("day")
    )
    first, last = daily["day"].min(), daily["day"].max()
    assert isinstance(first, date) and isinstance(last, date)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    by_day = {d: (int(x), int(c)) for d, x, c in daily.iter_rows()}
    return days, [by_day.get(d, (0, 0))[0] for d in days], [by_day.get(d, (0, 0))[1] for d in days]


def _category_counts(files: pl.DataFrame, categories: Sequence[str]) -> list[tuple[str, int]]:
    out = []
    for cat in [*categories, "other"]:
        n = files.filter(pl.col("categories").str.contains(rf"(^|;){re.escape(cat)}(;|$)")).height
        if n or cat != "other":
            out.append((cat, n))
    return out


def _note_counts(files: pl.DataFrame) -> list[tuple[str, int]]:
    out = []
    for cat in (*NOTE_CATEGORIES, "unspecified"):
        n = files.filter(pl.col("sensitive_categories").str.contains(rf"(^|;){cat}(;|$)")).height
        if n:
            out.append((cat, n))
    return out


def _file_counts(files: pl.DataFrame, clinical: Sequence[str]) -> dict[str, int]:
    """The headline counts of a frame of files (one pass each; 0 for no files)."""
    if not files.height:
        return dict.fromkeys(
            ("persons", "extracted", "consulted", "with_notes", "notes_served", "sensitive",
             "practices", "vip", "modified", "clinical_extracted"), 0
        )  # fmt: skip
    extracted = pl.col("exposure") == "extracted"
    row = files.select(
        pl.col("person_id").n_unique().alias("persons"),
        extracted.sum().alias("extracted"),
        (pl.col("exposure") == "consulted").sum().alias("consulted"),
        (pl.col("notes").fill_null(0) > 0).sum().alias("with_notes"),
        pl.col("notes_served").fill_null(False).sum().alias("notes_served"),
        (pl.col("sensitive_notes") > 0).sum().alias("sensitive"),
        pl.col("tenant").n_unique().alias("practices"),
        pl.col("vip").fill_null(False).sum().alias("vip"),
        (pl.col("modifications") > 0).sum().alias("modified"),
        (extracted & pl.col("categories").str.contains("|".join(clinical) or "^$"))
        .sum()
        .alias("clinical_extracted"),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def _by_tenant(files: pl.DataFrame) -> pl.DataFrame | None:
    """Per practice: files, extracted, consulted, with notes, sensitive, persons, span."""
    if not files.height:
        return None
    return (
        files.group_by("tenant")
        .agg(
            pl.len().alias("files"),
            (pl.col("exposure") == "extracted").sum().alias("extracted"),
            (pl.col("exposure") == "consulted").sum().alias("consulted"),
            (pl.col("notes").fill_null(0) > 0).sum().alias("notes"),
            (pl.col("sensitive_notes") > 0).sum().alias("sensitive"),
            pl.col("person_id").n_unique().alias("persons"),
            pl.col("first_exposed").min().alias("first"),
            pl.col("last_exposed").max().alias("last"),
        )
        .sort(["files", "tenant"], descending=[True, False])
    )


def _span(files: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """The first and last exposure of a set of files."""
    if not files.height:
        return None, None
    first, last = files["first_exposed"].min(), files["last_exposed"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    return first, last


class _FrameMemo:
    """The figures of one frame of files, computed once for all the languages of a
    report (the seed case's whole-scope frame has 10.8 M rows: each figure is a scan).
    Holds the last frame it saw; a new frame starts afresh."""

    def __init__(self) -> None:
        self._frame: pl.DataFrame | None = None
        self._values: dict[str, Any] = {}

    def get(self, files: pl.DataFrame, key: str, compute: Callable[[], Any]) -> Any:
        if self._frame is not files:
            self._frame, self._values = files, {}
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]

    def clear(self) -> None:
        self._frame, self._values = None, {}


_MEMO = _FrameMemo()


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def report_context(
    result: ScopeResult,
    summary: dict[str, Any],
    options: ScopeOptions,
    lang: str,
    files: pl.DataFrame,
    *,
    tenant: str | None = None,
    letters: list[tuple[str, str, int]] | None = None,
    other_lang: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything a report template shows, for the whole scope or one practice."""
    from vigile.scope.scoping import access_map

    t = texts()[lang]
    amap = access_map()

    def n(value: int | None) -> str:
        return fmt_int(value, lang)

    counts: dict[str, int] = _MEMO.get(files, "counts", lambda: _file_counts(files, amap.clinical))
    persons, extracted, consulted = counts["persons"], counts["extracted"], counts["consulted"]
    with_notes = counts["with_notes"]
    if "annotations" not in summary.get("context", []):
        with_notes = counts["notes_served"]
    sensitive, practices = counts["sensitive"], counts["practices"]
    scope_tables = tenant is None
    accounts = int(summary["actors_involved"])
    figures = [
        (n(files.height), t["fig_files"]),
        (n(persons), t["fig_persons"]),
        (n(extracted), t["fig_extracted"]),
        (n(consulted), t["fig_consulted"]),
        (n(with_notes), t["fig_notes"]),
        (n(sensitive), t["fig_sensitive"]),
    ]
    if scope_tables:
        figures += [
            (n(practices), t["fig_practices"]),
            (n(accounts), t["fig_accounts"]),
            (n(summary["records_returned"]), t["fig_records"]),
        ]
    first, last = _span(files)
    severity = _severity(files, lang, amap.clinical)
    detected_raw = summary.get("detected_at")
    assumed = detected_raw is None
    detected = (
        datetime.fromisoformat(str(detected_raw).replace("Z", "+00:00"))
        if detected_raw
        else datetime.fromisoformat(str(summary["generated_at"]).replace("Z", "+00:00"))
    )
    modified = counts["modified"] > 0
    nature = t["nature_text"].format(
        integrity=t["integrity_text"] if modified else "",
        events=n(summary["events_in_scope"]),
        served=n(summary["events_served"]),
        refused=n(summary["events_refused"]),
    )
    vip = counts["vip"]
    categories_persons = t["categories_persons_text"].format(
        persons=n(persons), files=n(files.height), vip=n(vip)
    )
    data_categories = [
        (t.get(f"cat_{cat}", cat), n(count))
        for cat, count in _MEMO.get(
            files, "categories", lambda: _category_counts(files, amap.category_names)
        )
    ]
    note_rows: list[tuple[str, int]] = _MEMO.get(files, "notes", lambda: _note_counts(files))
    note_categories = [(t.get(f"note_{cat}", cat), n(count)) for cat, count in note_rows]
    consequences = [t["cons_admin"], t["cons_relation"]]
    if counts["clinical_extracted"]:
        consequences.append(t["cons_clinical"])
    if sensitive:
        cats = ", ".join(t.get(f"note_{c}", c) for c, _ in note_rows)
        consequences.append(t["cons_sensitive"].format(n=n(sensitive), cats=cats))
    if vip:
        consequences.append(t["cons_vip"])

    days, dark, light = _MEMO.get(files, "per_day", lambda: _new_per_day(files))
    chart_list = [
        charts.stacked_days(
            days,
            dark,
            light,
            title=t["chart_days"],
            dark_label=t["extracted"],
            light_label=t["consulted"],
            lang=lang,
        )
    ]
    by_tenant: pl.DataFrame | None = _MEMO.get(files, "by_tenant", lambda: _by_tenant(files))
    if scope_tables and by_tenant is not None and by_tenant.height > 1:
        top = by_tenant.head(TABLE_ROWS)
        chart_list.append(
            charts.horizontal_bars(
                top["tenant"].to_list(),
                [int(v) for v in top["extracted"]],
                [int(v) for v in (top["files"] - top["extracted"])],
                title=t["chart_practices"]
                + (f" (top {TABLE_ROWS})" if by_tenant.height > TABLE_ROWS else ""),
                dark_label=t["extracted"],
                light_label=t["consulted"],
                lang=lang,
            )
        )
    cat_counts: list[tuple[str, int]] = _MEMO.get(
        files, "categories", lambda: _category_counts(files, amap.category_names)
    )
    chart_list.append(
        charts.horizontal_bars(
            [t.get(f"cat_{c}", c) for c, _ in cat_counts],
            [v for _, v in cat_counts],
            title=t["chart_categories"],
            label_width=300,
            lang=lang,
        )
    )
    if note_rows:
        chart_list.append(
            charts.horizontal_bars(
                [t.get(f"note_{c}", c) for c, _ in note_rows],
                [v for _, v in note_rows],
                title=t["chart_sensitive"],
                label_width=300,
                lang=lang,
            )
        )

    practices_block = None
    if scope_tables and by_tenant is not None:
        rows = [
            {
                "tenant": r["tenant"], "files": n(r["files"]), "extracted": n(r["extracted"]),
                "consulted": n(r["consulted"]), "notes": n(r["notes"]),
                "sensitive": n(r["sensitive"]), "persons": n(r["persons"]),
                "first": fmt_dt(r["first"], lang), "last": fmt_dt(r["last"], lang),
            }
            for r in by_tenant.head(TABLE_ROWS).iter_rows(named=True)
        ]  # fmt: skip
        more = by_tenant.height - len(rows)
        practices_block = {
            "rows": rows,
            "more": t["more_rows"].format(n=n(more), file="tables/by_tenant.csv")
            if more > 0
            else "",
        }
    accounts_block = None
    if scope_tables:
        actors = _frame(result.by_actor)
        rows = [
            {
                "actor": r["actor"], "tenant": r["tenant"], "events": n(r["events"]),
                "refused": n(r["refused"]), "patients": n(r["patients"]),
                "extracted": n(r["patients_extracted"]), "sessions": n(r["sessions"]),
                "sources": n(r["sources"]), "first": fmt_dt(r["first_event"], lang),
                "last": fmt_dt(r["last_event"], lang),
            }
            for r in actors.head(TABLE_ROWS).iter_rows(named=True)
        ]  # fmt: skip
        more = actors.height - len(rows)
        accounts_block = {
            "rows": rows,
            "more": t["more_rows"].format(n=n(more), file="tables/by_actor.csv")
            if more > 0
            else "",
        }

    linkage = result.linkage
    if linkage is not None and files.height:
        sizes = _MEMO.get(files, "cluster_sizes", lambda: files.group_by("person_id").len()["len"])
        persons_text = t["persons_text"].format(
            files=n(files.height), persons=n(persons), threshold=linkage.threshold
        )
        dist = t["persons_dist"].format(
            one=n(int((sizes == 1).sum())),
            two=n(int((sizes == 2).sum())),
            more=n(int((sizes >= 3).sum())),
        )
    else:
        persons_text, dist = t["persons_none"], ""

    match = options.selection.match
    method_match = t[f"method_match_{match}"].format(
        attributed=n(files.filter(pl.col("attributed")).height if files.height else 0)
    )
    notes_info = result.notes
    method_notes = t["method_notes"].format(detail=notes_info.detail if notes_info else "—")
    sel = options.selection
    account_names = ", ".join(
        (f"{a.tenant}/" if a.tenant else "") + a.actor for a in sel.accounts[:8]
    ) + (f" (+{len(sel.accounts) - 8})" if len(sel.accounts) > 8 else "")
    window = f"{fmt_dt(sel.since, lang)} → {fmt_dt(sel.until, lang) if sel.until else '…'}"
    register = [
        (t["reg_ref"], (sel.incident or "—") + (f" / {tenant}" if tenant else "")),
        (t["reg_dates"], f"{fmt_dt(first, lang)} → {fmt_dt(last, lang)}"),
        (t["reg_discovery"], fmt_dt(detected, lang)),
        (t["reg_nature"], nature),
        (t["reg_data"], "; ".join(f"{label} ({v})" for label, v in data_categories)),
        (t["reg_people"], n(persons)),
        (t["reg_records"], n(files.height)),
        (t["reg_consequences"], " ".join(consequences)),
        (t["reg_measures"], " ".join(t["measures"])),
        (t["reg_cnil"], t["reg_to_fill"]),
        (
            t["reg_persons"],
            t["reg_persons_value_high" if severity["high_risk"] else "reg_persons_value_low"],
        ),
    ]
    return {
        "lang": lang,
        "t": t,
        "css": _css(),
        "other_lang": other_lang,
        "pack": {"tenant": tenant, "letters": letters or []} if tenant else None,
        "notes": {"placeholder": bool(notes_info and notes_info.placeholder)},
        "meta": {
            "organisation": options.organisation,
            "contact": options.contact,
            "incident": sel.incident,
            "accounts": f"{account_names} — {window}",
            "generated": fmt_dt(
                datetime.fromisoformat(str(summary["generated_at"]).replace("Z", "+00:00")), lang
            ),
        },
        "figures": figures,
        "period": {"first": fmt_dt(first, lang), "last": fmt_dt(last, lang)},
        "deadlines": {
            "detected": fmt_dt(detected, lang),
            "assumed": assumed,
            "rows": _deadlines(detected, lang, severity["high_risk"]),
        },
        "nature": nature,
        "categories_persons": categories_persons,
        "data_categories": data_categories,
        "note_categories": note_categories,
        "consequences": consequences,
        "severity": severity,
        "charts": chart_list,
        "practices": practices_block,
        "accounts": accounts_block,
        "persons": {"text": persons_text, "dist": dist},
        "method_match": method_match,
        "method_notes": method_notes,
        "register": register,
    }


def render(template: str, context: dict[str, Any]) -> str:
    """Render one of ``templates/``."""
    return _env().get_template(template).render(**context)


def write_pdf(html: str, path: Path, base: Path) -> Path:
    """HTML → PDF with WeasyPrint (SVG stays vector; system fonts; no network)."""
    import logging

    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # without Debian's libharfbuzz-subset0 fonts are embedded whole (bigger PDFs)
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        weasyprint.HTML(string=html, base_url=str(base), url_fetcher=_no_network).write_pdf(path)
    return path


def _no_network(url: str, timeout: int = 10, ssl_context: Any = None) -> dict[str, Any]:
    """Refuse anything but local files: a report never fetches from the network."""
    if not url.startswith("file:"):
        raise ValueError(
            f"vigile's report fetches nothing from the network ({url.split(':', maxsplit=1)[0]})"
        )
    import weasyprint

    result: dict[str, Any] = weasyprint.default_url_fetcher(
        url, timeout=timeout, ssl_context=ssl_context
    )
    return result


def write_reports(
    out: Path,
    result: ScopeResult,
    summary: dict[str, Any],
    options: ScopeOptions,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the report in each language, and one pack per practice."""
    say = progress or (lambda _msg: None)
    files = result.report_frame()
    written: list[Path] = []
    langs = [lang for lang in options.languages if lang in texts()]
    for lang in langs:
        name = "report.html" if lang == "fr" else f"report.{lang}.html"
        other = [x for x in langs if x != lang]
        other_lang = (
            {
                "href": "report.html" if other[0] == "fr" else f"report.{other[0]}.html",
                "name": texts()[other[0]]["lang_name"],
            }
            if other
            else None
        )
        html = render(
            "report.html.j2",
            report_context(result, summary, options, lang, files, other_lang=other_lang),
        )
        (out / name).write_text(html, encoding="utf-8")
        written.append(out / name)
        if options.pdf:
            say(f"rendering {name[:-5]}.pdf")
            written.append(write_pdf(html, out / f"{name[:-5]}.pdf", out))
    tenants = files["tenant"].n_unique() if files.height else 0
    _MEMO.clear()
    del files
    written += write_packs(out, result, summary, options, tenants, progress=say)
    return written


def _letter(
    practice: str, variant: str, summary: dict[str, Any], options: ScopeOptions, files: pl.DataFrame
) -> str:
    first, last = _span(files)
    detected_raw = summary.get("detected_at") or summary["generated_at"]
    detected = datetime.fromisoformat(str(detected_raw).replace("Z", "+00:00"))
    return render(
        "letter.fr.html.j2",
        {
            "css": _css(),
            "practice": practice,
            "practice_name": f"Cabinet {practice}",
            "variant": variant,
            "place_date": "[Lieu], le " + fmt_dt(datetime.now(UTC), "fr", with_time=False),
            "first_day": fmt_dt(first, "fr", with_time=False),
            "last_day": fmt_dt(last, "fr", with_time=False),
            "detected_day": fmt_dt(detected, "fr", with_time=False),
            "contact": options.contact
            or "[coordonnées du cabinet et du délégué à la protection des données]",
        },
    )


PACK_PATIENT_COLUMNS: Final = [
    "patient_id", "person_id", "last_name", "birth_name", "first_name", "sex", "birth_date",
    "address", "postcode", "city", "phone", "email", "exposure", "categories",
    "sensitive_notes", "sensitive_categories", "first_exposed", "last_exposed", "accesses",
    "letter",
]  # fmt: skip


def write_packs(
    out: Path,
    result: ScopeResult,
    summary: dict[str, Any],
    options: ScopeOptions,
    tenants: int,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> list[Path]:
    """One folder per practice (data controller) under ``practices/``; the files of
    one practice at a time are streamed from the engine (bounded memory).

    With many practices the packs are written by ``workers`` processes (default:
    :func:`pack_workers`) while this one streams the practices' files from the
    engine; the output is the same as with one process, in the same order."""
    say = progress or (lambda _msg: None)
    if not tenants:
        return []
    pdf = options.pdf and (
        options.pack_pdf == "all" or (options.pack_pdf == "auto" and tenants <= AUTO_PACK_PDF)
    )
    workers = pack_workers(tenants) if workers is None else workers
    say(
        f"writing {tenants:,} practice packs"
        + (" with PDFs" if pdf else "")
        + (f" ({workers} processes)" if workers > 1 else "")
    )
    # the packs read only the fetched tables: the engine stays here (it does not pickle)
    detached = replace(result, backend=None)  # type: ignore[arg-type]
    job = _PackJob(out, detached, summary, _picklable(options), pdf)
    if workers <= 1:
        return [path for tenant, files in result.tenant_frames() for path in job(tenant, files)]
    written: list[Path] = []
    pending: deque[Future[list[Path]]] = deque()
    spawn = multiprocessing.get_context("spawn")  # never fork a process running engine threads
    with ProcessPoolExecutor(workers, spawn, initializer=_pack_init, initargs=(job,)) as pool:
        for tenant, files in result.tenant_frames():
            pending.append(pool.submit(_pack_in_worker, tenant, files))
            while len(pending) > 2 * workers:  # bounded: a few practices in flight
                written += pending.popleft().result()
        while pending:
            written += pending.popleft().result()
    return written


#: Practices from which packs are written by several processes (below, starting
#: them costs more than it saves).
PARALLEL_PACKS: Final = 64


def pack_workers(tenants: int) -> int:
    """Processes writing the packs: one per core up to 4, from :data:`PARALLEL_PACKS`
    practices on; ``VIGILE_PACK_WORKERS`` overrides (1: in this process)."""
    forced = os.environ.get("VIGILE_PACK_WORKERS", "").strip()
    if forced:
        return max(1, int(forced))
    if tenants < PARALLEL_PACKS:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def _picklable(options: ScopeOptions) -> ScopeOptions:
    """The options a pack reads (a parser's options object may hold open things)."""
    return replace(options, parser_options=None)


@dataclass(frozen=True)
class _PackJob:
    """Writes one practice's pack: what every pack shares, sent once to each worker."""

    out: Path
    result: ScopeResult  # without its backend: the packs read only fetched tables
    summary: dict[str, Any]
    options: ScopeOptions
    pdf: bool

    def __call__(self, tenant: str, files: pl.DataFrame) -> list[Path]:
        return _write_pack(self, tenant, files)


#: A worker process's job, set once by :func:`_pack_init`.
_WORKER_JOB: dict[str, _PackJob] = {}


def _pack_init(job: _PackJob) -> None:
    _WORKER_JOB["job"] = job


def _pack_in_worker(tenant: str, files: pl.DataFrame) -> list[Path]:
    return _WORKER_JOB["job"](tenant, files)


def _write_pack(job: _PackJob, tenant: str, files: pl.DataFrame) -> list[Path]:
    from vigile.scope.run import write_csv

    result, summary, options, pdf = job.result, job.summary, job.options, job.pdf
    written: list[Path] = []
    part = files.with_columns(
        pl.lit(None, pl.String).alias(col)
        for col in PACK_PATIENT_COLUMNS
        if col not in files.columns
    )
    folder = job.out / "practices" / _safe_name(tenant)
    folder.mkdir(parents=True, exist_ok=True)
    written.append(
        write_csv(
            part.select(PACK_PATIENT_COLUMNS).sort("last_name", "first_name", "patient_id"),
            folder / "patients.csv",
        )
    )
    letters = []
    for variant in LETTERS:
        count = part.filter(pl.col("letter") == variant)["person_id"].n_unique()
        if not count:
            continue
        html = _letter(tenant, variant, summary, options, part)
        path = folder / f"lettre_{variant}.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
        if pdf:
            written.append(write_pdf(html, path.with_suffix(".pdf"), folder))
        letters.append((path.name, texts()["fr"][f"letter_{variant}"], count))
    context = report_context(result, summary, options, "fr", part, tenant=tenant, letters=letters)
    html = render("report.html.j2", context)
    (folder / "rapport.html").write_text(html, encoding="utf-8")
    written.append(folder / "rapport.html")
    if pdf:
        written.append(write_pdf(html, folder / "rapport.pdf", folder))
    return written


def _safe_name(tenant: str) -> str:
    """A practice id as a folder name (nothing that walks out of practices/)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", tenant).strip("._")
    return cleaned or "_"
