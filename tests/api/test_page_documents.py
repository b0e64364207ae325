"""The chat page's documents panel and cited pages in a real browser (Debian's Chromium through Playwright)
against a real server: the admin token, uploads with progress, refusals, deletion, and a PDF citation shown
on its rendered page with its boxes drawn over it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from tests.api.test_page import ADMIN, OUTPUT, ask
from tests.documents_made import HEADER, encrypted, handbook_docx, handbook_pdf

ADMIN_TOKEN = ADMIN["Authorization"].split(" ", 1)[1]
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.embedded_only,
]  # `browser` (tests/api/conftest.py) skips these where Chromium is missing


def open_panel_with_token(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Documents").click()
    assert page.locator("#upload-area").is_hidden()  # read-only until the admin token is given
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Use token").click()
    page.locator("#upload").wait_for(state="visible")


def upload(page, name: str, content: bytes, mime: str = "application/pdf") -> object:  # type: ignore[no-untyped-def]
    page.set_input_files("#upload", files=[{"name": name, "mimeType": mime, "buffer": content}])
    item = page.locator(".upload-item", has_text=name).last
    item.locator(".upload-status").filter(has_text=re.compile(r"^(Added|[A-Z])")).wait_for()
    page.wait_for_function("(item) => item.classList.contains('done') || item.classList.contains('failed')",
                           arg=item.element_handle(), timeout=120_000)
    return item


def overlap(a: dict, b: dict) -> float:
    width = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(width, 0) * max(height, 0)


def test_upload_ask_see_the_page_and_delete(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    page.wait_for_selector("#documents option:nth-child(2)", state="attached")
    open_panel_with_token(page)
    assert page.evaluate("sessionStorage.getItem('citeqa-admin-token')") == ADMIN_TOKEN
    assert page.evaluate("localStorage.length") == 0 and ADMIN_TOKEN not in page.url

    item = upload(page, "Harbour handbook.pdf", handbook_pdf().content)
    status = item.locator(".upload-status").inner_text()
    # The title is the one the PDF prints large on its first page, not the file's name.
    assert status.startswith(f'Added "{HEADER}" (9 pages') and "6" in status, status
    row = page.locator("#document-table tbody tr[data-id='harbour-handbook']")
    row.wait_for()
    assert "PDF" in row.inner_text() and "9" in row.inner_text()
    assert page.locator("#documents option[value='harbour-handbook']").count() == 1

    page.get_by_role("button", name="Close").first.click()
    page.select_option("#documents", "harbour-handbook")
    turn = ask(page, "Who is the storm warden?")
    assert "Petra Lund" in turn.inner_text()
    turn.get_by_role("button", name=re.compile("^Citation 1: .*p\\. 7")).click()
    image = page.locator("#page-image")
    page.wait_for_function("() => document.getElementById('page-image').naturalWidth > 0")
    assert image.is_visible()
    assert "page 7 (printed 5)" in page.locator("#viewer-where").inner_text()
    expected = httpx.post(f"{server.url}/v1/ask", json={"question": "Who is the storm warden?",
                                                        "document_ids": ["harbour-handbook"]},
                          headers=ADMIN, timeout=60).json()["citations"][0]
    info = httpx.get(f"{server.url}/v1/documents/harbour-handbook", headers=ADMIN).json()["pages"][6]
    shown = image.bounding_box()
    scale = shown["width"] / info["width"]
    answer = expected["boxes"][0]
    answer_box = {"x": shown["x"] + answer["x0"] * scale, "y": shown["y"] + answer["y0"] * scale,
                  "width": (answer["x1"] - answer["x0"]) * scale, "height": (answer["y1"] - answer["y0"]) * scale}
    drawn = page.locator(".page-box").first.bounding_box()
    assert overlap(drawn, answer_box) > 0.8 * answer_box["width"] * answer_box["height"]

    page.get_by_role("button", name="Show text").click()
    assert page.locator("#article mark").inner_text() == expected["text"]
    page.get_by_role("button", name="Show page").click()
    assert image.is_visible()

    page.get_by_role("button", name="Documents").click()
    word = upload(page, "Keeper manual.docx", handbook_docx(),
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert word.locator(".upload-status").inner_text().startswith('Added "Lighthouse Keeping Manual"')
    page.get_by_role("button", name="Close").first.click()
    page.select_option("#documents", "keeper-manual")
    turn = ask(page, "Who is the head keeper?")
    turn.get_by_role("button", name=re.compile("^Citation 1")).click()
    page.locator("#article mark").wait_for()
    assert page.locator("#viewer-where").inner_text() == "Section: Lighthouse Keeping Manual › 2 Scope › 2.1 Audience"
    assert page.locator("#toggle-view").is_hidden() and page.locator("#article mark").inner_text() == "Oskar Brandt"

    page.get_by_role("button", name="Documents").click()
    refused = upload(page, "locked.pdf", encrypted(handbook_pdf().content))
    assert "encrypted" in refused.locator(".upload-status").inner_text()
    assert refused.locator("[role=alert]").count() == 1

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Delete {HEADER}").click()  # another test stored a copy with the same title
    row.wait_for(state="detached")
    assert page.locator("#documents option[value='harbour-handbook']").count() == 0
    assert httpx.get(f"{server.url}/v1/documents/harbour-handbook", headers=ADMIN).status_code == 404

    page.get_by_role("button", name="Clear token").click()
    assert page.evaluate("sessionStorage.getItem('citeqa-admin-token')") is None
    assert page.locator("#upload-area").is_hidden()
    assert not errors, errors
    context.close()


def test_file_names_run_nothing_and_the_keyboard_works(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#documents option:nth-child(2)", state="attached")
    page.locator("#open-documents").focus()
    page.keyboard.press("Enter")
    assert page.locator("#documents-panel").is_visible()
    assert page.evaluate("document.activeElement.id") == "admin-token"
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    page.locator("#upload").wait_for(state="visible")
    hostile = '<img src=x onerror="window.__xss=1">.txt'
    item = upload(page, hostile, b"The harbour bell is rung by Tomas Wren at noon.", "text/plain")
    assert item.locator(".upload-name").inner_text() == hostile
    page.locator("#document-table tbody tr[data-id^='img-src-x-onerror']").wait_for()  # the browser sends " as %22
    assert page.evaluate("window.__xss") is None
    assert page.locator("#documents-panel img, #document-table img").count() == 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at phone width"
    page.keyboard.press("Escape")
    assert page.locator("#documents-panel").is_hidden()
    assert page.evaluate("document.activeElement.id") == "open-documents"
    context.close()


def test_screenshots_of_a_real_pdf_citation(browser, server) -> None:  # type: ignore[no-untyped-def]
    """The NIST Framework with a citation on its page, at desktop and phone width: saved in test-output/, and
    as docs/screenshot-desktop.png and docs/screenshot-phone.png when CITEQA_UPDATE_SCREENSHOTS=1."""
    framework = Path(__file__).resolve().parents[1] / "fixtures" / "pdf" / "NIST.CSWP.04162018.pdf"
    created = httpx.post(f"{server.url}/v1/documents", files={"file": (framework.name, framework.read_bytes())},
                         headers=ADMIN, timeout=120, params={"replace": True})
    assert created.status_code == 201, created.text
    document = created.json()["id"]
    for name, viewport, scale in (("desktop", {"width": 1280, "height": 800}, 1),
                                  ("phone", {"width": 390, "height": 844}, 2)):
        context = browser.new_context(viewport=viewport, device_scale_factor=scale)
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector(f"#documents option[value='{document}']", state="attached")
        page.select_option("#documents", document)
        turn = ask(page, "What does the Detect Function enable?")
        turn.get_by_role("button", name=re.compile("^Citation 1")).click()
        page.wait_for_function("() => document.getElementById('page-image').naturalWidth > 0")
        box = page.locator(".page-box").first
        box.wait_for()
        assert page.locator("#viewer-where").inner_text() == "page 14 · 2.1 Framework Core"
        if name == "phone":
            box.scroll_into_view_if_needed()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"screenshot-{name}.png"))
        if os.environ.get("CITEQA_UPDATE_SCREENSHOTS") == "1":
            page.screenshot(path=str(DOCS / f"screenshot-{name}.png"))
        context.close()
