"""The one SQuAD parser: v2.0's unanswerable questions, gzipped files and the first N articles."""

from __future__ import annotations

import gzip
from pathlib import Path

from lab.squad import SquadAnswer, read_squad

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-squad-v2.json"


def test_articles_keep_paragraphs_questions_and_answer_offsets() -> None:
    [article] = read_squad(TINY)
    assert article.title == "Mount_Kelra" and len(article.paragraphs) == 2
    first = article.paragraphs[0]
    assert first.questions[0].id == "k1" and first.questions[0].answers == (SquadAnswer("1821", 66),)
    assert first.context[66:70] == "1821"
    assert [qa.answers for qa in article.paragraphs[1].questions if qa.id == "k4"] == [()]  # is_impossible


def test_a_gzipped_file_reads_the_same_and_max_articles_cuts(tmp_path: Path) -> None:
    packed = tmp_path / "tiny.json.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as handle:
        handle.write(TINY.read_text(encoding="utf-8"))
    assert read_squad(packed) == read_squad(TINY)
    assert read_squad(TINY, 0) == []
