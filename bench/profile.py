"""Summarise py-spy's collapsed stacks: `python -m bench.profile FILE [--top N] [--match TEXT]`.

`BENCH_PYSPY=prefix` makes the benchmarks record each server with `py-spy record --format raw`
(one `prefix-PORT.txt` per server). This prints the frames with the most samples of their own
(self) and on the stack (inclusive), as shares of all samples, per thread kind.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# py-spy writes `function (file:line)`; the line number splits one function into many frames.
_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    name = _LINE.sub(")", frame.strip())
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in name:
            head, tail = name.split("(", 1)
            name = f"{head}({tail.split(marker, 1)[1]}"
            break
    return name


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int, match: str | None) -> str:
    total = sum(n for _, n in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        if match and not any(match in f for f in frames):
            continue
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    lines = [f"{total} samples" + (f", {sum(own.values())} with {match!r} on the stack" if match else "")]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", help="only stacks with a frame containing this text")
    args = parser.parse_args()
    print(summarise(load(args.file), args.top, args.match))


if __name__ == "__main__":
    main()
