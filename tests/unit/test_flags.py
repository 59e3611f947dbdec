"""Yes/no columns read alike everywhere: a labels file means the same to detection and scope."""

from __future__ import annotations

from pathlib import Path

from vigile.detect.note_labels import load_sensitive_notes
from vigile.scope.sensitivity import read_labels

WORDS = ["1", "true", "True", "TRUE", "yes", "oui", "0", "false", "non", "", "peut-être"]


def test_when_a_labels_file_says_yes_in_any_accepted_way_then_detection_and_scope_agree(
    tmp_path: Path,
) -> None:
    labels = tmp_path / "labels.csv"
    rows = ["annotation_id,sensitive,categories,patient_id,tenant"]
    rows += [f"n{i},{w},health,p{i},cab-1" for i, w in enumerate(WORDS)]
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    scope = read_labels(labels)
    scoped = set(scope.filter(scope["sensitive"])["annotation_id"].to_list())
    assert scoped == {"n0", "n1", "n2", "n3", "n4", "n5"}
    detected = load_sensitive_notes(labels, None)
    assert detected.sensitive == len(scoped)
    assert set(detected.patients) == {f"p{i}" for i in range(6)}
