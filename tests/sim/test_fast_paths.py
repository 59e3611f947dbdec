"""The simulator's fast paths give exactly what the plain formulations give."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from vigile.sim import rng
from vigile.sim.batch import EventBatch, Kind, Tables
from vigile.sim.clock import local_midnight_ms, offset_minutes
from vigile.sim.config import SimConfig
from vigile.sim.generate import time_order
from vigile.sim.traffic import (
    SEARCH,
    Agenda,
    PracticeDay,
    _times_in_blocks,
    search_many,
    search_results,
)
from vigile.sim.world import build_world, stable_argsort_float
from vigile.sim.writer import (
    Renderer,
    head_text,
    offset_text,
    text_parts,
    ts_expr,
    ts_text,
)


def test_when_a_generator_is_built_then_it_is_the_default_rng_stream() -> None:
    for coords in [(2, 5, 1003), (7,), (3, 0, 12, 99)]:
        for seed in (0, 1, 2**40 + 17):
            a = rng.generator(seed, *coords)
            b = np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32, *coords])
            assert a.bit_generator.state == b.bit_generator.state


def test_when_times_are_drawn_in_blocks_then_they_match_a_weighted_choice() -> None:
    for seed in range(300):
        r = np.random.default_rng(seed + 1000)
        blocks = [(480, 480 + int(r.integers(1, 300)))]
        if seed % 3:
            blocks.append((840, 840 + int(r.integers(1, 300))))
        k = int(r.integers(1, 30))
        g1, g2 = np.random.default_rng(seed), np.random.default_rng(seed)
        got = _times_in_blocks(g1, 0, blocks, k)
        lens = np.asarray([e - s for s, e in blocks], dtype=np.float64)
        which = g2.choice(len(blocks), size=k, p=lens / lens.sum())
        starts = np.asarray([s for s, _ in blocks], dtype=np.int64)[which]
        want = (starts * 60 + (g2.random(k) * lens[which] * 60).astype(np.int64)) * 1000
        assert got.tolist() == want.tolist()
        assert g1.bit_generator.state == g2.bit_generator.state


def test_when_timestamps_are_written_digit_by_digit_then_they_match_strftime() -> None:
    # around both daylight-saving changes of 2026, over several years, and pre-1970
    base = [
        dt.datetime(2026, 3, 29, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 0, 0, tzinfo=dt.UTC),
        dt.datetime(1969, 12, 31, 23, 0, tzinfo=dt.UTC),
    ]
    r = np.random.default_rng(4)
    ts = np.concatenate(
        [int(b.timestamp() * 1000) + r.integers(0, 4 * 3_600_000, 500) for b in base]
        + [r.integers(0, 4_000_000_000_000, 2000)]
    ).astype(np.int64)
    off = offset_minutes(ts)
    off[:7] = [-570, -60, 0, 345, 840, -1, 59]  # any offset, not only Paris'
    local = ts + off * 60_000
    want = (
        pl.DataFrame({"local": local, "off": offset_text(off)})
        .select(ts_expr("local", "off"))
        .to_series()
    )
    assert ts_text(local, off).to_list() == want.to_list()
    head = head_text(local, off, 999_999_990_000).to_list()
    assert head[0] == '{"ts":"' + want[0] + '","event_id":"ev-999999990000",'
    assert [h[7:36] for h in head] == want.to_list()
    # event numbers past twelve digits and years past 9999 take the general path
    big = head_text(local[:3], off[:3], 10**12 - 1).to_list()
    assert big[1].endswith('"event_id":"ev-1000000000000",')
    far = np.array([300_000_000_000_000], dtype=np.int64)
    assert ts_text(far, np.array([60])).to_list() == (
        pl.DataFrame({"local": far, "off": offset_text(np.array([60]))})
        .select(ts_expr("local", "off"))
        .to_series()
        .to_list()
    )


def test_when_lines_are_taken_from_string_buffers_then_they_are_the_whole_text() -> None:
    s = pl.Series(["x" * (20 + i % 50) + "\n" for i in range(100_000)])
    assert b"".join(text_parts(s)) == "".join(s.to_list()).encode()
    short = pl.Series(["a\n", "bb\n", "é" * 30 + "\n"])  # inline views take the other path
    assert b"".join(text_parts(short)) == b"a\nbb\n" + ("é" * 30 + "\n").encode()


def _schedule_batch(lkey: int | None) -> tuple[Tables, EventBatch]:
    t = Tables(3)
    t.tenants, t.actors = ["cab-0001"], ["dr.a.0001"]
    sid = t.new_session()
    ip, ua = t.ip("1.1.1.1"), t.ua("MedPratic/7.4.2 (Windows NT 10.0; Win64)")
    b = EventBatch()
    lists = [[5, 6, 7], [5, 6], [5, 6, 7], [8, 9], [5, 6, 7, 8], [8, 9]]
    counts = np.array([len(x) for x in lists])
    keys = np.array([10, 11, 10, 12, 13, 12]) if lkey is None else lkey
    b.add(
        1_762_000_000_000 + np.arange(len(lists)) * 1000,
        Kind.LIST_APPOINTMENT,
        0,
        0,
        sid,
        ip,
        ua,
        10_000_000 + np.concatenate([np.array(x) for x in lists]),
        counts=counts,
        lkey=keys,
    )
    # unkeyed lists alongside, some equal to keyed ones
    b.add(
        1_762_000_000_500 + np.arange(3) * 1000,
        Kind.SEARCH_PATIENT,
        0,
        0,
        sid,
        ip,
        ua,
        10_000_000 + np.array([5, 6, 7, 1, 2, 5, 6, 7]),
        counts=np.array([3, 2, 3]),
    )
    return t, b


def test_when_lists_carry_keys_then_the_lines_equal_those_of_unkeyed_lists() -> None:
    t1, keyed = _schedule_batch(None)
    t2, plain = _schedule_batch(-1)
    off = np.full(9, 60)
    a = Renderer(t1, 1).render(keyed.columns(), off, 1)
    b = Renderer(t2, 1).render(plain.columns(), off, 1)
    assert a == b
    assert b'"patient_ids":["P10000005","P10000006","P10000007"],"records":3' in a


def test_when_searches_run_together_then_results_match_one_by_one(
    tiny_config: Callable[[int], SimConfig],
) -> None:
    world = build_world(tiny_config(3))
    SEARCH.build(world)
    for p in range(len(world.practices)):
        for t in (0, 3, 6):
            date = world.start + dt.timedelta(days=t)
            ctx = PracticeDay(
                world,
                p,
                t,
                date,
                local_midnight_ms(date),
                Tables(3),
                EventBatch(),
                rng.generator(3, 9, p, t),
                Agenda(world, p),
            )
            prefixes = ["", "a", "ma", "mar", "zzzz", "du", "le", "b", "ber"]
            for canaries in (False, True):
                for cap in (1, 5, 20, 10_000):
                    counts, values = search_many(ctx, prefixes, cap, canaries)
                    one = [search_results(ctx, x, cap, canaries) for x in prefixes]
                    assert counts.tolist() == [len(x) for x in one]
                    assert values.tolist() == np.concatenate(one).tolist()


def test_when_prefix_ranges_are_searched_together_then_they_match_bisect(
    tiny_config: Callable[[int], SimConfig],
) -> None:
    world = build_world(tiny_config(4))
    SEARCH.build(world)
    r = random.Random(4)
    prefixes = ["", "a", "zzzz", "-", "~", "la-", "de-la"]
    for slug in r.sample(SEARCH.pool_slugs, 400):
        prefixes += [slug[:k] for k in range(1, 8)]
    got = SEARCH.prefix_ranges(prefixes).tolist()
    want = [list(SEARCH.prefix_range(x)) for x in prefixes]
    assert got == want
    assert any(hi - lo > 1 for lo, hi in got)


def test_when_templates_are_expanded_from_their_parsed_form_then_text_and_draws_match() -> None:
    from vigile.sim import notes

    templates = [
        *notes.ADMIN,
        *notes.NEGATED,
        *[t for ts in notes.CLINICAL.values() for t in ts],
        *[t for ts in notes.FAMILY.values() for t in ts],
        "[a|b [c|d {party}]] e {nope} { [x|[y|z]]",
    ]
    for seed in range(40):
        r1, r2 = random.Random(seed), random.Random(seed)
        for tpl in templates:
            assert notes.expand(tpl, r1) == notes.expand_tokens(tpl, r2)
        assert r1.random() == r2.random()


def test_when_phones_and_birth_dates_are_written_digit_by_digit_then_they_match_polars() -> None:
    from vigile.sim.identity import _date_text, _phone_text

    r = np.random.default_rng(8)
    phone = r.integers(0, 1_000_000_000, 5000)
    p = pl.col("p")

    def two(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(2)

    want = pl.DataFrame({"p": phone}).select(
        pl.format(
            "0{} {} {} {} {}",
            p // 100_000_000,
            two((p // 1_000_000) % 100),
            two((p // 10_000) % 100),
            two((p // 100) % 100),
            two(p % 100),
        )
    )
    got = _phone_text(phone)
    assert got is not None and got.to_list() == want.to_series().to_list()
    assert _phone_text(np.array([1_000_000_000])) is None
    days = r.integers(-30_000, 30_000, 5000)
    dates = _date_text(days)
    want_d = pl.Series(days.astype(np.int32)).cast(pl.Date).cast(pl.String)
    assert dates is not None and dates.to_list() == want_d.to_list()
    assert _date_text(np.array([-800_000])) is None  # year 0-999: Polars' own format


def test_when_keys_are_hashed_in_place_then_values_match_the_plain_splitmix() -> None:
    m1, m2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
    golden = np.uint64(0x9E3779B97F4A7C15)

    def plain_mix(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            z = x + golden
            z = (z ^ (z >> np.uint64(30))) * m1
            z = (z ^ (z >> np.uint64(27))) * m2
            return z ^ (z >> np.uint64(31))

    keys = np.concatenate([np.arange(-50, 5000, dtype=np.int64), [2**62, -(2**62)]])
    x = keys.astype(np.uint64)
    kept = x.copy()
    assert np.array_equal(rng.mix(x), plain_mix(x))
    assert np.array_equal(x, kept)  # the argument is not modified
    for seed, field in [(0, 13), (42, 214), (2**40 + 17, 7)]:
        base = plain_mix(np.array([(seed * 1_000_003 + field) & (2**64 - 1)], dtype=np.uint64))[0]
        h = plain_mix(keys.astype(np.uint64) ^ base)
        assert np.array_equal(rng.hash_u64(seed, field, keys), h)
        unit = (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        assert np.array_equal(rng.hash_unit(seed, field, keys), unit)
        assert np.array_equal(rng.hash_int(seed, field, keys, 97), (unit * 97).astype(np.int64))


def test_when_keys_are_sorted_by_the_fast_paths_then_the_order_is_the_stable_one() -> None:
    g = np.random.default_rng(3)
    for n in (0, 1, 2, 1000, 50_000):
        ts = 1_700_000_000_000 + g.integers(0, 5_000, size=n)  # many ties
        assert np.array_equal(time_order(ts), np.argsort(ts, kind="stable"))
        x = -(3000 * g.random(n) ** 0.7)
        assert np.array_equal(stable_argsort_float(x), np.argsort(x, kind="stable"))
        tied = np.round(x, 0)  # ties: the stable order still
        assert np.array_equal(stable_argsort_float(tied), np.argsort(tied, kind="stable"))
    # a tie across the million-value chunks of the check
    x = np.arange((1 << 20) + 10, dtype=np.float64)[::-1].copy()
    x[len(x) - (1 << 20) - 1] = x[len(x) - (1 << 20)]
    assert np.array_equal(stable_argsort_float(x), np.argsort(x, kind="stable"))


def test_when_dates_are_computed_whole_array_then_they_match_isoformat() -> None:
    from vigile.sim.writer import _date_table

    epoch = dt.date(1970, 1, 1)
    for d0, n in [(-354_000, 2000), (-30_000, 40_000), (2_900_000, 3000), (0, 1), (20_000, 3)]:
        want = b"".join((epoch + dt.timedelta(days=d0 + k)).isoformat().encode() for k in range(n))
        assert np.ascontiguousarray(_date_table(d0, n).T).tobytes() == want


def test_when_draws_are_replayed_from_raw_bits_then_they_match_numpy() -> None:
    from vigile.sim.identity import DrawReplay

    for seed in (0, 3, 42):
        g = rng.generator(seed, rng.STREAM_IDENTITY, 0)
        replay = DrawReplay(rng.generator(seed, rng.STREAM_IDENTITY, 0), block=64)
        sizes = [39, 30, 14, 1, 2, 7, 3_000_000_000, 1000, 2**32 - 1]
        for k in range(6000):
            if k % 5 == 4:
                assert replay.random() == g.random()
            else:
                n = sizes[k % len(sizes)]
                assert replay.integers(n) == int(g.integers(n))


def test_when_patient_lines_are_joined_then_they_are_the_csv_writer_bytes() -> None:
    from vigile.sim.identity import (
        PoolSeries,
        identity_frame,
        identity_lines,
        person_traits,
        record_variations,
    )

    world = build_world(SimConfig(preset="small", seed=5, days=2, practices=3))
    ps = PoolSeries.of(world.pools)
    tenants = pl.Series([p.tenant for p in world.practices])
    ref_day = (world.start - dt.date(1900, 1, 1)).days
    a, b = 0, min(len(world.pid), 20_000)
    base = person_traits(5, world.person[a:b], world.home_town[a:b], ref_day, world.pools)
    ids = record_variations(
        5, world.pid[a:b], base, world.is_dup[a:b], len(world.pools.towns), world.home_town[a:b]
    )
    tenant_of = tenants.gather(world.practice_of[a:b])
    vip = np.arange(b - a) % 7 == 0
    df = identity_frame(ids, ps, world.pid[a:b], tenant_of, vip)
    fast = identity_lines(ids, ps, world.pid[a:b], tenant_of, vip)
    assert fast is not None
    pids, lines = fast
    assert pids.to_list() == df.get_column("patient_id").to_list()
    assert b"".join(text_parts(lines)) == df.write_csv(include_header=False).encode()
    assert '""' in df.write_csv(include_header=False)  # empty birth names and e-mails met
    odd = pl.Series(["cab,1"]).gather(np.zeros(b - a, dtype=np.int64))
    assert identity_lines(ids, ps, world.pid[a:b], odd, vip) is None


def test_when_arrow_data_skips_the_pandas_check_then_it_is_the_same(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vigile.sim.writer import ParquetSink, _int64_array

    v = np.array([0, 3, -7, 2**40], dtype=np.int64)
    assert _int64_array(v).equals(pa.array(v))
    assert _int64_array(v[::2]).equals(pa.array(v[::2]))
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.int32())])
    df = pl.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [4, 5, 6]})
    for name, data in [("fast", df.to_arrow()), ("plain", df.to_dict(as_series=False))]:
        sink = ParquetSink(tmp_path / f"{name}.parquet", schema)
        sink.write(data)
        sink.close()
    fast, plain = (
        pq.read_table(tmp_path / "fast.parquet"),
        pq.read_table(tmp_path / "plain.parquet"),
    )
    assert fast.schema == plain.schema == schema and fast.equals(plain)
    assert pa.table(df.to_arrow(), schema=schema).equals(fast)
