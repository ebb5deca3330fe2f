"""The Best-of-∞ recorded answers shipped inside the package: addressable by name wherever a replay file
is accepted, identical to the authors' files, with their licence alongside."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from storage.errors import ChorusError
from tasks.algorithms.options import model_name_of, parse_named_files
from tasks.algorithms.replay_files import find_packaged, load_replay, packaged_replays, replay_identity, source_note
from tasks.backends.factory import model_fingerprint
from tasks.backends.registry import load_registry, resolve
from tests.conftest import SHARED_DATA
from tests.fixtures.helpers import chorus

EXPECTED = {"aime2024": 11, "gpqa_diamond": 6, "math500": 7}


def test_every_set_is_shipped_with_its_licence_and_source() -> None:
    names = [r.name for r in packaged_replays()]
    per_dataset = {d: sum(n.startswith(f"{d}/") for n in names) for d in EXPECTED}
    assert per_dataset == EXPECTED
    note = Path(source_note())
    assert "jkomiyama/BoInf-code-publish" in note.read_text() and "MIT" in note.read_text()
    assert "Permission is hereby granted" in (note.parent / "LICENSE").read_text()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the authors' original files are not on this machine")
def test_packaged_sets_are_the_authors_files_byte_for_byte() -> None:
    originals = sorted(SHARED_DATA.glob("analysis_*.jsonl"))
    assert len(originals) == sum(EXPECTED.values())
    random.Random(13).shuffle(originals)  # matched by name, never by position
    for original in originals:
        stem = original.stem.removeprefix("analysis_")
        dataset = next(d for d in EXPECTED if stem.startswith(f"{d}_"))
        replay = find_packaged(f"{dataset}/{stem.removeprefix(dataset + '_')}")
        assert replay is not None, original.name
        assert gzip.decompress(replay.resource.read_bytes()) == original.read_bytes(), original.name
        assert replay_identity(replay.name) == replay_identity(str(original))  # they share cached samples


def test_names_resolve_with_aliases_and_any_model_case() -> None:
    first = load_replay("math500/gpt-oss-20b")
    assert len(first) == 500 and first[0].gold is not None
    assert load_replay("MATH500/GPT-OSS-20B") == first
    assert len(load_replay("gpqa-diamond/Phi-4-reasoning")) == len(load_replay("gpqa_diamond/Phi-4-reasoning")) == 198
    assert model_name_of("math500/gpt-oss-20b") == "gpt-oss-20b"
    assert parse_named_files(["aime2024/Qwen3-4B", "aime2024/LIMO-v2"]) == [
        ("Qwen3-4B", "aime2024/Qwen3-4B"),
        ("LIMO-v2", "aime2024/LIMO-v2"),
    ]


def test_an_unknown_name_is_one_clear_error() -> None:
    with pytest.raises(ChorusError, match=r"math500/no-such-model: replay file not found .*chorus data list"):
        load_replay("math500/no-such-model")


def test_a_file_on_disk_wins_over_a_packaged_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "math500").mkdir()
    record = {"problem_num": 0, "gold_answer": "1", "all_answers": [["1", 5]]}
    (tmp_path / "math500" / "gpt-oss-20b").write_text(json.dumps(record) + "\n")
    monkeypatch.chdir(tmp_path)
    assert len(load_replay("math500/gpt-oss-20b")) == 1


def test_gzip_files_are_read_and_a_damaged_one_is_one_error(tmp_path: Path) -> None:
    record = {"problem_num": 3, "gold_answer": "7", "all_answers": [["7", 5], ["8", 6]]}
    good = tmp_path / "analysis_x_m.jsonl.gz"
    good.write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
    assert load_replay(good)[0].answers == ("7", "8")
    assert model_name_of(str(good)) == "m"
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(good.read_bytes()[:20])
    with pytest.raises(ChorusError, match="damaged gzip"):
        load_replay(bad)


def test_a_replay_model_in_the_registry_can_name_a_packaged_set(tmp_path: Path) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text('[models.gptoss]\nbackend = "replay"\npath = "math500/gpt-oss-20b"\n')
    spec = resolve(load_registry(str(cfg)), "gptoss")
    assert spec.path == "math500/gpt-oss-20b"
    original = SHARED_DATA / "analysis_math500_gpt-oss-20b.jsonl"
    if original.is_file():
        on_disk = tmp_path / "disk.toml"
        on_disk.write_text(f'[models.gptoss]\nbackend = "replay"\npath = "{original}"\n')
        assert model_fingerprint(spec) == model_fingerprint(resolve(load_registry(str(on_disk)), "gptoss"))


def test_chorus_data_list_names_every_set() -> None:
    proc = chorus("data", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert len(rows) == sum(EXPECTED.values())
    assert rows["math500/gpt-oss-20b"]["problems"] == 500
    assert rows["gpqa_diamond/gpt-oss-20b"]["problems"] == 198
