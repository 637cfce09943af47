"""A simulated day at the desk, used to measure the wait estimate's error."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from sportello.queue.estimate import (
    Pool,
    estimate_by_language,
    estimate_waits,
    handle_for,
    typical_duration,
)


@dataclass
class DayResult:
    visitors: int
    waited: int
    mean_wait: float
    mae: float
    naive_mae: float
    p90_abs_error: float
    bias: float


def simulate_day(
    seed: int,
    *,
    slots: int = 9,
    mean_handle: float = 300.0,
    hours: float = 9.0,
    base_per_hour: float = 70.0,
    peak_per_hour: float = 125.0,
) -> DayResult:
    """FIFO queue over `slots` chat slots; estimates taken at each arrival, compared to reality."""
    rng = random.Random(seed)
    sigma = 0.6
    mu = math.log(mean_handle) - sigma**2 / 2
    arrivals: list[float] = []
    t = 0.0
    end = hours * 3600
    while True:
        # Two peaks (late morning and late afternoon) over a steady base.
        phase = t / end
        rate = base_per_hour + (peak_per_hour - base_per_hour) * max(
            math.exp(-(((phase - 0.3) / 0.08) ** 2)), math.exp(-(((phase - 0.8) / 0.08) ** 2))
        )
        t += rng.expovariate(rate / 3600)
        if t >= end:
            break
        arrivals.append(t)
    handles = [rng.lognormvariate(mu, sigma) for _ in arrivals]
    accepts = [rng.uniform(5, 25) for _ in arrivals]

    free_at = [0.0] * slots
    offered: list[float] = []
    ends: list[float] = []
    for a, h, acc in zip(arrivals, handles, accepts, strict=True):
        f = heapq.heappop(free_at)
        o = max(a, f)
        offered.append(o)
        ends.append(o + acc + h)
        heapq.heappush(free_at, o + acc + h)

    signed: list[float] = []
    errors: list[float] = []
    naive_errors: list[float] = []
    waits: list[float] = []
    for i, a in enumerate(arrivals):
        actual = offered[i] + accepts[i] - a
        ahead = sum(1 for j in range(i) if offered[j] > a)
        busy = [a - offered[j] for j in range(i) if offered[j] <= a < ends[j]]
        done = sorted((ends[j], handles[j]) for j in range(i) if ends[j] <= a)[-50:]
        recent_accepts = [accepts[j] for j in range(i) if offered[j] + accepts[j] <= a][-50:]
        handle = typical_duration([d for _, d in done], mean_handle)
        accept = typical_duration(recent_accepts, 15.0)
        position = ahead + 1
        estimate = estimate_waits(
            position, slots=slots, free_slots=slots - len(busy), handle=handle, accept=accept
        )[-1]
        assert estimate is not None
        if slots - len(busy) >= position:
            continue  # served at once: only waits that really happen are scored
        waits.append(actual)
        errors.append(abs(estimate - actual))
        signed.append(estimate - actual)
        naive_errors.append(abs(position * handle / slots - actual))
    errors_sorted = sorted(errors)
    return DayResult(
        visitors=len(arrivals),
        waited=len(waits),
        mean_wait=sum(waits) / max(len(waits), 1),
        mae=sum(errors) / max(len(errors), 1),
        naive_mae=sum(naive_errors) / max(len(naive_errors), 1),
        bias=sum(signed) / max(len(signed), 1),
        p90_abs_error=errors_sorted[int(0.9 * (len(errors_sorted) - 1))] if errors_sorted else 0.0,
    )




@dataclass
class LanguageDayResult:
    """Errors of the per-language estimate and of the global one, per visitor language."""

    waited: dict[str, int]
    mean_wait: dict[str, float]
    mae: dict[str, float]
    global_mae: dict[str, float]
    bias: dict[str, float]


def simulate_language_day(
    seed: int,
    *,
    pools: tuple[tuple[frozenset[str], int], ...] = (
        (frozenset({"it"}), 6),
        (frozenset({"en"}), 2),
        (frozenset({"it", "en"}), 1),
    ),
    share: dict[str, float] | None = None,
    mean_handle: dict[str, float] | None = None,
    hours: float = 9.0,
    base_per_hour: float = 70.0,
    peak_per_hour: float = 120.0,
) -> LanguageDayResult:
    """A desk with Italian, English and bilingual operators; visitors go to whoever speaks their language.

    Routing is the product's: when a slot frees it takes the first waiting visitor (arrival order)
    whose language it speaks; an arriving visitor takes a free slot that speaks theirs. At each
    arrival that has to wait, the wait is estimated with `estimate_by_language` (what the queue
    now shows) and with the single global pool (what it showed before), both measured the same way
    as the service does (recent handle times, a language's own once it has enough chats).
    """
    share = share or {"it": 0.75, "en": 0.25}
    mean_handle = mean_handle or {"it": 300.0, "en": 420.0}
    rng = random.Random(seed)
    sigma = 0.6
    end = hours * 3600
    arrivals: list[tuple[float, str]] = []
    t = 0.0
    langs = sorted(share)
    while True:
        phase = t / end
        rate = base_per_hour + (peak_per_hour - base_per_hour) * max(
            math.exp(-(((phase - 0.3) / 0.08) ** 2)), math.exp(-(((phase - 0.8) / 0.08) ** 2))
        )
        t += rng.expovariate(rate / 3600)
        if t >= end:
            break
        arrivals.append((t, rng.choices(langs, weights=[share[lang] for lang in langs])[0]))
    handles = [
        rng.lognormvariate(math.log(mean_handle[lang]) - sigma**2 / 2, sigma) for _, lang in arrivals
    ]
    accepts = [rng.uniform(5, 25) for _ in arrivals]

    slot_langs = [langs_ for langs_, n in pools for _ in range(n)]
    free = set(range(len(slot_langs)))
    busy: list[tuple[float, int]] = []
    waiting: list[int] = []
    offered: dict[int, float] = {}
    done: list[tuple[float, str, float]] = []  # (end, language, handle) of chats offered so far
    accepted: list[tuple[float, float]] = []  # (offered + accept, accept)
    estimates: dict[int, tuple[float, float]] = {}

    def start(i: int, slot: int, at: float) -> None:
        offered[i] = at
        finish = at + accepts[i] + handles[i]
        heapq.heappush(busy, (finish, slot))
        done.append((finish, arrivals[i][1], handles[i]))
        accepted.append((at + accepts[i], accepts[i]))

    def estimate(at: float, queue: list[int]) -> tuple[float, float]:
        recent = sorted((e, lang, h) for e, lang, h in done if e <= at)[-SAMPLES_WINDOW:]
        global_handle = typical_duration([h for _, _, h in recent[-50:]], 300.0)
        by_lang = {
            lang: handle_for([h for _, lang_, h in recent if lang_ == lang][-50:], global_handle)
            for lang in langs
        }
        accept = typical_duration([a for e, a in accepted if e <= at][-50:], 15.0)
        counts: dict[frozenset[str], list[int]] = {}
        for slot, speaks in enumerate(slot_langs):
            row = counts.setdefault(speaks, [0, 0])
            row[0] += 1
            row[1] += slot in free
        pool_list = [Pool(speaks, n, f) for speaks, (n, f) in counts.items()]
        languages = [arrivals[j][1] for j in queue]
        mine = estimate_by_language(
            languages, pool_list, handle=by_lang, default_handle=global_handle, accept=accept
        )[-1]
        before = estimate_waits(
            len(queue), slots=len(slot_langs), free_slots=len(free), handle=global_handle, accept=accept
        )[-1]
        assert mine is not None and before is not None
        return mine, before

    i = 0
    while i < len(arrivals) or busy:
        next_arrival = arrivals[i][0] if i < len(arrivals) else math.inf
        if next_arrival <= (busy[0][0] if busy else math.inf):
            at, lang = arrivals[i]
            options = sorted(s for s in free if lang in slot_langs[s])
            if options:
                slot = rng.choice(options)
                free.discard(slot)
                start(i, slot, at)
            else:
                estimates[i] = estimate(at, [*waiting, i])
                waiting.append(i)
            i += 1
            continue
        at, slot = heapq.heappop(busy)
        free.add(slot)
        taker = next((j for j in waiting if arrivals[j][1] in slot_langs[slot]), None)
        if taker is not None:
            waiting.remove(taker)
            free.discard(slot)
            start(taker, slot, at)

    result = LanguageDayResult({}, {}, {}, {}, {})
    for lang in langs:
        scored = [j for j in estimates if arrivals[j][1] == lang]
        actual = [offered[j] + accepts[j] - arrivals[j][0] for j in scored]
        mine = [estimates[j][0] for j in scored]
        before = [estimates[j][1] for j in scored]
        n = max(len(scored), 1)
        result.waited[lang] = len(scored)
        result.mean_wait[lang] = sum(actual) / n
        result.mae[lang] = sum(abs(e - a) for e, a in zip(mine, actual, strict=True)) / n
        result.global_mae[lang] = sum(abs(e - a) for e, a in zip(before, actual, strict=True)) / n
        result.bias[lang] = sum(e - a for e, a in zip(mine, actual, strict=True)) / n
    return result


SAMPLES_WINDOW = 200  # recent chats searched for each language's sample, as the service does


if __name__ == "__main__":
    for seed in range(5):
        print(simulate_day(seed))
        print(simulate_language_day(seed))
