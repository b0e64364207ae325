"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from index.documents import SURROGATE

OFFSETS = "Offsets are Unicode code points into the stored document text; `end` is exclusive."
MAX_TITLE_CHARS = 500


def _encodable(value: object) -> object:
    if isinstance(value, str) and (found := SURROGATE.search(value)):
        raise ValueError(f"holds a lone surrogate (U+{ord(found.group(0)):04X}) at character {found.start():,}, "
                         "which is not valid Unicode text")
    return value


# Every client string: a lone surrogate cannot be encoded, so it would fail later (in the tokenizer, in
# SQLite, or in every response that echoes it) instead of here with a 422. Checked before the type and
# length, which would otherwise reject it without saying why.
Text = Annotated[str, BeforeValidator(_encodable)]


def _whole_number(value: object) -> object:
    # JSON Schema's "integer" includes 5.0, which strict mode would refuse; 5.5 is still refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AskRequest(StrictModel):
    question: Text = Field(description="The question, 1 to max_question_chars characters.")
    document_ids: list[Text] | None = Field(default=None, min_length=1, description="Only search these documents.")
    top_k: WholeNumber | None = Field(default=None, ge=1, le=50, description="Passages to read (1-50).")


class EvidenceOut(BaseModel):
    start: int = Field(description=OFFSETS)
    end: int = Field(description=OFFSETS)
    text: str = Field(description="The evidence sentence(s): document_text[start:end].")


class CitationOut(BaseModel):
    document_id: str
    start: int = Field(description=OFFSETS)
    end: int = Field(description=OFFSETS)
    text: str = Field(description="Exactly document_text[start:end]; the answer span when answered.")
    passage: EvidenceOut


class AskResponse(BaseModel):
    question: str
    answer: str | None = Field(description="The answer span, or null when the documents do not answer.")
    score: float = Field(description="Calibrated probability in [0, 1] that the answer is right.")
    citations: list[CitationOut]


class ChatMessage(StrictModel):
    role: Literal["user", "assistant"]
    # The chat limits are settings, checked per request (api/answering.check_conversation), not fixed here.
    content: Text = Field(description=(
        "A user message has at most CITEQA_MAX_QUESTION_CHARS characters (default 1,000); an assistant "
        "message at most CITEQA_MAX_MESSAGE_CHARS (default 20,000)."))


class ChatRequest(StrictModel):
    messages: list[ChatMessage] = Field(min_length=1, description=(
        "At most CITEQA_MAX_CHAT_MESSAGES messages (default 200) and CITEQA_MAX_CHAT_CHARS characters in all "
        "(default 200,000)."))
    document_ids: list[Text] | None = Field(default=None, min_length=1)
    stream: bool = False


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatResponse(BaseModel):
    message: AssistantMessage
    question: str = Field(description="The standalone question that was answered.")
    answer: str | None
    score: float
    citations: list[CitationOut]


class DocumentIn(StrictModel):
    id: Text | None = Field(default=None, description="1-128 characters of [A-Za-z0-9._-]; default: from the title.")
    title: Text | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    text: Text
    metadata: dict[Text, Text] | None = None


class DocumentCreated(BaseModel):
    id: str
    title: str
    chunks: int
    sentences: int
    replaced: bool


class DocumentSummaryOut(BaseModel):
    id: str
    title: str
    metadata: dict[str, str]
    characters: int
    chunks: int
    sentences: int


class DocumentOut(DocumentSummaryOut):
    text: str = Field(description="The stored text; all offsets index into it. " + OFFSETS)


class DocumentList(BaseModel):
    documents: list[DocumentSummaryOut]


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable, machine-readable code, e.g. `question_too_long`.")
    message: str = Field(description="What went wrong, for people.")


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail
