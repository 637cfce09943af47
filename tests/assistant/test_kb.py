from __future__ import annotations

import pytest

from sportello.assistant.cli import demo_kb_text
from sportello.assistant.kb import KBValidationError, Topic, dump_kb_yaml, load_kb_yaml

BAD = """\
- id: parking
  it:
    title: Parcheggio
    questions: []
    answer: Il parcheggio è in via Roma.
- id: parking
  en:
    title: 3
    questions: ["Where can I park?"]
    colour: blue
- tags: [x]
"""


def test_every_problem_reported_with_line_and_field() -> None:
    with pytest.raises(KBValidationError) as exc:
        load_kb_yaml(BAD)
    found = {(p.line, p.field) for p in exc.value.problems}
    assert (4, "topic parking.it.questions") in found
    assert (6, "topic parking.id") in found  # duplicate id
    assert (8, "topic parking.en.title") in found
    assert (10, "topic parking.en.colour") in found
    assert any(p.line == 11 and p.field.endswith(".id") for p in exc.value.problems)
    assert "line 4" in str(exc.value)


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(KBValidationError) as exc:
        load_kb_yaml("- id: a\n  it:\n    title: [unclosed\n")
    assert exc.value.problems[0].field == "yaml"


def test_not_a_list() -> None:
    with pytest.raises(KBValidationError):
        load_kb_yaml("id: a\n")


def test_shared_kb_round_trips(lucine_topics: list[Topic]) -> None:
    assert len(lucine_topics) == 26
    assert load_kb_yaml(dump_kb_yaml(lucine_topics)) == lucine_topics


def test_awkward_text_round_trips() -> None:
    text = '- id: x\n  en:\n    title: "Colon: yes # hash"\n    questions: ["- dash?", "\'quoted\'"]\n    answer: "  leading space\\nand: more  "\n'
    topics = load_kb_yaml(text)
    assert load_kb_yaml(dump_kb_yaml(topics)) == topics


def test_demo_kb_is_valid_and_bilingual() -> None:
    topics = load_kb_yaml(demo_kb_text())
    assert len(topics) >= 20
    assert all(set(t.texts) == {"it", "en"} for t in topics)
