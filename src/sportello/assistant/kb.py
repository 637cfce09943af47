"""Knowledge-base topics and their YAML form: strict import (line and field of each problem), export."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_LANG = re.compile(r"^[a-z]{2}$")
_TOPIC_KEYS = {"id", "tags"}
_TEXT_KEYS = ("title", "questions", "answer")
MAX_ANSWER_CHARS = 4000
MAX_TITLE_CHARS = 200
MAX_QUESTION_CHARS = 500


@dataclass(frozen=True)
class TopicText:
    """One language of a topic: a title, sample questions a visitor might ask, and the answer."""

    title: str
    questions: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Topic:
    """A knowledge-base topic with its text in one or more languages."""

    id: str
    tags: tuple[str, ...] = ()
    texts: dict[str, TopicText] = field(default_factory=dict)

    def text(self, lang: str, fallback: str | None = None) -> TopicText:
        """The text in lang, else in fallback, else in the first language the topic has."""
        if lang in self.texts:
            return self.texts[lang]
        if fallback is not None and fallback in self.texts:
            return self.texts[fallback]
        return next(iter(self.texts.values()))


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is and what is wrong."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class KBValidationError(ValueError):
    """The knowledge base was rejected as a whole; problems lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid knowledge base:\n" + "\n".join(str(p) for p in problems))


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, node: yaml.Node, where: str, message: str) -> None:
        self.problems.append(Problem(_line(node), where, message))

    def string(self, node: yaml.Node, where: str, max_chars: int) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            self.add(node, where, "must be text")
            return None
        value = str(node.value).strip()
        if not value:
            self.add(node, where, "must not be empty")
            return None
        if len(value) > max_chars:
            self.add(node, where, f"is longer than {max_chars} characters")
            return None
        return value

    def mapping(self, node: yaml.Node, where: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.add(node, where, "must be a mapping of keys to values")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                self.add(key_node, where, "keys must be plain words")
                continue
            if key in out:
                self.add(key_node, f"{where}.{key}", "appears twice")
                continue
            out[key] = (key_node, value_node)
        return out

    def text(self, node: yaml.Node, where: str) -> TopicText | None:
        fields = self.mapping(node, where)
        if fields is None:
            return None
        for key, (key_node, _) in fields.items():
            if key not in _TEXT_KEYS:
                self.add(key_node, f"{where}.{key}", f"unknown field (expected {', '.join(_TEXT_KEYS)})")
        for key in _TEXT_KEYS:
            if key not in fields:
                self.add(node, f"{where}.{key}", "is missing")
        title = self.string(fields["title"][1], f"{where}.title", MAX_TITLE_CHARS) if "title" in fields else None
        answer = self.string(fields["answer"][1], f"{where}.answer", MAX_ANSWER_CHARS) if "answer" in fields else None
        questions: list[str] = []
        ok = True
        if "questions" in fields:
            qnode = fields["questions"][1]
            if not isinstance(qnode, yaml.SequenceNode) or not qnode.value:
                self.add(qnode, f"{where}.questions", "must be a non-empty list of questions")
                ok = False
            else:
                for i, item in enumerate(qnode.value):
                    q = self.string(item, f"{where}.questions[{i}]", MAX_QUESTION_CHARS)
                    if q is None:
                        ok = False
                    else:
                        questions.append(q)
        if title is None or answer is None or not ok or "questions" not in fields:
            return None
        return TopicText(title=title, questions=tuple(questions), answer=answer)

    def topic(self, node: yaml.Node, index: int, seen: dict[str, int]) -> Topic | None:
        where = f"topic[{index}]"
        fields = self.mapping(node, where)
        if fields is None:
            return None
        topic_id: str | None = None
        if "id" not in fields:
            self.add(node, f"{where}.id", "is missing")
        else:
            topic_id = self.string(fields["id"][1], f"{where}.id", 80)
            if topic_id is not None:
                where = f"topic {topic_id}"
                id_node = fields["id"][1]
                if not _ID.match(topic_id):
                    self.add(id_node, f"{where}.id", "use lower-case letters, digits, '-' and '_'")
                    topic_id = None
                elif topic_id in seen:
                    self.add(id_node, f"{where}.id", f"duplicate id (first used on line {seen[topic_id]})")
                    topic_id = None
                else:
                    seen[topic_id] = _line(id_node)
        tags: list[str] = []
        if "tags" in fields:
            tnode = fields["tags"][1]
            if not isinstance(tnode, yaml.SequenceNode):
                self.add(tnode, f"{where}.tags", "must be a list of words")
            else:
                for i, item in enumerate(tnode.value):
                    tag = self.string(item, f"{where}.tags[{i}]", 40)
                    if tag is not None:
                        tags.append(tag)
        texts: dict[str, TopicText] = {}
        for key, (key_node, value_node) in fields.items():
            if key in _TOPIC_KEYS:
                continue
            if not _LANG.match(key):
                self.add(key_node, f"{where}.{key}", "unknown field (expected id, tags or a two-letter language code)")
                continue
            text = self.text(value_node, f"{where}.{key}")
            if text is not None:
                texts[key] = text
        if not any(_LANG.match(k) for k in fields):
            self.add(node, where, "needs at least one language (e.g. it:, en:)")
        if topic_id is None or not texts:
            return None
        return Topic(id=topic_id, tags=tuple(tags), texts=texts)


def load_kb_yaml(source: str | Path) -> list[Topic]:
    """Parse and validate a knowledge base; raise KBValidationError listing every problem.

    source is YAML text or a Path to a file. Nothing is returned unless the whole file is valid.
    """
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        raise KBValidationError([Problem(line, "yaml", str(exc.problem or exc))]) from exc
    except yaml.YAMLError as exc:
        raise KBValidationError([Problem(1, "yaml", str(exc))]) from exc
    if root is None:
        raise KBValidationError([Problem(1, "file", "is empty: expected a list of topics")])
    checker = _Checker()
    if not isinstance(root, yaml.SequenceNode):
        checker.add(root, "file", "must be a list of topics (each starting with '- id:')")
        raise KBValidationError(checker.problems)
    topics: list[Topic] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(root.value):
        topic = checker.topic(node, i, seen)
        if topic is not None:
            topics.append(topic)
    if not root.value:
        checker.add(root, "file", "has no topics")
    if checker.problems:
        raise KBValidationError(sorted(checker.problems, key=lambda p: p.line))
    return topics


def load_kb_file(path: str | Path) -> list[Topic]:
    """load_kb_yaml for a file name."""
    return load_kb_yaml(Path(path))


def _scalar(value: str) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30)
    if dumped.endswith("\n...\n"):
        dumped = dumped[: -len("\n...\n")]
    return dumped.strip()


def _block(value: str, indent: str) -> str:
    lines = value.split("\n")
    literal_ok = value == value.strip() and not any(line != line.rstrip() for line in lines)
    literal_ok = literal_ok and "\t" not in value and not lines[0].startswith(" ")
    if not literal_ok:
        return " " + _scalar(value)
    return " |\n" + "\n".join(f"{indent}{line}" if line else "" for line in lines)


def dump_kb_yaml(topics: list[Topic], header: str | None = None) -> str:
    """YAML text in the import format; load_kb_yaml(dump_kb_yaml(t)) == t."""
    out: list[str] = []
    if header:
        out.extend(f"# {line}".rstrip() for line in header.splitlines())
    for n, topic in enumerate(topics):
        if n:
            out.append("")
        out.append(f"- id: {_scalar(topic.id)}")
        if topic.tags:
            out.append(f"  tags: [{', '.join(_scalar(t) for t in topic.tags)}]")
        for lang, text in topic.texts.items():
            out.append(f"  {lang}:")
            out.append(f"    title: {_scalar(text.title)}")
            out.append("    questions:")
            out.extend(f"      - {_scalar(q)}" for q in text.questions)
            out.append("    answer:" + _block(text.answer, "      "))
    return "\n".join(out) + "\n"
