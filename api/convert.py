"""Pipeline answers to API bodies and chat text."""

from __future__ import annotations

from api.schemas import AskResponse, BoxOut, CitationOut, EvidenceOut
from qa.pipeline import Answer, Citation


def citation_out(citation: Citation) -> CitationOut:
    evidence = citation.passage
    where = citation.location
    return CitationOut(
        document_id=citation.document_id, start=citation.start, end=citation.end, text=citation.text,
        passage=EvidenceOut(start=evidence.start, end=evidence.end, text=evidence.text),
        page=where.page, page_label=where.page_label, pages=list(where.pages),
        boxes=[BoxOut(page=b.page, x0=b.x0, y0=b.y0, x1=b.x1, y1=b.y1) for b in where.boxes],
        section=list(where.section) if where.section is not None else None,
    )


def where_cited(citation: Citation) -> str:
    """"p. 6" (with the printed label when it differs: "p. 6 (iv)"), or the section path of an unpaged file."""
    where = citation.location
    if where.page is not None:
        label = f" ({where.page_label})" if where.page_label and where.page_label != str(where.page) else ""
        return f"p. {where.page}{label}"
    if where.section:
        return "section " + " > ".join(where.section)
    return ""


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
            where = where_cited(closest)
            text += f' The closest passage ({closest.document_id}{", " + where if where else ""}): ' \
                    f'"{closest.passage.text}"'
        return text
    evidence = answer.citations[0]
    where = where_cited(evidence)
    return f'{answer.answer}\n\nSource ({evidence.document_id}, {where + ", " if where else ""}characters ' \
           f'{evidence.start}-{evidence.end}): "{evidence.passage.text}"'


def answer_from_reply(content: str) -> str | None:
    """The answer of an earlier reply (as `reply_text` wrote it): its first line, None for 'not answered'."""
    first = content.strip().split("\n", 1)[0].strip()
    if not first or first.startswith(NOT_ANSWERED):
        return None
    return first
