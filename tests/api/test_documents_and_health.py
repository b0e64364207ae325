"""Document CRUD over HTTP, health, readiness and metrics (in-process, on the session app of each backend)."""

from __future__ import annotations

import pytest


def test_health_ready_and_metrics(in_process) -> None:
    client = in_process.client(token=None)
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["documents"] >= 1
    client.post("/v1/ask", json={"question": "Who is Yevgeny Prigozhin?"}, headers={
        "Authorization": "Bearer admin-secret-for-tests"})
    metrics = client.get("/metrics").text
    for name in ("citeqa_http_requests_total", "citeqa_http_request_seconds", "citeqa_answer_seconds",
                 "citeqa_abstentions_total", "citeqa_documents", "citeqa_chunks"):
        assert name in metrics
    assert 'route="/v1/ask"' in metrics


@pytest.mark.embedded_only  # the API's description, no store
def test_openapi_documents_offsets(client) -> None:
    schema = client.get("/openapi.json").json()
    assert "/v1/ask" in schema["paths"] and "/v1/chat/completions" in schema["paths"]
    assert "code points" in schema["components"]["schemas"]["CitationOut"]["properties"]["start"]["description"]


def test_add_read_ask_replace_delete(client) -> None:
    text = "Café 😀 notes: the élan of Zoë. The secret ingredient of the soup is smoked paprika."
    created = client.post("/v1/documents", json={"id": "soup", "title": "Soup", "text": text,
                                                  "metadata": {"source": "test"}})
    assert created.status_code == 201 and created.json()["id"] == "soup" and created.json()["chunks"] >= 1
    assert "soup" in [d["id"] for d in client.get("/v1/documents").json()["documents"]]
    stored = client.get("/v1/documents/soup").json()
    assert stored["text"] == text and stored["metadata"] == {"source": "test"}
    body = client.post("/v1/ask", json={"question": "What is the secret ingredient of the soup?",
                                        "document_ids": ["soup"]}).json()
    assert body["answer"] is not None and "paprika" in body["answer"]
    citation = body["citations"][0]
    assert text[citation["start"] : citation["end"]] == citation["text"]  # code-point offsets
    replaced = client.post("/v1/documents", json={"id": "soup", "text": "The soup now uses saffron."})
    assert replaced.status_code == 201 and replaced.json()["replaced"] is True
    assert client.delete("/v1/documents/soup").status_code == 204
    assert client.get("/v1/documents/soup").status_code == 404
    assert client.delete("/v1/documents/soup").status_code == 404


def test_upload_html_file(client) -> None:
    html = b"<html><head><title>Moon</title><script>alert(1)</script></head><body><nav>menu</nav>" \
           b"<article><p>The Moon orbits the Earth every 27 days.</p></article></body></html>"
    created = client.post("/v1/documents", files={"file": ("moon.html", html, "text/html")})
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    text = client.get(f"/v1/documents/{document_id}").json()["text"]
    assert "orbits the Earth" in text and "alert" not in text and "menu" not in text
    assert client.delete(f"/v1/documents/{document_id}").status_code == 204


@pytest.mark.embedded_only  # the event loop's timing, whatever the store
def test_healthz_answers_while_questions_are_worked_on(in_process) -> None:
    import threading
    import time

    stop, answered = threading.Event(), []

    def ask() -> None:  # each asker its own client, all on the app's one event loop; asking until told to stop,
        client = in_process.client()  # so the reader is busy however fast the backend answers one question
        while not stop.is_set():
            answered.append(client.post("/v1/ask", json={"question": "Who is Yevgeny Prigozhin?"}).status_code)

    askers = [threading.Thread(target=ask) for _ in range(6)]
    for thread in askers:
        thread.start()
    time.sleep(0.2)
    started = time.perf_counter()
    health = in_process.client(token=None).get("/healthz")
    waited = time.perf_counter() - started
    busy = all(thread.is_alive() for thread in askers)
    stop.set()
    for thread in askers:
        thread.join()
    assert health.status_code == 200
    assert busy and waited < 2.0  # the event loop is free while the reader works in a thread
    assert answered and set(answered) == {200}


