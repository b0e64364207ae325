"""A real `citeqa serve` while files are parsed and indexed: /healthz and /v1/ask keep answering while a
79-page PDF is ingested, and hostile files (encrypted, truncated, scanned, a PDF bomb, a zip bomb, noise)
are refused with a 4xx that changes nothing stored, without stalling the server meanwhile."""

from __future__ import annotations

import io
import random
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.api.conftest import Server
from tests.api.test_errors_and_access import error_of, snapshot
from tests.documents_made import bomb_pdf, encrypted, handbook_pdf, scanned_pdf

pytestmark = [pytest.mark.slow, pytest.mark.embedded_only]  # timing of one server's HTTP layer

PAGES = 79
HEALTHY_SECONDS = 2.0
POLL_SECONDS = 0.25
QUESTION = "Who said the troops were fleeing?"
PAGE_WIDTH, PAGE_HEIGHT = 612.0, 792.0
MARGIN = 0.12 * PAGE_HEIGHT  # nothing but the running header within 12% of the top or bottom edge
HEADER = "Survey of the Northern Coastal Districts"

# Word lists that vary each sentence with the page and its place on the page.
PREFIXES = ["Var", "Hol", "Sken", "Brim", "Tor", "Lund", "Ask", "Mer", "Ost", "Fjel", "Grav", "Nor", "Sel"]
SUFFIXES = ["holm", "by", "vik", "stad", "nes", "dal", "berg"]
FIRST = ["Ingrid", "Tomas", "Agnes", "Leif", "Maren", "Olav", "Sigrid", "Henrik", "Ebba", "Nils", "Ronja"]
LAST = ["Aas", "Berge", "Dahl", "Eide", "Fossum", "Haugen", "Lie", "Moen", "Nygaard", "Strand", "Vik"]
ADJECTIVES = ["narrow", "stony", "sheltered", "windswept", "marshy", "terraced", "wooded", "sandy", "steep",
              "flooded", "quiet", "fertile"]
THINGS = ["orchards", "barns", "footbridges", "wells", "sheepfolds", "boathouses", "mills", "kilns", "smithies",
          "chapels", "granaries"]
CROPS = ["barley", "rye", "oats", "turnips", "flax", "potatoes", "hay", "cabbage", "peas"]
SENTENCES = [
    "The {adj} valley of {district} holds {count} {things} and a single road.",
    "Most families in {district} grow {crop}, which they dry on racks in August.",
    "In year {year} the river near {district} rose {count} centimetres above its banks.",
    "A ferry crosses the fjord from {district} twice a day when the ice allows it.",
    "The school in {district} teaches {count} children in two rooms heated by peat.",
    "Surveyors walked {count} kilometres of {adj} shore to map the district.",
    "Old maps of {district} show {things} where the survey found only {crop} fields.",
    "The parish register of {district} records {count} baptisms since {year}.",
    "Rainfall in {district} averaged {count} millimetres over the last decade.",
    "Sheep graze the {adj} slopes above {district} from May until the first snow.",
    "The post arrives in {district} on Tuesdays, carried up from the harbour by cart.",
    "Timber from the {adj} hills is floated down to the sawmill below {district}.",
    "The {adj} meadows of {district} flood each spring and yield {crop} by July.",
    "A stone bridge built in {year} joins the two halves of {district}.",
    "Fishing boats from {district} land cod and herring at the {adj} quay.",
    "The district council of {district} meets in the {adj} hall every second Monday.",
    "Its {count} {things} stand along the lane that leads out of {district}.",
    "Children in {district} skate on the {adj} pond from December to March.",
    "The chapel bell of {district} was recast in {year} after a winter storm.",
    "Foresters replanted {count} hectares of spruce on the {adj} ridge.",
]


@dataclass
class LongReport:
    content: bytes
    facts: list[tuple[str, str, int]] = field(default_factory=list)  # (question, answer, page)


