"""`citeqa distil`'s steps as the device script calls them (`python -m lab.distil_commands STEP ...`).

The teacher and student steps need a GPU-sized run, so here only their options are checked (recorded in
report.json's settings in the order the `more` step and earlier reports read them); the weight steps and
the examples file run for real on tiny tensors.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from lab.distil_commands import app
from lab.examples import SquadExample, load_examples, save_examples
from lab.packing import WORD_EMBEDDINGS, unpack_folder


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def base(tmp_path: Path) -> Path:
    folder = tmp_path / "base"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    save_file({WORD_EMBEDDINGS: torch.randn(6, 4, generator=generator).half(),
               "bert.encoder.weight": torch.randn(5, 4, generator=generator).half(),
               "qa_outputs.bias": torch.randn(2, generator=generator).half()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    return folder


def test_pack_keeps_all_but_the_word_embeddings_exact_for_a_reader(base: Path, tmp_path: Path) -> None:
    result = invoke("pack", "--source", str(base / "model.safetensors"), "--out", str(tmp_path / "packed"),
                    "--parts", "2", "--reader")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "packed").iterdir()) == ["part-0.safetensors", "part-1.safetensors"]
    original = load_file(str(base / "model.safetensors"))
    state = unpack_folder(tmp_path / "packed")
    assert set(state) == set(original)
    assert torch.equal(state["bert.encoder.weight"], original["bert.encoder.weight"].float())
    assert torch.allclose(state[WORD_EMBEDDINGS], original[WORD_EMBEDDINGS].float(), rtol=0, atol=0.02)


def test_splice_makes_a_reader_of_the_parts_and_the_base_embeddings(base: Path, tmp_path: Path) -> None:
    save_file({"bert.encoder.weight": torch.ones(5, 4)}, str(tmp_path / "student-0.safetensors"))
    save_file({"qa_outputs.bias": torch.ones(2)}, str(tmp_path / "student-1.safetensors"))
    result = invoke("splice", "--parts", str(tmp_path / "student-0.safetensors"), "--parts",
                    str(tmp_path / "student-1.safetensors"), "--base", str(base), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    state = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert (tmp_path / "out" / "config.json").exists()
    assert torch.equal(state[WORD_EMBEDDINGS], load_file(str(base / "model.safetensors"))[WORD_EMBEDDINGS])
    assert state["bert.encoder.weight"].dtype == torch.float16 and bool((state["bert.encoder.weight"] == 1).all())

    missing = invoke("splice", "--parts", str(tmp_path / "student-0.safetensors"), "--base", str(base),
                     "--out", str(tmp_path / "again"))
    assert missing.exit_code != 0


def test_student_options_reach_the_step_as_report_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import lab.student

    seen: list[Any] = []
    monkeypatch.setattr(lab.student, "student", seen.append)
    result = invoke("student", "--features", "/tmp/feats", "--init", "qa/reader_model", "--packed", "/tmp/packed",
                    "--targets", "/tmp/targets.npz", "--train-examples", "176718", "--report", "squad-a",
                    "--report", "squad-b", "--alpha", "0.9", "--learning-rate", "5e-5", "--out", "/tmp/student-b")
    assert result.exit_code == 0, result.output
    [settings] = seen
    assert asdict(settings) == {
        "features": "/tmp/feats", "packed": "/tmp/packed", "train_examples": 176718, "report": ["squad-a", "squad-b"],
        "batch_size": 32, "learning_rate": 5e-5, "epochs": 1.0, "budget": 1e9, "seed": 13, "out": "/tmp/student-b",
        "init": "qa/reader_model", "targets": "/tmp/targets.npz", "alpha": 0.9}
    assert list(asdict(settings))[-3:] == ["init", "targets", "alpha"]


def test_teacher_and_prepare_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    import lab.distil_features
    import lab.teacher

    seen: list[Any] = []
    monkeypatch.setattr(lab.teacher, "teacher", seen.append)
    monkeypatch.setattr(lab.distil_features, "prepare", lambda *args: seen.append(args))
    assert invoke("teacher", "--features", "F", "--model", "T", "--train-examples", "10", "--out", "O").exit_code == 0
    assert asdict(seen[0]) == {"features": "F", "packed": None, "train_examples": 10, "report": [], "batch_size": 32,
                               "learning_rate": 3e-5, "epochs": 1.0, "budget": 1e9, "seed": 13, "out": "O",
                               "model": "T", "temperature": 2.0, "k": 10}
    result = invoke("prepare", "--who", "student", "--examples", "e.json.xz", "--eval", "a.json", "--eval", "b.json",
                    "--teacher-tokenizer", "none", "--student-tokenizer", "qa/reader_model", "--out", "F")
    assert result.exit_code == 0, result.output
    assert seen[1] == (Path("e.json.xz"), [Path("a.json"), Path("b.json")], "none", "qa/reader_model", 384, 256, 128,
                       "student", Path("F"))
    assert invoke("prepare", "--who", "nobody", "--examples", "e", "--teacher-tokenizer", "t",
                  "--student-tokenizer", "s", "--out", "F").exit_code != 0


def test_examples_file_round_trip(tmp_path: Path) -> None:
    examples = [SquadExample("Who?", "Ann wrote it.", 0, "Ann"), SquadExample("When?", "Ann wrote it.", -1, ""),
                SquadExample("Where?", "In Paris.", 3, "Paris")]
    save_examples(examples, tmp_path / "examples.json.xz", {"seed": 13})
    assert load_examples(tmp_path / "examples.json.xz") == examples


def test_citeqa_mounts_the_steps_as_distil() -> None:
    from api.cli import app as citeqa

    result = CliRunner().invoke(citeqa, ["distil", "--help"])
    assert result.exit_code == 0
    assert all(step in result.output for step in ("examples", "prepare", "pack", "splice", "teacher", "student"))
