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


POINTS = ("PDF points (1/72 inch) from the top-left corner of the page as displayed (its rotation applied), "
          "y growing downwards: scale by the rendered image's pixels per point to draw over it.")


class BoxOut(BaseModel):
    """A rectangle around one printed line of the cited span. """ + POINTS

    page: int = Field(description="1-based physical page number.")
    x0: float = Field(description="Left edge.")
    y0: float = Field(description="Top edge.")
    x1: float = Field(description="Right edge.")
    y1: float = Field(description="Bottom edge.")


class CitationOut(BaseModel):
    document_id: str
    start: int = Field(description=OFFSETS)
    end: int = Field(description=OFFSETS)
    text: str = Field(description="Exactly document_text[start:end]; the answer span when answered.")
    passage: EvidenceOut
    page: int | None = Field(default=None, description=(
        "The 1-based physical page of a PDF where the span starts (the n of /v1/documents/{id}/pages/{n}); "
        "null for documents without pages (text, HTML, Markdown, Word)."))
    page_label: str | None = Field(default=None, description=(
        "That page's printed label from the PDF (\"iv\", \"2-3\"); null when the PDF defines none."))
    pages: list[int] = Field(default_factory=list, description="Every physical page the span covers.")
    boxes: list[BoxOut] = Field(default_factory=list, description=(
        "One rectangle per printed line of the span, in " + POINTS))
    section: list[str] | None = Field(default=None, description=(
        "The heading path of the section where the span starts, outermost first ([\"2 Scope\", \"2.1 "
        "Audience\"]): a Word file's headings, or a PDF's outline (bookmarks); null when the document has "
        "neither."))


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


SOURCE_TYPE = "What the document was read from: text, markdown, html, pdf or docx."


class DocumentCreated(BaseModel):
    id: str
    title: str
    chunks: int
    sentences: int
    replaced: bool
    source_type: str = Field(default="text", description=SOURCE_TYPE)
    page_count: int | None = Field(default=None, description="Pages of a PDF; null otherwise.")
    pages_without_text: list[int] = Field(default_factory=list, description=(
        "Pages of the PDF with no text layer (scanned images: citeqa does not run OCR), not searchable."))


class DocumentSummaryOut(BaseModel):
    id: str
    title: str
    metadata: dict[str, str]
    characters: int
    chunks: int
    sentences: int
    source_type: str = Field(default="text", description=SOURCE_TYPE)
    page_count: int | None = Field(default=None, description="Pages of a PDF; null otherwise.")
    filename: str | None = Field(default=None, description="The uploaded file's name, when it came as a file.")
    added_at: float = Field(default=0.0, description="When it was stored, in seconds since the Unix epoch.")


class PageOut(BaseModel):
    number: int = Field(description="1-based physical page number.")
    label: str | None = Field(description="The printed page label the PDF defines (\"iv\"), or null.")
    start: int = Field(description="Where the page's text starts in the document text. " + OFFSETS)
    end: int = Field(description="Where it ends; pages cover the text in order without overlapping. " + OFFSETS)
    width: float = Field(description="Width in points, as displayed (rotation applied).")
    height: float = Field(description="Height in points, as displayed.")
    rotation: int = Field(description="The page's rotation in degrees, clockwise (0, 90, 180, 270).")


class SectionOut(BaseModel):
    start: int = Field(description=OFFSETS)
    end: int = Field(description=OFFSETS)
    path: list[str] = Field(description="Heading path, outermost first.")


class DocumentOut(DocumentSummaryOut):
    text: str = Field(description="The stored text; all offsets index into it. " + OFFSETS)
    pages: list[PageOut] | None = Field(default=None, description="A PDF's pages; null for unpaged documents.")
    sections: list[SectionOut] | None = Field(default=None, description=(
        "The document's sections, each `[start, end)` with its heading path: a Word file's headings, or a PDF's "
        "outline (bookmarks); null when it has neither."))


class DocumentList(BaseModel):
    documents: list[DocumentSummaryOut]


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable, machine-readable code, e.g. `question_too_long`.")
    message: str = Field(description="What went wrong, for people.")


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail
