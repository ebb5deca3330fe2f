"""Regenerate examples/arithmetic.jsonl: 100 distinct seeded arithmetic word problems with exact answers.

A question drawn twice is drawn again: a repeated question hits the cache on a first run, so a
newcomer's "cached 8" on an empty cache would look like a bug.
"""

import json
import random
from pathlib import Path

rng = random.Random(20251125)


def draw(kind: int) -> tuple[str, int]:
    a, b = rng.randint(2, 49), rng.randint(2, 49)
    if kind == 0:
        q, ans = f"What is {a} + {b}?", a + b
    elif kind == 1:
        a, b = max(a, b), min(a, b)
        q, ans = f"What is {a} - {b}?", a - b
    elif kind == 2:
        a = rng.randint(2, 12)
        b = rng.randint(2, 12)
        q, ans = f"What is {a} times {b}?", a * b
    else:
        q, ans = f"Tom has {a} apples and buys {b} more. How many apples does he have now?", a + b
    return q, ans


rows: list[dict[str, str]] = []
seen: set[str] = set()
for i in range(100):
    q, ans = draw(i % 4)
    while q in seen:
        q, ans = draw(i % 4)
    seen.add(q)
    rows.append({"id": f"arith-{i:03d}", "question": q + " Put the final answer in \\boxed{}.", "answer": str(ans)})
out = Path(__file__).with_name("arithmetic.jsonl")
out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
print(f"wrote {len(rows)} problems to {out}")
