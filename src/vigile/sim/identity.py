"""Synthetic French identities, built from Faker `fr_FR` pools and counter-based hashing.

Faker is slow per call, so pools of names, streets and towns are drawn once per seed and
every identity is a set of indices into them, computed by hashing (seed, person) or
(seed, record).  The same person registered at several practices keeps the traits of the
person, with small variations per record: a typo, a married name, a new phone, a move.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from faker import Faker
from faker.providers.person.fr_FR import Provider as PersonProvider

from vigile.sim import rng

I64 = npt.NDArray[np.int64]
AnyInt = npt.NDArray[np.integer[Any]]

EMAIL_DOMAINS = (
    "orange.fr",
    "gmail.com",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "hotmail.fr",
    "wanadoo.fr",
    "yahoo.fr",
    "outlook.fr",
    "bbox.fr",
)
_SYLL_A = (
    "Ber",
    "Cha",
    "Dela",
    "Du",
    "Fou",
    "Gau",
    "Gil",
    "Gre",
    "Jou",
    "La",
    "Le",
    "Lou",
    "Mar",
    "Mau",
    "Mon",
    "Pe",
    "Pi",
    "Ro",
    "Sau",
    "Ta",
    "Ver",
    "Vil",
    "Bou",
    "Cour",
    "Fer",
    "Bo",
    "Cas",
    "Gar",
    "Mi",
    "Na",
    "Po",
    "Ri",
    "Val",
    "Bri",
    "Clé",
    "Dar",
    "Es",
    "Fa",
    "Ha",
)
_SYLL_B = (
    "lan",
    "ret",
    "mont",
    "ger",
    "nier",
    "chard",
    "vin",
    "det",
    "lin",
    "mar",
    "teau",
    "val",
    "rac",
    "bert",
    "guet",
    "lot",
    "chet",
    "rin",
    "sson",
    "gnon",
    "dieu",
    "baud",
    "nel",
    "zet",
    "vier",
    "quier",
    "loux",
    "ran",
    "ssac",
    "tou",
)
_SYLL_C = ("", "", "", "eau", "ier", "on", "et", "ot", "and", "ault", "in", "y", "ard", "e")


@dataclass
class Pools:
    """Name and address pools for one seed (arrays of strings plus ascii folds)."""

    surnames: list[str]
    surname_weights: npt.NDArray[np.float64]
    male: list[str]
    female: list[str]
    streets: list[str]
    towns: list[tuple[str, str]]  # (postcode, city)


def ascii_slug(text: str) -> str:
    """`Le Gall-Hervé` -> `legall-herve`."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in t.lower() if ch.isalnum() or ch == "-")


class DrawReplay:
    """`int(g.integers(n))` (0 < n < 2**32) and `g.random()` of a PCG64 Generator, the same
    values in the same sequence, computed in Python from blocks of the generator's raw
    64-bit outputs: numpy's argument checks cost ~6 us a call, the replay well under 1 us.

    numpy draws such an integer by Lemire's method on 32-bit halves of the raw outputs
    (the second half of an output kept for the next 32-bit draw), a double from the top 53
    bits of a fresh output.  The generator runs ahead of the draws: use it for nothing
    else afterwards (tests/sim/test_fast_paths.py checks the replay against numpy)."""

    def __init__(self, g: np.random.Generator, block: int = 4096) -> None:
        self._bits = g.bit_generator
        self._block = block
        self._raw: list[int] = []
        self._i = 0
        self._half: int | None = None

    def _next64(self) -> int:
        if self._i >= len(self._raw):
            self._raw = self._bits.random_raw(self._block).tolist()
            self._i = 0
        v: int = self._raw[self._i]
        self._i += 1
        return v

    def _next32(self) -> int:
        if self._half is not None:
            v, self._half = self._half, None
            return v
        v = self._next64()
        self._half = v >> 32
        return v & 0xFFFFFFFF

    def integers(self, n: int) -> int:
        """As `int(g.integers(n))`."""
        if n == 1:
            return 0  # numpy draws nothing for a single value
        m = self._next32() * n
        left = m & 0xFFFFFFFF
        if left < n:
            threshold = (0xFFFFFFFF - (n - 1)) % n
            while left < threshold:
                m = self._next32() * n
                left = m & 0xFFFFFFFF
        return m >> 32

    def random(self) -> float:
        """As `g.random()`."""
        return (self._next64() >> 11) * (1.0 / 9007199254740992.0)


