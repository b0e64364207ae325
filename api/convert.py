"""Pipeline answers to API bodies and chat text."""

from __future__ import annotations

from api.schemas import AskResponse, CitationOut, EvidenceOut
from qa.pipeline import Answer, Citation


def citation_out(citation: Citation) -> CitationOut:
    evidence = citation.passage
    return CitationOut(
        document_id=citation.document_id, start=citation.start, end=citation.end, text=citation.text,
        passage=EvidenceOut(start=evidence.start, end=evidence.end, text=evidence.text),
    )


def ask_response(answer: Answer) -> AskResponse:
    return AskResponse(question=answer.question, answer=answer.answer, score=round(answer.score, 4),
                       citations=[citation_out(c) for c in answer.citations])


NOT_ANSWERED = "The documents do not answer this."


def reply_text(answer: Answer) -> str:
    """The assistant's words: the answer on the first line with its quoted evidence, or a plain 'not answered'.

    `answer_from_reply` reads this back when a client sends the conversation again.
    """
    if answer.answer is None:
        text = NOT_ANSWERED
        if answer.citations:
            closest = answer.citations[0]
            text += f' The closest passage ({closest.document_id}): "{closest.passage.text}"'
        return text
    evidence = answer.citations[0]
    return f'{answer.answer}\n\nSource ({evidence.document_id}, characters {evidence.start}-{evidence.end}): ' \
           f'"{evidence.passage.text}"'


def answer_from_reply(content: str) -> str | None:
    """The answer of an earlier reply (as `reply_text` wrote it): its first line, None for 'not answered'."""
    first = content.strip().split("\n", 1)[0].strip()
    if not first or first.startswith(NOT_ANSWERED):
        return None
    return first