def district(page: int) -> str:
    return PREFIXES[page % len(PREFIXES)] + SUFFIXES[page // len(PREFIXES)]


def surveyor(page: int) -> str:
    return f"{FIRST[page % len(FIRST)]} {LAST[(page * 5 + page // len(FIRST)) % len(LAST)]}"


def long_report(pages: int = PAGES) -> LongReport:
    """A report of `pages` pages: a running header, a section title, and about thirty lines of prose a page
    (five paragraphs of distinct sentences naming the page's own district), with one fact per page."""
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen import canvas

    from tests.documents_made import FONT, _font

    _font()
    size, leading, width = 10.0, 15.0, PAGE_WIDTH - 144
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    report = LongReport(b"")
    names = {district(page) for page in range(1, pages + 1)}
    assert len(names) == pages, "each page has a district of its own"
    for page in range(1, pages + 1):
        place, person = district(page), surveyor(page)
        drawing.setFont(FONT, 9)
        drawing.drawString(72, PAGE_HEIGHT - 40, HEADER)
        y = PAGE_HEIGHT - MARGIN - 20
        drawing.setFont(FONT, 14)
        drawing.drawString(72, y, f"{page}. The district of {place}")
        y -= 28
        fact = f"The district of {place} was surveyed by {person}, who counted {40 + 3 * page} farms there."
        report.facts.append((f"Who surveyed the district of {place}?", person, page))
        for paragraph in range(5):
            sentences = []
            for position in range(5):
                line = paragraph * 5 + position
                template = SENTENCES[(page * 7 + line * 3) % len(SENTENCES)]
                sentences.append(template.format(
                    district=place, adj=ADJECTIVES[(page + line) % len(ADJECTIVES)],
                    things=THINGS[(page * 3 + line) % len(THINGS)], crop=CROPS[(page + 2 * line) % len(CROPS)],
                    count=(page * 37 + line * 11) % 900 + 12, year=1850 + (page * 13 + line * 7) % 160))
            if paragraph == 2:
                sentences.insert(2, fact)
            drawing.setFont(FONT, size)
            for text in simpleSplit(" ".join(sentences), FONT, size, width):
                drawing.drawString(72, y, text)
                y -= leading
            y -= leading * 0.6
        assert y > MARGIN, f"page {page} runs into the bottom margin"
        drawing.showPage()
    drawing.save()
    report.content = buffer.getvalue()
    return report


def zip_bomb_docx(spaces: int = 300 * 1024 * 1024) -> bytes:
    """A .docx whose main part is `spaces` bytes of spaces: a few hundred KB deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.'
                                                'org/package/2006/content-types"/>')
        chunk = b" " * (1 << 20)
        with package.open("word/document.xml", "w") as part:
            for _ in range(spaces >> 20):
                part.write(chunk)
    return buffer.getvalue()


@dataclass
class Watched:
    """An upload, and what the server answered meanwhile."""

    response: httpx.Response
    health_seconds: list[float]
    asks: list[httpx.Response]


def upload_while_watching(server: Server, name: str, content: bytes, *, asking: bool = False) -> Watched:
    """POST the file from a thread; meanwhile GET /healthz (and POST /v1/ask if `asking`) every 0.25 s, at
    least once, until the upload has its answer."""
    answered: list[httpx.Response | BaseException] = []

    def upload() -> None:
        try:
            with server.client() as uploader:
                answered.append(uploader.post("/v1/documents", params={"replace": True}, timeout=600,
                                              files={"file": (name, content, "application/octet-stream")}))
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            answered.append(error)

    health_seconds: list[float] = []
    asks: list[httpx.Response] = []
    uploading = threading.Thread(target=upload, daemon=True)
    with server.client() as watcher:
        uploading.start()
        while True:
            started = time.perf_counter()
            health = watcher.get("/healthz", timeout=30)
            health_seconds.append(time.perf_counter() - started)
            assert health.status_code == 200, health.text
            if asking:
                asks.append(watcher.post("/v1/ask", json={"question": QUESTION}, timeout=120))
            if not uploading.is_alive():
                break
            time.sleep(POLL_SECONDS)
    uploading.join()
    assert len(answered) == 1
    if isinstance(answered[0], BaseException):
        raise answered[0]
    return Watched(answered[0], health_seconds, asks)


def test_health_and_asks_stay_up_while_a_79_page_pdf_is_ingested(server: Server) -> None:
    report = long_report()
    watched = upload_while_watching(server, "coastal survey.pdf", report.content, asking=True)
    assert watched.response.status_code == 201, watched.response.text
    created = watched.response.json()
    assert created["id"] == "coastal-survey" and created["source_type"] == "pdf"
    assert created["page_count"] == PAGES and created["pages_without_text"] == []
    assert created["chunks"] >= 200, created
    # Counted while the upload ran (the last round of each began after it had finished, or at once).
    assert len(watched.health_seconds) - 1 >= 5, watched.health_seconds
    assert len(watched.asks) - 1 >= 3, len(watched.asks)
    assert max(watched.health_seconds) < HEALTHY_SECONDS, watched.health_seconds
    for asked in watched.asks:
        assert asked.status_code == 200, asked.text
        assert asked.json()["answer"] and "Prigozhin" in asked.json()["answer"], asked.json()
    with server.client() as client:
        for question, answer, page in (report.facts[0], report.facts[39], report.facts[-1]):
            body = client.post("/v1/ask", json={"question": question, "document_ids": [created["id"]]}).json()
            assert body["answer"] == answer, (question, body)
            assert body["citations"][0]["page"] == page, (question, body["citations"][0])


HOSTILE: list[tuple[str, Callable[[bytes], bytes], int, set[str]]] = [
    ("encrypted.pdf", encrypted, 422, {"encrypted"}),
    ("truncated.pdf", lambda handbook: handbook[: len(handbook) // 3], 422, {"unreadable_document", "no_text"}),
    ("scan.pdf", lambda handbook: scanned_pdf(), 422, {"no_text"}),
    ("bomb.pdf", lambda handbook: bomb_pdf(), 413, {"too_complex"}),
    ("bomb.docx", lambda handbook: zip_bomb_docx(), 413, {"too_complex"}),
    ("noise.docx", lambda handbook: random.Random(79).randbytes(256 * 1024), 422, {"unreadable_document"}),
]


def test_hostile_files_are_refused_without_stalling_the_server_or_changing_the_store(server: Server) -> None:
    handbook = handbook_pdf().content
    with server.client() as client:
        for name, make, status, codes in HOSTILE:
            before = snapshot(client)
            watched = upload_while_watching(server, name, make(handbook))
            error = error_of(watched.response, status)
            assert error["code"] in codes, (name, error)
            assert max(watched.health_seconds) < HEALTHY_SECONDS, (name, watched.health_seconds)
            assert snapshot(client) == before, name
        good = upload_while_watching(server, "after the storm.pdf", handbook)
        assert good.response.status_code == 201, good.response.text
        assert good.response.json()["page_count"] == 9
        assert "after-the-storm" in {document["id"] for document in snapshot(client)}