def build_pools(
    seed: int, n_surnames: int = 16_000, n_streets: int = 4_000, n_towns: int = 2_500
) -> Pools:
    """Draw the pools for a seed.  Real Faker surnames come first and weigh most."""
    g = DrawReplay(rng.generator(seed, rng.STREAM_IDENTITY, 0))
    real = list(dict.fromkeys(PersonProvider.last_names))
    seen = set(real)
    synth: list[str] = []
    while len(real) + len(synth) < n_surnames:
        a = _SYLL_A[g.integers(len(_SYLL_A))]
        b = _SYLL_B[g.integers(len(_SYLL_B))]
        c = _SYLL_C[g.integers(len(_SYLL_C))]
        name = a + b + c
        if g.random() < 0.04:
            name = name + "-" + real[g.integers(len(real))]
        if name not in seen:
            seen.add(name)
            synth.append(name)
    surnames = real + synth
    ranks = np.arange(1, len(surnames) + 1, dtype=np.float64)
    w = ranks**-0.9
    w[: len(real)] *= 2.5
    w /= w.sum()
    male = list(dict.fromkeys(PersonProvider.first_names_male))
    female = list(dict.fromkeys(PersonProvider.first_names_female))
    male += [f"Jean-{m}" for m in male[:40] if "-" not in m and m != "Jean"]
    female += [f"Marie-{f}" for f in female[:40] if "-" not in f and f != "Marie"]
    female += [f"Anne-{f}" for f in female[40:60] if "-" not in f and f != "Anne"]
    fk = Faker("fr_FR")
    fk.seed_instance(seed)
    streets = list(dict.fromkeys(fk.street_name() for _ in range(n_streets)))
    towns = [(fk.postcode(), fk.city()) for _ in range(n_towns)]
    return Pools(surnames, w, male, female, streets, towns)


@dataclass
class IdentityColumns:
    """Pool indices and scalar traits for a block of patient records."""

    last: I64
    birth: I64  # -1 when the record has no birth name
    first: I64  # index in male pool when sex == 1, female pool otherwise
    sex: I64  # 1 male, 2 female
    birth_day: I64  # days since 1900-01-01
    phone: I64  # 9 digits after the leading 0
    email: I64  # -1 none, else variant number
    street: I64
    number: I64
    town: I64


def person_traits(
    seed: int, person: AnyInt, home_town: AnyInt, ref_day: int, pools: Pools
) -> IdentityColumns:
    """Base identity of persons (vectorised): what every record of a person starts from."""
    birth_name, sex, age_years, last = _person_names(seed, person, pools)
    fu = rng.hash_unit(seed, 13, person)
    nm, nf = len(pools.male), len(pools.female)
    first = np.where(sex == 1, (fu**1.6 * nm).astype(np.int64), (fu**1.6 * nf).astype(np.int64))
    birth_day = (
        ref_day - (age_years * 365.25).astype(np.int64) - rng.hash_int(seed, 15, person, 365)
    )
    mobile = rng.hash_unit(seed, 16, person) < 0.75
    prefix = np.where(
        mobile,
        np.where(rng.hash_unit(seed, 17, person) < 0.8, 6, 7),
        1 + rng.hash_int(seed, 18, person, 5),
    )
    phone = prefix * 100_000_000 + rng.hash_int(seed, 19, person, 100_000_000)
    has_mail = rng.hash_unit(seed, 20, person) < 0.62
    email = np.where(has_mail, rng.hash_int(seed, 21, person, 1000), -1)
    street = rng.hash_int(seed, 22, person, len(pools.streets))
    number = 1 + (rng.hash_unit(seed, 23, person) ** 2 * 180).astype(np.int64)
    return IdentityColumns(
        last,
        birth_name,
        first,
        sex,
        birth_day,
        phone,
        email,
        street,
        number,
        home_town.astype(np.int64),
    )


def _person_names(seed: int, person: AnyInt, pools: Pools) -> tuple[I64, I64, I64, I64]:
    """Birth name, sex (1 male, 2 female), age in years and usage last name of persons."""
    n_sur = len(pools.surnames)
    cdf = np.cumsum(pools.surname_weights)
    u = rng.hash_unit(seed, 11, person)
    birth_name = np.minimum(np.searchsorted(cdf, u), n_sur - 1).astype(np.int64)
    sex = np.where(rng.hash_unit(seed, 12, person) < 0.515, 2, 1)  # 1 male, 2 female (51.5 %)
    # age: a GP's patients follow roughly the French pyramid (0-100, older overweighted)
    age_years = _age_from_unit(rng.hash_unit(seed, 14, person))
    # married usage name for part of adult women
    married = (sex == 2) & (age_years >= 24) & (rng.hash_unit(seed, 24, person) < 0.5)
    spouse = np.minimum(np.searchsorted(cdf, rng.hash_unit(seed, 25, person)), n_sur - 1)
    last = np.where(married, spouse, birth_name).astype(np.int64)
    return birth_name, sex, age_years, last


