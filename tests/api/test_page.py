"""The chat page in a real browser (Debian's Chromium, driven by Playwright) against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
ADMIN = {"Authorization": "Bearer admin-secret-for-tests"}

pytestmark = [
    pytest.mark.slow,  # a real server and a real browser
    pytest.mark.embedded_only,  # the page is under test; its answers come from the API tested on both stores
]  # `browser` (tests/api/conftest.py) skips these where Chromium is missing


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(server.url)
    opened.wait_for_selector("#documents option:nth-child(2)", state="attached")
    yield opened
    context.close()
    assert not errors, errors


def ask(page, question: str) -> object:  # type: ignore[no-untyped-def]
    box = page.get_by_role("textbox", name=re.compile("question", re.IGNORECASE))
    before = page.locator(".turn.assistant").count()
    box.fill(question)
    box.press("Enter")
    turn = page.locator(".turn.assistant").nth(before)
    turn.locator(".citations, .meta").first.wait_for(timeout=60_000)
    return turn


def open_first_citation(page, turn) -> str:  # type: ignore[no-untyped-def]
    turn.get_by_role("button", name=re.compile("^Citation")).first.click()
    mark = page.locator("#article mark")
    mark.wait_for()
    return str(mark.inner_text())


def test_ask_cite_follow_up_and_unanswerable(page, server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    log = page.get_by_role("log")
    assert log.get_attribute("aria-live") == "polite"
    turn = ask(page, "who said the troops were fleeing?")
    assert "Yevgeny Prigozhin" in turn.inner_text()
    expected = httpx.post(f"{server.url}/v1/ask", json={"question": "who said the troops were fleeing?"},
                          headers=ADMIN, timeout=60).json()["citations"][0]["text"]
    assert open_first_citation(page, turn) == expected
    assert page.locator("#article .evidence").is_visible()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "page-citation.png"), full_page=False)

    follow_up = ask(page, "What did he say the Ministry of Defence was discussing?")
    assert "do not answer" not in follow_up.inner_text()
    assert follow_up.get_by_role("button", name=re.compile("^Citation")).count() >= 1

    unanswered = ask(page, "Who won the 2022 World Cup?")
    assert "do not answer" in unanswered.inner_text()

    page.get_by_role("button", name="New conversation").click()
    assert page.locator(".turn").count() == 0


def test_code_point_offsets_with_emoji_and_accents(browser, server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    text = ("Préface 😀😀 — café, naïve, Zoë 🇫🇷 and 𝒳 symbols. "
            "The lighthouse keeper on the island is named Ambrose Quill.")
    assert httpx.post(f"{server.url}/v1/documents", json={"id": "emoji-doc", "title": "Émoji 😀 test",
                                                          "text": text}, headers=ADMIN, timeout=120).status_code == 201
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#documents option[value='emoji-doc']", state="attached")
    page.select_option("#documents", "emoji-doc")
    turn = ask(page, "Who is the lighthouse keeper on the island?")
    assert open_first_citation(page, turn) == "Ambrose Quill"
    context.close()


def test_hostile_document_runs_nothing(browser, server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    hostile_title = '<img src=x onerror="window.__xss=1">'
    text = ('Warning <script>window.__xss=1</script> and <img src=x onerror="window.__xss=1"> appear here. '
            "The vault code is kept by Marta Velez.")
    assert httpx.post(f"{server.url}/v1/documents", json={"id": "hostile", "title": hostile_title, "text": text},
                      headers=ADMIN, timeout=120).status_code == 201
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(server.url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#documents option[value='hostile']", state="attached")
    page.select_option("#documents", "hostile")
    turn = ask(page, "Who keeps the vault code?")
    open_first_citation(page, turn)
    article = page.locator("#article").inner_text()
    assert "<script>window.__xss=1</script>" in article
    assert page.evaluate("window.__xss") is None
    assert page.locator("#documents option[value='hostile']").inner_text() == hostile_title
    assert page.locator("#article img, #transcript img, #article script").count() == 0
    context.close()


def test_phone_width_screenshot(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#documents option:nth-child(2)", state="attached")
    turn = ask(page, "who said the troops were fleeing?")
    open_first_citation(page, turn)
    viewer = page.locator("#viewer")
    chat = page.locator(".chat")
    assert viewer.bounding_box()["y"] >= chat.bounding_box()["y"]  # the article sits below the chat
    OUTPUT.mkdir(exist_ok=True)
    page.locator("#article mark").scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "page-phone.png"))
    context.close()
