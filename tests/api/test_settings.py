"""api/settings.py: one nested configuration read from flat CITEQA_* variables, with its validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.services import build_embedder, build_reader
from api.settings import IndexSettings, ServerSettings, Settings
from index.chunk import MIN_CHUNK_TOKENS
from index.retrieval import RRF_K
from qa.reader import SHIPPED_MODEL, Reader
from runtime.models import reader_forward
from runtime.policy import cpu_supports_avx2, cpu_supports_fast_bf16, cpu_supports_fast_int8
from runtime.windows import DEFAULT_STRIDE, DEFAULT_WINDOW


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_data_dir_is_refused_not_taken_as_the_current_folder(
        blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_DATA_DIR", blank)
    with pytest.raises(ValidationError, match="CITEQA_DATA_DIR is set but blank"):
        Settings()
    with pytest.raises(ValidationError, match="CITEQA_DATA_DIR is set but blank"):
        IndexSettings(data_dir=blank)


def test_a_given_data_dir_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_DATA_DIR", str(tmp_path))
    assert Settings().index.data_dir == tmp_path


def test_chat_limits_are_settings_with_the_old_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    server = Settings().server
    assert (server.max_chat_messages, server.max_chat_chars, server.max_message_chars) == (200, 200_000, 20_000)
    monkeypatch.setenv("CITEQA_MAX_CHAT_MESSAGES", "12")
    assert Settings().server.max_chat_messages == 12
    for name in ("max_chat_messages", "max_chat_chars", "max_message_chars"):
        with pytest.raises(ValidationError, match=name):
            ServerSettings(**{name: 0})


def test_variable_names_stay_flat_across_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in (("CITEQA_TOP_K", "3"), ("CITEQA_READER_PATH", "/models/r"),
                            ("CITEQA_INFERENCE_DTYPE", "fp32"), ("CITEQA_RRF_K", "20"),
                            ("CITEQA_READER_STRIDE", "64"), ("CITEQA_API_TOKEN", "t")):
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.pipeline.top_k == 3
    assert settings.reader.path == Path("/models/r") and settings.reader.dtype == "fp32"
    assert settings.reader.stride == 64
    assert settings.retrieval.rrf_k == 20
    assert settings.server.api_token == "t"


def test_components_and_settings_share_their_defaults() -> None:
    settings = Settings()
    assert (settings.reader.max_length, settings.reader.stride) == (DEFAULT_WINDOW, DEFAULT_STRIDE)
    reader = Reader()
    assert (reader.max_length, reader.stride) == (DEFAULT_WINDOW, DEFAULT_STRIDE)
    assert settings.retrieval.rrf_k == RRF_K
    with pytest.raises(ValidationError):
        IndexSettings(chunk_tokens=MIN_CHUNK_TOKENS - 1)


def test_with_changes_validates_and_leaves_the_original(tmp_path: Path) -> None:
    settings = Settings()
    changed = settings.with_changes(index={"data_dir": tmp_path}, pipeline={"top_k": 2})
    assert changed.index.data_dir == tmp_path and changed.pipeline.top_k == 2
    assert settings.pipeline.top_k == Settings().pipeline.top_k
    with pytest.raises(ValidationError):
        settings.with_changes(pipeline={"top_k": 0})


def test_inference_backend_is_one_flat_variable_for_reader_and_embedder(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("CITEQA_INFERENCE_BACKEND", "openvino")
    monkeypatch.setenv("CITEQA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITEQA_OPTIMIZED_DIR", raising=False)
    assert Settings().optimized_dir.parts[-2:] == ("citeqa", "optimized")  # the user's cache, not the data folder
    assert tmp_path not in Settings().optimized_dir.parents
    monkeypatch.setenv("CITEQA_OPTIMIZED_DIR", str(tmp_path / "models"))
    settings = Settings()
    assert settings.reader.backend == "openvino"
    assert settings.optimized_dir == tmp_path / "models"
    reader, embedder = build_reader(settings), build_embedder(settings)  # built, not loaded: nothing optimized yet
    assert (reader.backend, embedder.backend) == ("openvino", "openvino")
    assert not (settings.optimized_dir).exists()  # nothing derived until a model loads
    monkeypatch.setenv("CITEQA_INFERENCE_BACKEND", "onnx")
    with pytest.raises(ValidationError):
        Settings()
    # "auto" (the default) resolves when the settings are read: OpenVINO where the CPU has AVX2, running int8
    # only where the CPU also has int8 dot products, and the float models (fp32 here) elsewhere.
    monkeypatch.setenv("CITEQA_INFERENCE_BACKEND", "auto")
    native = Settings().reader
    assert native.backend == ("openvino" if cpu_supports_fast_int8() or cpu_supports_avx2() else "torch")
    assert native.precision == ("int8" if cpu_supports_fast_int8() else "bf16" if cpu_supports_fast_bf16() else "fp32")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # as on a CPU with AVX2 but without VNNI or bf16
    capped = Settings().reader
    assert (capped.backend, capped.dtype, capped.precision) == (
        ("openvino", "auto", "fp32") if cpu_supports_avx2() else ("torch", "auto", "fp32"))
    assert build_embedder(Settings()).precision == "fp32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")  # as on a CPU without AVX2
    assert Settings().reader.backend == "torch"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    with pytest.raises(ValueError, match="cache folder"):
        reader_forward(SHIPPED_MODEL, backend="openvino")


def test_int8_is_refused_on_torch_and_a_precision_carries_over_a_backend_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_INFERENCE_BACKEND", "torch")
    monkeypatch.setenv("CITEQA_INFERENCE_DTYPE", "int8")
    with pytest.raises(ValidationError, match="openvino backend only"):
        Settings()
    with pytest.raises(ValueError, match="openvino backend only"):
        reader_forward(SHIPPED_MODEL, precision="int8")
    monkeypatch.setenv("CITEQA_INFERENCE_BACKEND", "openvino")
    settings = Settings()
    assert settings.reader.precision == "int8"
    with pytest.raises(ValidationError, match="openvino backend only"):
        settings.with_changes(reader={"backend": "torch"})
    monkeypatch.setenv("CITEQA_INFERENCE_DTYPE", "fp32")  # the float model on openvino, fp32 on torch
    settings = Settings()
    assert settings.reader.precision == "fp32"
    assert settings.with_changes(reader={"backend": "torch"}).reader.precision == "fp32"
    assert build_reader(settings).precision == build_embedder(settings).precision == "fp32"


def test_the_server_backend_needs_both_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Settings().index.server_backend  # neither: the embedded store, as before
    monkeypatch.setenv("CITEQA_DATABASE_URL", "postgresql://citeqa@db/citeqa")
    with pytest.raises(ValidationError, match="CITEQA_DATABASE_URL is set but CITEQA_MILVUS_URI is not"):
        Settings()
    monkeypatch.setenv("CITEQA_MILVUS_URI", "http://milvus:19530")
    index = Settings().index
    assert index.server_backend and index.milvus_collection == "citeqa_chunks"
    monkeypatch.setenv("CITEQA_DATABASE_URL", "  ")  # blank counts as unset
    with pytest.raises(ValidationError, match="CITEQA_MILVUS_URI is set but CITEQA_DATABASE_URL is not"):
        Settings()
    monkeypatch.setenv("CITEQA_DATABASE_URL", "mysql://db/citeqa")
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings()


def test_milvus_shards_default_to_milvus_own_and_stay_within_its_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    from index.milvus import DEFAULT_SHARDS, MAX_SHARDS

    assert Settings().index.milvus_shards == DEFAULT_SHARDS == 1
    monkeypatch.setenv("CITEQA_MILVUS_SHARDS", "8")
    assert Settings().index.milvus_shards == 8
    for wrong in ("0", str(MAX_SHARDS + 1), "two"):
        monkeypatch.setenv("CITEQA_MILVUS_SHARDS", wrong)
        with pytest.raises(ValidationError, match="milvus_shards"):
            Settings()
    monkeypatch.setenv("CITEQA_MILVUS_SHARDS", str(MAX_SHARDS))
    assert Settings().index.milvus_shards == MAX_SHARDS


def test_a_scratch_store_is_embedded_even_with_the_server_backend_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_DATABASE_URL", "postgresql://citeqa@db/citeqa")
    monkeypatch.setenv("CITEQA_MILVUS_URI", "http://milvus:19530")
    settings = Settings()
    assert settings.index.server_backend
    scratch = settings.scratch(tmp_path)  # `citeqa eval squad` and calibrate-verifier ingest into it
    assert not scratch.index.server_backend and scratch.index.data_dir == tmp_path
    assert settings.index.server_backend  # the original is left as it was


def test_cli_names_the_missing_server_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("CITEQA_MILVUS_URI", "http://milvus:19530")
    monkeypatch.delenv("CITEQA_DATABASE_URL", raising=False)
    from api.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["documents"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "CITEQA_MILVUS_URI is set but CITEQA_DATABASE_URL is not" in result.output
    assert "Traceback" not in result.output
