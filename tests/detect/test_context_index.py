"""The context index's patient -> practice lookup (``cross-practice-read`` rests on it)."""

from __future__ import annotations

from pathlib import Path

from vigile.detect.context_index import ContextIndex


def _index(tmp_path: Path, rows: list[tuple[str, str]]) -> ContextIndex:
    ctx = tmp_path / "context"
    ctx.mkdir()
    lines = ["patient_id,tenant,last_name,first_name"]
    lines += [f"{pid},{tenant},Durand,Léa" for pid, tenant in rows]
    (ctx / "patients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ContextIndex.load(ctx)


def test_every_file_is_found_at_its_practices_and_nothing_else(tmp_path: Path) -> None:
    rows = [(f"P{i:08d}", f"cab-{i % 37:04d}") for i in range(20_000)]
    rows += [("P00000042", "cab-0999"), ("P00000042", "cab-0998")]  # one id, three practices
    idx = _index(tmp_path, rows)
    assert idx.knows_patients
    held: dict[str, list[str]] = {}
    for pid, tenant in rows:
        held.setdefault(pid, []).append(tenant)
    for pid, tenants in held.items():
        # an id held by several practices: in the file's order (the first is named)
        assert idx.patient_tenants(pid) == tenants, pid
    assert idx.patient_tenants("P00000042") == ["cab-0005", "cab-0999", "cab-0998"]
    assert idx.files["cab-0999"] == 1 and idx.files["cab-0005"] == 20_000 // 37 + 1
    for unknown in ("P99999999", "", "p00000042", "P00000042 "):
        assert idx.patient_tenants(unknown) == []


def test_ids_held_by_many_practices_keep_the_files_order(tmp_path: Path) -> None:
    # many runs of equal hashes, each written in another order than the practices sort
    rows = [(f"P{i % 500:08d}", f"cab-{(7919 * i) % 1000:04d}") for i in range(5_000)]
    idx = _index(tmp_path, rows)
    held: dict[str, list[str]] = {}
    for pid, tenant in rows:
        held.setdefault(pid, []).append(tenant)
    for pid, tenants in held.items():
        assert idx.patient_tenants(pid) == tenants, pid


def test_without_patients_nothing_is_known(tmp_path: Path) -> None:
    idx = ContextIndex.load(None)
    assert not idx.knows_patients and idx.patient_tenants("P00000001") == []
