"""`sportello assistant ask`: answer questions from a knowledge-base file, with no server or database."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from .engine import build_assistant
from .kb import KBValidationError, load_kb_yaml


def demo_kb_text() -> str:
    """The demo knowledge base that ships with the product (Lucine di Natale)."""
    return resources.files("sportello.assistant").joinpath("data/demo_kb.yaml").read_text(encoding="utf-8")


def ask_command(
    kb: str | None,
    as_json: bool,
    questions: list[str],
    semantic: bool | None = None,
    lang: str = "it",
) -> int:
    """Answer each question (or each stdin line when none are given); return the exit status."""
    try:
        topics = load_kb_yaml(Path(kb)) if kb else load_kb_yaml(demo_kb_text())
    except KBValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot read {kb}: {exc}", file=sys.stderr)
        return 2
    assistant = build_assistant(topics, default_lang=lang, semantic=semantic)
    source = questions or (line.strip() for line in sys.stdin)
    out = sys.stdout
    for question in source:
        if not question:
            continue
        reply = assistant.reply(question)
        if as_json:
            record = {
                "question": question,
                "intent": reply.intent,
                "topic_id": reply.topic_id,
                "lang": reply.lang,
                "confidence": reply.confidence,
                "answer": reply.answer,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            topic = reply.topic_id or "-"
            out.write(f"[{reply.intent} {reply.lang} {topic} {reply.confidence:.2f}] {reply.answer}\n")
        out.flush()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `assistant ask`, for the main CLI to reuse."""
    parser.add_argument("--kb", help="knowledge-base YAML file (default: the demo knowledge base)")
    parser.add_argument("--json", action="store_true", help="one JSON object per question")
    parser.add_argument("--lang", default="it", help="fallback language (default: it)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--semantic", dest="semantic", action="store_true", default=None, help="require embeddings")
    group.add_argument("--lexical", dest="semantic", action="store_false", help="lexical ranking only")
    parser.add_argument("questions", nargs="*", help="questions (default: one per line on standard input)")


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m sportello.assistant.cli`."""
    parser = argparse.ArgumentParser(prog="sportello assistant ask", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return ask_command(args.kb, args.json, args.questions, semantic=args.semantic, lang=args.lang)


if __name__ == "__main__":
    raise SystemExit(main())
