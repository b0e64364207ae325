"""The openvino backend: same top spans as torch on the default article, cosine-close embeddings, a keyed cache."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from api.services import build_embedder, build_reader
from api.settings import Settings
from index.chunk import Chunker, paragraph_spans, tokenizer_counter
from index.embed import Embedder
from qa.reader import SHIPPED_MODEL, Passage, Reader
from runtime.cache import META_FILE, cache_key
from runtime.models import optimized_reader, reader_forward

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
pytestmark = pytest.mark.slow  # each optimized model takes about a minute to build on 2 cores
# The OpenVINO models built here live until the process ends: freeing a compiled model when this module's
# fixtures are torn down, while other tests' server threads are still running, crashed the interpreter
# once in a full run (a segmentation fault in the release of the module-scoped reader).
_KEPT: list[object] = []


@pytest.fixture(scope="module")
def openvino_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # A cache folder of its own: these tests build into it and add entries, the user's shared cache stays as is.
    folder = tmp_path_factory.mktemp("data")
    # int8 whatever the CPU (auto runs the float models where it lacks int8 dot products): the recipe is tested.
    return Settings().scratch(folder).with_changes(reader={"backend": "openvino", "dtype": "int8"},
                                                   index={"optimized_dir": folder / "optimized"})


@pytest.fixture(scope="module")
def torch_reader(openvino_settings: Settings) -> Reader:
    model = build_reader(openvino_settings.with_changes(reader={"backend": "torch", "dtype": "auto"}))
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def openvino_reader(openvino_settings: Settings) -> Reader:
    model = build_reader(openvino_settings)
    model.warm_up()
    _KEPT.append(model)
    return model


def test_openvino_reader_gives_torch_top_span_on_the_default_article(
    torch_reader: Reader, openvino_reader: Reader, article_text: str
) -> None:
    """Same span on most seed questions; where int8 moves a boundary ("head of" for "the head of") the spans
    still overlap, and every answer/no-answer decision at the threshold is the same."""
    passages = [Passage("article", span.start, span.text_of(article_text)) for span in paragraph_spans(article_text)]
    questions = [json.loads(line)["question"] for line in (FIXTURES / "seed-dev.jsonl").read_text().splitlines()]
    threshold = Settings().pipeline.no_answer_threshold
    same = 0
    for question in questions:
        expected = torch_reader.run(question, passages, top_k=1).spans[0]
        found = openvino_reader.run(question, passages, top_k=1).spans[0]
        same += (found.start, found.end) == (expected.start, expected.end)
        assert found.start < expected.end and expected.start < found.end, question
        assert (found.score >= threshold) == (expected.score >= threshold), question
    assert same >= 7, f"{same} of {len(questions)} top spans are the torch ones"


def test_the_span_head_and_the_feed_forward_outputs_stay_float(openvino_reader: Reader,
                                                               openvino_settings: Settings) -> None:
    """The int8 recipe (runtime/models.py, KEEP_FLOAT): every other projection reads a quantized activation."""
    import openvino

    xml = optimized_reader(openvino_reader.model_path, openvino_settings.optimized_dir)
    model = openvino.Core().read_model(str(xml))
    quantized = {op.get_friendly_name(): any(i.get_source_output().get_node().get_type_name() == "FakeQuantize"
                                             for i in op.inputs())
                 for op in model.get_ops() if op.get_type_name() == "MatMul" and "linear" in op.get_friendly_name()}
    kept = {name for name in quantized if re.search(r"qa_outputs|layer\.\d+\.output\.dense", name)}
    assert len(kept) == 7 and not any(quantized[name] for name in kept)
    assert len(quantized) == 37 and all(quantized[name] for name in quantized.keys() - kept)


def test_openvino_embedder_is_cosine_close_to_torch(embedder: Embedder, openvino_settings: Settings,
                                                    article_text: str) -> None:
    candidate = build_embedder(openvino_settings)
    _KEPT.append(candidate)
    chunks = Chunker(tokenizer_counter(embedder.tokenizer), 160).run(article_text)[1]
    texts = [chunk.text for chunk in chunks] + ["Who is Yevgeny Prigozhin?"]
    expected = embedder.run(texts)
    one_by_one = np.stack([candidate.run([text])[0] for text in texts])  # a question's path: one batch
    # More texts than one batch take the bulk path (small batches, several at once, sorted by length):
    # each vector must still land in its text's row.
    repeats = candidate.batch_size // len(texts) + 2
    many = candidate.run(texts * repeats).reshape(repeats, len(texts), -1)
    assert np.sum(expected * one_by_one, axis=1).min() >= 0.99
    for vectors in many:
        assert np.sum(expected * vectors, axis=1).min() >= 0.99
        assert np.sum(one_by_one * vectors, axis=1).min() >= 0.999
    assert candidate.dimension == embedder.dimension


def test_the_cache_is_reused_for_the_same_weights_and_rebuilt_when_they_change(
    openvino_reader: Reader, openvino_settings: Settings, tmp_path: Path
) -> None:
    cache = openvino_settings.optimized_dir
    built = optimized_reader(SHIPPED_MODEL, cache)
    assert (built.parent / META_FILE).exists() and built.parent.name == f"reader-{cache_key(SHIPPED_MODEL)}"
    copy = tmp_path / "reader"
    shutil.copytree(SHIPPED_MODEL, copy)
    assert optimized_reader(copy, cache) == built  # same weights elsewhere: the same entry, nothing built

    weights = load_file(str(copy / "model.safetensors"))
    name = next(key for key in weights if key.startswith("qa_outputs.bias"))
    weights[name] = weights[name] + np.ones_like(weights[name])  # both logits up by 1: same spans
    save_file(weights, str(copy / "model.safetensors"), metadata={"format": "pt"})
    rebuilt = optimized_reader(copy, cache)
    assert rebuilt != built and rebuilt.exists() and built.exists()
    changed = Reader(copy, reader_forward(copy, "openvino", "int8", cache))
    question, passage = "Who is the lighthouse keeper?", [Passage("d", 0, "The keeper is named Ambrose Quill.")]
    assert changed.run(question, passage).spans[0].text == openvino_reader.run(question, passage).spans[0].text
    assert not list(cache.glob(".staging-*"))


def test_window_widths_are_padded_for_openvino_and_the_logits_cut_back(openvino_reader: Reader) -> None:
    """OpenVINOForward rounds widths up to a multiple of 16 (bounded per-shape caches); padding is masked, so
    the real positions' logits are those of the unpadded batch, and the caller gets its own width back."""
    from runtime.openvino import SHAPE_MULTIPLE, OpenVINOForward

    forward = openvino_reader.forward
    assert isinstance(forward, OpenVINOForward)
    rng = np.random.default_rng(0)
    width = 3 * SHAPE_MULTIPLE + 5
    ids = rng.integers(1000, 5000, size=(2, width)).astype(np.int64)
    ids[:, 0] = 101
    types = np.zeros_like(ids)
    types[:, width // 2 :] = 1
    mask = np.ones_like(ids)
    mask[1, width - 9 :] = 0  # a shorter second window, as pad_windows lays out a batch
    outputs = forward({"input_ids": ids, "token_type_ids": types, "attention_mask": mask})
    starts, ends = outputs["start_logits"], outputs["end_logits"]
    assert starts.shape == ends.shape == (2, width)
    # The same batch unpadded, straight to OpenVINO (OpenVINOForward pads; this request does not).
    request = forward._compiled.create_infer_request()
    results = request.infer({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
    unpadded = {name: np.array(value) for output, value in results.items() for name in output.get_names()}
    assert np.allclose(starts, unpadded["start_logits"], atol=0.05)
    assert np.allclose(ends, unpadded["end_logits"], atol=0.05)


def test_the_float_models_compute_what_torch_fp32_does(openvino_settings: Settings, openvino_reader: Reader,
                                                      embedder: Embedder, article_text: str) -> None:
    """dtype fp32 on openvino (what `auto` runs on a CPU with AVX2 but no VNNI): the float model, built beside the
    int8 one in the same cache, with torch's calibration; same top spans and logits as torch fp32."""
    settings = openvino_settings.with_changes(reader={"dtype": "fp32"})
    candidate, expected = build_reader(settings), build_reader(settings.with_changes(reader={"backend": "torch"}))
    candidate.warm_up()
    expected.warm_up()
    _KEPT.append(candidate)
    assert (candidate.precision, expected.precision) == ("fp32", "fp32")
    assert candidate.calibration == expected.calibration != openvino_reader.calibration
    passages = [Passage("article", span.start, span.text_of(article_text)) for span in paragraph_spans(article_text)]
    for line in (FIXTURES / "seed-dev.jsonl").read_text().splitlines():
        question = json.loads(line)["question"]
        found = candidate.run(question, passages, top_k=3).spans
        wanted = expected.run(question, passages, top_k=3).spans
        assert [(s.start, s.end) for s in found] == [(s.start, s.end) for s in wanted], question
        assert [s.score for s in found] == pytest.approx([s.score for s in wanted], abs=1e-3), question
    entries = {path.name.rsplit("-", 1)[0] for path in settings.optimized_dir.glob("reader*")
               if (path / META_FILE).exists()}
    assert entries == {"reader", "reader-float"}  # neither build took the other for a stale entry

    float_embedder = build_embedder(settings)
    _KEPT.append(float_embedder)
    texts = [chunk.text for chunk in Chunker(tokenizer_counter(embedder.tokenizer), 160).run(article_text)[1]]
    cosines = np.sum(embedder.run(texts) * float_embedder.run(texts), axis=1)  # the bulk path
    assert cosines.min() >= 0.9999
    assert float(np.dot(embedder.run(["Who is Yevgeny Prigozhin?"])[0],
                        float_embedder.run(["Who is Yevgeny Prigozhin?"])[0])) >= 0.9999
