"""Sets of stored step ranges: what makes appends idempotent and gaps visible."""

from __future__ import annotations


class Ranges:
    """Disjoint, sorted half-open integer ranges ``[a, b)``, merged when they touch."""

    def __init__(self, spans: list[tuple[int, int]] | None = None):
        self.spans: list[tuple[int, int]] = []
        for a, b in spans or []:
            self.add(a, b)

    def copy(self) -> Ranges:
        r = Ranges()
        r.spans = list(self.spans)
        return r

    def add(self, a: int, b: int) -> None:
        if b <= a:
            return
        out, placed = [], False
        for s, e in self.spans:
            if e < a:
                out.append((s, e))
            elif b < s:
                if not placed:
                    out.append((a, b))
                    placed = True
                out.append((s, e))
            else:
                a, b = min(a, s), max(b, e)
        if not placed:
            out.append((a, b))
        self.spans = sorted(out)

    def missing(self, a: int, b: int) -> list[tuple[int, int]]:
        """Parts of ``[a, b)`` not covered, in order."""
        out, cur = [], a
        for s, e in self.spans:
            if e <= cur:
                continue
            if s >= b:
                break
            if s > cur:
                out.append((cur, min(s, b)))
            cur = max(cur, e)
            if cur >= b:
                break
        if cur < b:
            out.append((cur, b))
        return out

    def covers(self, a: int, b: int) -> bool:
        return not self.missing(a, b)

    def prefix_end(self) -> int:
        """End of the contiguous run starting at 0 (the durable-until value)."""
        if self.spans and self.spans[0][0] <= 0:
            return self.spans[0][1]
        return 0

    def gaps(self) -> list[list[int]]:
        """Holes between stored ranges, from step 0 to the last stored step."""
        out, cur = [], 0
        for s, e in self.spans:
            if s > cur:
                out.append([cur, s])
            cur = e
        return out

    def total(self) -> int:
        return sum(e - s for s, e in self.spans)