def record_last_names(
    seed: int, person: AnyInt, record: I64, is_dup: npt.NDArray[np.bool_], pools: Pools
) -> I64:
    """Encoded last name of records: `record_variations(...).last`, without the rest."""
    birth_name, _, _, last = _person_names(seed, person, pools)
    return _record_last(seed, record, last, birth_name, is_dup)


def _record_last(seed: int, record: I64, last: I64, birth: I64, dup: npt.NDArray[np.bool_]) -> I64:
    # records often use the birth name even for married women
    married = last != birth
    use_birth = married & (rng.hash_unit(seed, 40, record) < np.where(dup, 0.35, 0.15))
    out = np.where(use_birth, birth, last)
    # typo: encoded as a negative index, resolved to a one-letter variant when written
    typo = rng.hash_unit(seed, 42, record) < np.where(dup, 0.06, 0.012)
    return np.where(typo, -(out + 1), out)


def _age_from_unit(u: npt.NDArray[np.float64]) -> I64:
    # piecewise-linear inverse CDF: 0-17 20 %, 18-39 26 %, 40-64 33 %, 65-79 14 %, 80-100 7 %
    knots_u = np.array([0.0, 0.20, 0.46, 0.79, 0.93, 1.0])
    knots_a = np.array([0.0, 18.0, 40.0, 65.0, 80.0, 101.0])
    out: I64 = np.interp(u, knots_u, knots_a).astype(np.int64)
    return out


def record_variations(
    seed: int,
    record: I64,
    base: IdentityColumns,
    is_dup: npt.NDArray[np.bool_],
    n_towns: int,
    near_town: AnyInt,
) -> IdentityColumns:
    """Per-record identity: base traits with the variations of a second registration.

    Duplicates (a person's record at another practice) get more variation than first
    registrations: typos, married vs birth name, a new phone, a move, no e-mail.
    """
    u = {k: rng.hash_unit(seed, 40 + k, record) for k in (1, 3, 4, 5, 6, 7, 8, 9)}
    dup = is_dup
    # birth name used as the last name, typos (fields 40 and 42)
    last = _record_last(seed, record, base.last, base.birth, dup)
    # records often lack the birth name column
    birth = np.where(u[1] < 0.18, -1, base.birth)
    first_typo = u[3] < np.where(dup, 0.03, 0.006)
    first = np.where(first_typo, -(base.first + 1), base.first)
    phone = np.where(
        u[4] < np.where(dup, 0.22, 0.0), base.phone + 1 + (u[5] * 7e6).astype(np.int64), base.phone
    )
    moved = u[6] < np.where(dup, 0.12, 0.0)
    town = np.where(moved, (u[7] * n_towns).astype(np.int64), near_town)
    street = np.where(moved, (u[8] * 3999).astype(np.int64), base.street)
    email = np.where(dup & (u[9] < 0.3), -1, base.email)
    # one in a hundred duplicates has day and month of birth swapped by a keying error
    bday = base.birth_day.copy()
    swap = dup & (u[9] > 0.99)
    bday = np.where(swap, bday + 31, bday)
    return IdentityColumns(
        last, birth, first, base.sex, bday, phone, email, street, base.number, town
    )


