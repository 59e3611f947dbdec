"""numpy ↔ Arrow without pandas, and the store's string order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import event
from vigile.store.arrays import bools, mask, numbers, numpy_of, strings
from vigile.store.parquet import string_order

ROOT = Path(__file__).resolve().parents[2]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(["a", "b", "P", "0", "9", "\x00", "é", "€"]), max_size=20)
    ),
    st.integers(0, 3),
)
def test_when_strings_are_ordered_then_the_order_is_arrows_stable_sort(
    values: list[str], skip: int
) -> None:
    array = pa.array(values, pa.string()).slice(min(skip, len(values)))
    assert string_order(array).tolist() == pc.sort_indices(array).to_pylist()


def test_when_strings_are_all_one_length_then_the_order_is_arrows_too() -> None:
    rng = np.random.default_rng(5)
    values = [f"P{n:08d}" for n in rng.integers(0, 10**8, 5000)] * 2
    array = pa.array(values, pa.string())
    assert string_order(array).tolist() == pc.sort_indices(array).to_pylist()


def test_when_arrays_cross_between_numpy_and_arrow_then_values_are_kept() -> None:
    flags = np.array([True, False, True, True, False, False, False, False, True, False])
    assert bools(flags).to_pylist() == flags.tolist()
    with_nulls = pa.array([True, None, False, True, True, None, True, False, True])
    for sliced in (with_nulls, with_nulls.slice(1), with_nulls.slice(3, 5)):
        assert mask(sliced).tolist() == [bool(x) for x in sliced.to_pylist()]
    assert numbers(np.arange(5), pa.int16()).to_pylist() == [0, 1, 2, 3, 4]
    instants = numbers(np.array([0, 1_000_000]), pa.timestamp("us", tz="UTC"))
    assert numpy_of(instants).tolist() == [0, 1_000_000]
    assert numpy_of(pa.array([4, 5, 6, 7]).slice(2)).tolist() == [6, 7]
    assert numpy_of(pa.chunked_array([[1, 2], [3]])).tolist() == [1, 2, 3]
    assert strings(["a", "bé", ""]).to_pylist() == ["a", "bé", ""]


def test_when_clean_lines_are_ingested_then_pandas_is_never_imported(tmp_path: Path) -> None:
    # pa.array(), .to_numpy() and compute calls on Python values import pandas (0.2 CPU-s)
    lines = [orjson.dumps(event(event_id=f"e{i}", patient_ids=[f"P{i % 7}"])) for i in range(300)]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    script = (
        "import sys\n"
        "from vigile.cli import main\n"
        f"sys.argv = ['vigile', 'ingest', '-e', {str(tmp_path / 'in.jsonl')!r},"
        f" '-s', {str(tmp_path / 'store')!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pandas' in sys.modules, 'duckdb' in sys.modules)\n"
    )
    for _ in range(2):  # a new store, then the same lines again (all duplicates)
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        assert '"accepted":300' in out
        pandas_imported = out.split()[-2]
        assert pandas_imported == "False", out
    assert out.split()[-1] == "True"  # the second run looked duplicates up through DuckDB
