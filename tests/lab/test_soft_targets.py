"""Distillation across tokenizers: teacher distributions carried through characters into reader windows.

The student side uses the real reader tokenizer. The teacher side is a hand-made window that cuts each
word of the context into 2-character tokens: the repository ships no second tokenizer, and such a split
agrees with the reader's only at word starts, as two real subword vocabularies do.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from lab.examples import SquadExample
from lab.features import NO_ANSWER_INDEX
from lab.packing import pack, unpack
from lab.soft_targets import CharTargets, Window, distillation_loss, encode_windows, project, window_char_targets

READER = Path(__file__).resolve().parents[2] / "qa" / "reader_model"
CONTEXT = ("The defence ministry denied it. Yevgeny Prigozhin said the troops were fleeing, "
           "and the deputy minister answered on Telegram.")
ANSWER = "Yevgeny Prigozhin"


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(str(READER))


def pair_teacher(start_char: int, end_char: int) -> tuple[Window, np.ndarray, np.ndarray]:
    """A teacher window of 2-character word pieces, [CLS] first, sure the answer is [start_char, end_char)."""
    offsets = [(0, 0)] + [(i, min(i + 2, word.end())) for word in re.finditer(r"\S+", CONTEXT)
                          for i in range(word.start(), word.end(), 2)]
    window = Window(0, np.zeros(len(offsets), np.int32), None, np.array(offsets, np.int32), (1, len(offsets) - 1),
                    NO_ANSWER_INDEX, NO_ANSWER_INDEX)
    starts = np.full(len(offsets), -5.0)
    ends = np.full(len(offsets), -5.0)
    starts[[a for a, _ in offsets].index(start_char)] = 8.0
    ends[[b for _, b in offsets].index(end_char)] = 8.0
    return window, starts, ends


def targets_for(start_char: int, end_char: int, temperature: float = 1.0) -> CharTargets:
    window, starts, ends = pair_teacher(start_char, end_char)
    targets = CharTargets.empty(1, 8, temperature)
    sc, sp, ec, ep, ns, ne = window_char_targets(starts, ends, window, temperature, 8)
    targets.start_chars[0], targets.start_probs[0], targets.end_chars[0], targets.end_probs[0] = sc, sp, ec, ep
    targets.null_start[0], targets.null_end[0] = ns, ne
    return targets


def test_teacher_mass_lands_on_the_reader_tokens_that_cover_its_characters(tokenizer) -> None:  # type: ignore[no-untyped-def]
    start = CONTEXT.index(ANSWER)
    end = start + len(ANSWER)
    example = SquadExample("Who said the troops were fleeing?", CONTEXT, start, ANSWER)
    [window] = encode_windows([example], tokenizer, 256, 128)
    targets = targets_for(start, end)
    start_target = project(targets.start_chars[0], targets.start_probs[0], targets.null_start[0], window, False)
    end_target = project(targets.end_chars[0], targets.end_probs[0], targets.null_end[0], window, True)
    assert start_target.sum() == pytest.approx(1.0)
    assert end_target.sum() == pytest.approx(1.0)
    assert window.offsets[start_target.argmax(), 0] <= start < window.offsets[start_target.argmax(), 1]
    assert window.offsets[end_target.argmax(), 0] < end <= window.offsets[end_target.argmax(), 1]
    assert start_target.argmax() == window.start
    assert end_target.argmax() == window.end
    assert start_target.max() > 0.9


def test_mass_outside_a_window_joins_no_answer_as_the_hard_label_does(tokenizer) -> None:  # type: ignore[no-untyped-def]
    start = CONTEXT.index("Telegram")
    example = SquadExample("Where did the minister answer?", CONTEXT, start, "Telegram")
    windows = encode_windows([example], tokenizer, 24, 8)
    assert len(windows) > 2
    targets = targets_for(start, start + len("Telegram"))
    for window in windows:
        target = project(targets.start_chars[0], targets.start_probs[0], targets.null_start[0], window, False)
        assert target.sum() == pytest.approx(1.0)
        if window.start == NO_ANSWER_INDEX:
            assert target[NO_ANSWER_INDEX] > 0.99
        else:
            assert target.argmax() == window.start


def test_temperature_flattens_the_teacher() -> None:
    start = CONTEXT.index(ANSWER)
    sharp = targets_for(start, start + len(ANSWER), temperature=1.0)
    soft = targets_for(start, start + len(ANSWER), temperature=4.0)
    assert soft.start_probs[0].max() < sharp.start_probs[0].max()
    assert soft.null_start[0] > sharp.null_start[0]


def test_targets_survive_a_file_with_their_empty_slots(tmp_path: Path) -> None:
    start = CONTEXT.index(ANSWER)
    targets = targets_for(start, start + len(ANSWER))
    targets.start_chars[0, -2:] = -1
    targets.start_probs[0, -2:] = 0
    targets.save(tmp_path / "targets.npz")
    loaded = CharTargets.load(tmp_path / "targets.npz")
    assert (loaded.start_chars == targets.start_chars).all()
    assert (loaded.end_chars == targets.end_chars).all()
    assert np.allclose(loaded.start_probs, targets.start_probs)
    assert loaded.temperature == targets.temperature


def test_distillation_loss_is_least_where_the_student_agrees_with_the_teacher() -> None:
    mask = torch.ones(1, 6, dtype=torch.long)
    target = torch.tensor([[0.1, 0.0, 0.7, 0.2, 0.0, 0.0]])
    agreeing = torch.log(target.clamp(min=1e-6)) * 2.0  # softmax(z / T) == target at T = 2
    other = torch.zeros(1, 6)
    assert distillation_loss(agreeing, agreeing, mask, target, target, 2.0) < distillation_loss(
        other, other, mask, target, target, 2.0)
    masked = mask.clone()
    masked[0, 4:] = 0  # padding takes no probability, whatever its logits
    high_padding = agreeing.clone()
    high_padding[0, 4:] = 50.0
    assert distillation_loss(high_padding, high_padding, masked, target, target, 2.0) == pytest.approx(
        distillation_loss(agreeing, agreeing, masked, target, target, 2.0).item(), abs=1e-4)


def test_packed_weights_come_back_within_int8_rounding(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    state = {f"layer.{i}.weight": torch.randn(16, 32, generator=generator) for i in range(4)}
    state["layer.0.bias"] = torch.randn(16, generator=generator)
    state["kept.weight"] = torch.randn(8, 8, generator=generator)
    save_file(state, str(tmp_path / "model.safetensors"))
    parts = pack(tmp_path / "model.safetensors", tmp_path / "packed", 2, exact=lambda name: name == "kept.weight")
    assert len(parts) == 2
    back = unpack(parts)
    assert set(back) == set(state)
    for name, tensor in state.items():
        row_max = tensor.abs().amax(dim=-1, keepdim=True)
        if name == "kept.weight" or tensor.dim() == 1:
            assert torch.allclose(back[name], tensor.half().float())
        else:
            assert ((back[name] - tensor).abs() <= row_max / 254 + 1e-6).all()