def typo_variant(name: str, key: int) -> str:
    """A one-letter keying error of `name` (deterministic for the key)."""
    if len(name) < 4:
        return name + "e"
    i = 1 + key % (len(name) - 2)
    kind = (key // 7) % 3
    if kind == 0:  # doubled letter
        return name[:i] + name[i] + name[i:]
    if kind == 1:  # dropped letter
        return name[:i] + name[i + 1 :]
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # swapped letters


@dataclass
class PoolSeries:
    """Polars views of the pools (with typo variants appended), built once per world."""

    surnames: pl.Series
    slug_surnames: pl.Series
    firsts: pl.Series
    slug_firsts: pl.Series
    n_sur: int
    n_male: int
    n_female: int
    domains: pl.Series
    towns: pl.Series
    postcodes: pl.Series
    streets: pl.Series
    csv_plain: bool  # no string empty or in need of CSV quoting

    @classmethod
    def of(cls, pools: Pools) -> PoolSeries:
        """The series for `pools` (built once per pools object)."""
        hit = _POOL_SERIES.get(id(pools))
        if hit is not None and hit[0] is pools:
            return hit[1]
        _POOL_SERIES.clear()
        ps = cls._build(pools)
        _POOL_SERIES[id(pools)] = (pools, ps)
        return ps

    @classmethod
    def _build(cls, pools: Pools) -> PoolSeries:
        sur = pools.surnames + [typo_variant(s, i) for i, s in enumerate(pools.surnames)]
        male = pools.male + [typo_variant(s, i) for i, s in enumerate(pools.male)]
        female = pools.female + [typo_variant(s, i) for i, s in enumerate(pools.female)]
        firsts = male + female
        slug_sur = [ascii_slug(s) for s in sur]
        slug_firsts = [ascii_slug(s) for s in firsts]
        plain = _csv_plain(
            sur + firsts + pools.streets + [t for pair in pools.towns for t in pair]
        ) and not any(c in s for s in slug_sur + slug_firsts for c in ',"\n\r')
        return cls(
            surnames=pl.Series(sur, dtype=pl.String),
            slug_surnames=pl.Series(slug_sur, dtype=pl.String),
            firsts=pl.Series(firsts, dtype=pl.String),
            slug_firsts=pl.Series(slug_firsts, dtype=pl.String),
            n_sur=len(pools.surnames),
            n_male=len(pools.male),
            n_female=len(pools.female),
            domains=pl.Series(list(EMAIL_DOMAINS), dtype=pl.String),
            towns=pl.Series([t[1] for t in pools.towns], dtype=pl.String),
            postcodes=pl.Series([t[0] for t in pools.towns], dtype=pl.String),
            streets=pl.Series(pools.streets, dtype=pl.String),
            csv_plain=plain,
        )

    def last_index(self, last: I64) -> I64:
        """Index in `surnames` of encoded last names (negative = typo variant)."""
        return np.where(last < 0, self.n_sur + (-last - 1), last)

    def first_index(self, first: I64, sex: I64) -> I64:
        """Index in `firsts` of encoded first names (negative = typo variant)."""
        n_own = np.where(sex == 1, self.n_male, self.n_female)
        idx = np.where(first < 0, -first - 1 + n_own, first)
        return np.where(sex == 1, idx, idx + 2 * self.n_male)


_POOL_SERIES: dict[int, tuple[Pools, PoolSeries]] = {}


def _phone_text(phone: I64) -> pl.Series | None:
    """`0X XX XX XX XX` of phone numbers below 10**9, digit by digit (None otherwise)."""
    from vigile.sim.writer import put_digits, template_matrix, text_series

    if len(phone) == 0 or int(phone.min()) < 0 or int(phone.max()) >= 1_000_000_000:
        return None
    mat = template_matrix(b"00 00 00 00 00", len(phone))
    put_digits(mat, 1, 1, phone // 100_000_000)
    low = phone % 100_000_000
    for k, row in enumerate((3, 6, 9, 12)):
        put_digits(mat, row, 2, (low // 10 ** (6 - 2 * k)) % 100)
    return text_series(mat)


def _date_text(days: I64) -> pl.Series | None:
    """`YYYY-MM-DD` of days since 1970-01-01 (None when a year has not four digits)."""
    from vigile.sim.writer import put_dates, template_matrix, text_series

    if len(days) == 0:
        return None
    mat = template_matrix(b"0000-00-00", len(days))
    return text_series(mat) if put_dates(mat, 0, days.astype(np.int64)) else None


def _identity_columns(
    ids: IdentityColumns,
    ps: PoolSeries,
    pids: I64,
    tenant_of: pl.Series,
    vip: npt.NDArray[np.bool_],
    empty: str,
) -> tuple[pl.DataFrame, list[pl.Expr]]:
    """The frame and the expressions of the patients.csv columns; `empty` is the text of
    an empty birth name or e-mail."""
    last_idx = ps.last_index(ids.last)
    f_idx = ps.first_index(ids.first, ids.sex)
    df = pl.DataFrame(
        {
            "pid": pids,
            "tenant": tenant_of,
            "last_name": ps.surnames.gather(last_idx),
            "birth_name": ps.surnames.gather(np.maximum(ids.birth, 0)),
            "has_birth": ids.birth >= 0,
            "first_name": ps.firsts.gather(f_idx),
            "male": ids.sex == 1,
            "birth_date": pl.Series((ids.birth_day - 25567).astype(np.int32)).cast(pl.Date),
            "phone": ids.phone,
            "email_n": ids.email,
            "slug_first": ps.slug_firsts.gather(f_idx),
            "slug_last": ps.slug_surnames.gather(last_idx),
            "domain": ps.domains.gather(np.abs(ids.email) % len(EMAIL_DOMAINS)),
            "number": ids.number,
            "street": ps.streets.gather(ids.street % len(ps.streets)),
            "postcode": ps.postcodes.gather(ids.town),
            "city": ps.towns.gather(ids.town),
            "vip": vip.astype(np.int8),
        }
    )
    p = pl.col("phone")

    def two(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(2)

    phone: pl.Expr = pl.format(
        "0{} {} {} {} {}",
        p // 100_000_000,
        two((p // 1_000_000) % 100),
        two((p // 10_000) % 100),
        two((p // 100) % 100),
        two(p % 100),
    )
    fast_phone = _phone_text(ids.phone)
    if fast_phone is not None:
        phone = pl.lit(fast_phone)
    birth_date: pl.Expr = pl.col("birth_date").cast(pl.String)
    fast_dates = _date_text(ids.birth_day - 25567)
    if fast_dates is not None:
        birth_date = pl.lit(fast_dates)
    email = (
        pl.when(pl.col("email_n") < 0)
        .then(pl.lit(empty))
        .when(pl.col("email_n") % 3 == 0)
        .then(pl.format("{}.{}@{}", "slug_first", "slug_last", "domain"))
        .when(pl.col("email_n") % 3 == 1)
        .then(
            pl.format(
                "{}.{}{}@{}", "slug_first", "slug_last", (pl.col("email_n") % 90 + 10), "domain"
            )
        )
        .otherwise(
            pl.format("{}{}@{}", pl.col("slug_first").str.slice(0, 1), "slug_last", "domain")
        )
    )
    return df, [
        pl.format("P{}", "pid").alias("patient_id"),
        pl.col("tenant"),
        pl.col("last_name"),
        pl.when("has_birth").then("birth_name").otherwise(pl.lit(empty)).alias("birth_name"),
        pl.col("first_name"),
        pl.when("male").then(pl.lit("M")).otherwise(pl.lit("F")).alias("sex"),
        birth_date.alias("birth_date"),
        phone.alias("phone"),
        email.alias("email"),
        pl.format("{} {}", "number", "street").alias("address"),
        pl.col("postcode"),
        pl.col("city"),
        pl.col("vip"),
    ]


PATIENT_COLUMNS = (
    "patient_id",
    "tenant",
    "last_name",
    "birth_name",
    "first_name",
    "sex",
    "birth_date",
    "phone",
    "email",
    "address",
    "postcode",
    "city",
    "vip",
)


def identity_frame(
    ids: IdentityColumns,
    ps: PoolSeries,
    pids: I64,
    tenant_of: pl.Series,
    vip: npt.NDArray[np.bool_],
) -> pl.DataFrame:
    """The patients.csv rows for a block of records (vectorised with Polars)."""
    df, exprs = _identity_columns(ids, ps, pids, tenant_of, vip, "")
    return df.select(exprs)


def _csv_plain(values: list[str]) -> bool:
    """True when no value is empty or needs quoting in CSV (as Polars writes it)."""
    return all(v and not any(c in v for c in ',"\n\r') for v in values)


def identity_lines(
    ids: IdentityColumns,
    ps: PoolSeries,
    pids: I64,
    tenant_of: pl.Series,
    vip: npt.NDArray[np.bool_],
) -> tuple[pl.Series, pl.Series] | None:
    """The patient ids and the patients.csv lines (newline included) of a block of
    records: the bytes `identity_frame(...).write_csv` writes, without the CSV writer.

    Every text of a line is a pool's string, a tenant, digits or fixed text, so when no
    pool string or tenant is empty or needs quoting, no field does but the empty birth
    names and e-mails, which Polars writes as `""`.  None when some string would."""
    if not ps.csv_plain or not _csv_plain(tenant_of.unique().to_list()):
        return None
    df, exprs = _identity_columns(ids, ps, pids, tenant_of, vip, '""')
    parts: list[pl.Expr] = []
    for e in exprs:
        parts += [e.cast(pl.String), pl.lit(",")]
    parts[-1] = pl.lit("\n")
    out = df.select(exprs[0], pl.concat_str(parts).alias("line"))
    return out.get_column("patient_id"), out.get_column("line")
