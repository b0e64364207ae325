"""Loading text, Markdown and HTML into validated documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.documents import DocumentError, load_document, load_file, make_document, slugify, validate_id

ARTICLE = Path(__file__).resolve().parents[2] / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"


def test_default_article_takes_date_and_title_from_first_line() -> None:
    document = load_file(ARTICLE)
    assert document.id == "ukraine-retakes-bakhmut-2023-05-13"
    assert document.metadata["date"] == "2023-05-13"
    assert document.title == "Ukraine retakes Bakhmut, reversing Russian gains."
    assert document.text == ARTICLE.read_text(encoding="utf-8")


def test_html_keeps_article_text_and_drops_script_style_nav() -> None:
    html = """<html><head><title>Page</title><style>p{color:red}</style><script>var secret=1;</script></head>
    <body><nav>Home | About</nav><article><h1>Big news</h1><p>First paragraph.</p><p>Second one.</p></article>
    <footer>Copyright</footer></body></html>"""
    document = load_document(html, filename="page.html")
    assert "First paragraph." in document.text and "Second one." in document.text
    for dropped in ("secret", "color:red", "Home | About", "Copyright"):
        assert dropped not in document.text
    assert document.title == "Page"


def test_markdown_becomes_plain_text_with_heading_title() -> None:
    document = load_document("# My Title\n\nSome **bold** text and a [link](http://x).\n", filename="notes.md")
    assert document.title == "My Title"
    assert "Some bold text and a link." in document.text
    assert "**" not in document.text and "http://x" not in document.text


@pytest.mark.parametrize(
    ("content", "filename", "code"),
    [
        ("   \n\t ", "a.txt", "empty_document"),
        (b"\x00\x01\x02\xff\xfe" * 50, "a.txt", "binary_content"),
        (b"\xff\xfe\xfa text", "a.txt", "not_utf8"),
        ("hello", "a.pdf", "unsupported_file_type"),
    ],
)
def test_bad_input_fails_with_a_named_problem(content: str | bytes, filename: str, code: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_document(content, filename=filename)
    assert caught.value.code == code
    assert str(caught.value)


def test_size_limit() -> None:
    with pytest.raises(DocumentError) as caught:
        make_document("word " * 100, max_chars=50)
    assert caught.value.code == "document_too_large"
    assert "50" in str(caught.value)


@pytest.mark.parametrize("bad", ["", "has space", "ünïcode", "a/b", "x" * 129, "trailing\n", ".", ".."])
def test_invalid_ids_are_rejected(bad: str) -> None:
    with pytest.raises(DocumentError) as caught:
        validate_id(bad)
    assert caught.value.code == "invalid_document_id"


def test_slug_is_a_valid_id() -> None:
    assert validate_id(slugify("Ça va? Ünïcode & spaces / slashes")) == "ca-va-unicode-spaces-slashes"


@pytest.mark.parametrize(("field", "arguments"), [
    ("document text", {"text": "Fine so far \ud83d then not."}),
    ("title", {"text": "Fine text.", "title": "Bad \udc00 title"}),
    ("metadata key", {"text": "Fine text.", "metadata": {"k\ud83d": "v"}}),
    ("metadata value", {"text": "Fine text.", "metadata": {"k": "\ud83d"}}),
])
def test_lone_surrogates_are_refused_anywhere_in_a_document(field: str, arguments: dict) -> None:
    text = arguments.pop("text")
    with pytest.raises(DocumentError) as raised:
        make_document(text, **arguments)
    assert raised.value.code == "invalid_text" and field in str(raised.value)
    str(raised.value).encode("utf-8")  # the message itself can be sent


@pytest.mark.parametrize(("first", "second"), [("文書", "報告"), ("報告 2023", "文書 2023"), ("---", "..."),
                                               ("Straße", "Strae")])
def test_names_that_lose_characters_get_distinct_ids(first: str, second: str) -> None:
    ids = slugify(first), slugify(second)
    assert ids[0] != ids[1]
    assert all(validate_id(i) == i for i in ids)
    assert slugify(first) == ids[0]  # the same name always gives the same id


def test_files_with_no_ascii_letters_do_not_share_an_id() -> None:
    ids = {load_document(b"Some text.", filename=name).id for name in ("文書.txt", "報告.txt", "Документ.txt")}
    assert len(ids) == 3 and "document" not in ids