def test_readyz_is_503_until_models_are_loaded(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    # No lifespan here, so nothing loads: this checks the not-ready answers without models.
    client = TestClient(create_app(Settings.of(data_dir=tmp_path)))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    error = client.post("/v1/ask", json={"question": "who?"})
    assert error.status_code == 503 and error.json()["error"]["code"] == "not_ready"


def test_a_failed_load_is_reported_not_loading_forever(tmp_path) -> None:
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    settings = Settings.of(data_dir=tmp_path / "data", ingest_default_corpus=False, path=tmp_path / "no-reader")
    with TestClient(create_app(settings)) as client:  # the lifespan starts the load, which fails
        deadline = time.monotonic() + 60
        while (ready := client.get("/readyz")).json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status_code == 503 and ready.json()["status"] == "failed"
        assert "no reader model" in ready.json()["error"]
        error = client.post("/v1/ask", json={"question": "who?"})
        assert error.status_code == 503 and error.json()["error"]["code"] == "load_failed"


@pytest.mark.embedded_only  # only an SQLite store can predate the input checks
def test_a_stored_lone_surrogate_does_not_break_listing_or_reading(tmp_path, index) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import Services
    from api.settings import Settings
    from index.documents import Document

    # A store written before input was checked: the metadata value went in as a JSON escape.
    index.indexer.add(Document("old", "Old", "An old document about the Moon.", {"k": "a\ud83db", "fine": "yes"}))
    settings = Settings.of(data_dir=tmp_path)
    app = create_app(settings, services=Services(settings, index, None, None))  # type: ignore[arg-type]
    client = TestClient(app)
    listed = client.get("/v1/documents")
    assert listed.status_code == 200, listed.text
    assert listed.json()["documents"][0]["metadata"] == {"k": "a\ufffdb", "fine": "yes"}
    read = client.get("/v1/documents/old")
    assert read.status_code == 200 and read.json()["text"] == "An old document about the Moon."


def test_uploads_never_overwrite_each_other_by_name(client) -> None:
    first = client.post("/v1/documents", files={"file": ("文書.txt", b"The first file talks about rivers.")})
    second = client.post("/v1/documents", files={"file": ("報告.txt", b"The second file talks about hills.")})
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    ids = first.json()["id"], second.json()["id"]
    assert ids[0] != ids[1] and not first.json()["replaced"] and not second.json()["replaced"]

    again = client.post("/v1/documents", files={"file": ("文書.txt", b"A different text, same name.")})
    assert again.status_code == 409 and again.json()["error"]["code"] == "document_exists", again.text
    assert client.get(f"/v1/documents/{ids[0]}").json()["text"] == "The first file talks about rivers."

    replaced = client.post("/v1/documents", params={"replace": "true"},
                           files={"file": ("文書.txt", b"A different text, same name.")})
    assert replaced.status_code == 201 and replaced.json() | {"id": ids[0], "replaced": True} == replaced.json()
    assert client.get(f"/v1/documents/{ids[0]}").json()["text"] == "A different text, same name."
    for document_id in ids:
        assert client.delete(f"/v1/documents/{document_id}").status_code == 204


def test_json_without_an_id_does_not_replace_by_title_either(client) -> None:
    first = client.post("/v1/documents", json={"title": "Lighthouse", "text": "The lighthouse is red."})
    assert first.status_code == 201 and first.json()["id"] == "lighthouse"
    again = client.post("/v1/documents", json={"title": "Lighthouse", "text": "The lighthouse is blue."})
    assert again.status_code == 409 and again.json()["error"]["code"] == "document_exists"
    assert client.get("/v1/documents/lighthouse").json()["text"] == "The lighthouse is red."
    named = client.post("/v1/documents", json={"id": "lighthouse", "text": "The lighthouse is green."})
    assert named.status_code == 201 and named.json()["replaced"] is True
    assert client.delete("/v1/documents/lighthouse").status_code == 204


@pytest.mark.parametrize("payload", [
    {"text": "Fine text.", "title": "a\x00b"},
    {"text": "Fine text.", "metadata": {"source": "a\x00"}},
    {"text": "Fine text.", "metadata": {"so\x00urce": "a"}},
], ids=["title", "metadata value", "metadata key"])
def test_a_nul_in_a_title_or_metadata_is_refused_on_either_store(client, payload: dict) -> None:
    # PostgreSQL text cannot hold NUL: the server backend failed the write with a 500 (SQLite took it).
    before = client.get("/v1/documents").json()["documents"]
    response = client.post("/v1/documents", json=payload)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_text", response.text
    assert "NUL" in response.json()["error"]["message"]
    assert client.get("/v1/documents").json()["documents"] == before
    upload = client.post("/v1/documents", data={"title": "a\x00b"}, files={"file": ("nul.txt", b"Fine text.")})
    assert upload.status_code == 422 and upload.json()["error"]["code"] == "invalid_text", upload.text


@pytest.mark.embedded_only  # refused before the store is asked
def test_multipart_title_has_the_json_cap(client) -> None:
    response = client.post("/v1/documents", data={"title": "t" * 501},
                           files={"file": ("long-title.txt", b"A text with a very long title.")})
    assert response.status_code == 422 and "500" in response.json()["error"]["message"], response.text
    assert client.get("/v1/documents/long-title").status_code == 404
