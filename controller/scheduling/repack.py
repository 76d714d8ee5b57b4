"""Make room for more parcels on placed flights by re-assigning the parcels they carry among them.

Pure: flights are bins with a payload (kg) and box volume (l) capacity, parcels are items with the
bins they may ride (the planner decides that from ready times, deadlines and stops). Used by the
scheduler to drop rescue deliveries whose parcels the regular flights can carry once their loads are
shuffled (`Scheduler.repack_rescues`), and regular flights whose parcels the others can carry (their
bin is `closed`, `Scheduler.repack_flights`).

Search (tabu search on overflow): the new items go to the compatible bin with the most room, overfull
or not. Then, while a bin is overfull, the best move out of the most overfull bin is made - one of its
items to another compatible bin, or swapped with a smaller item of such a bin - scored by the change
in total overflow (each bin's excess payload and volume as fractions of its capacity), even if it does
not lower it; an item just moved may not move again for `_TABU_MOVES` moves, so the search leaves a
local minimum instead of undoing its last move. It stops when nothing is overfull (success) or after
`max_moves` moves (failure). On the 10 000-parcel bench this found room for 3 more rescues than a pure
descent (which stops at the first local minimum) at the same cost. Deterministic: ties break on indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TABU_MOVES = 3  # measured on the bench: 3 -> 374 delivery sorties, 5 -> 379, descent only -> 378


@dataclass(frozen=True, slots=True)
class Bin:
    """A placed flight's capacity: payload (kg, energy-limited where that is tighter) and box volume (l)."""

    cap_kg: float
    cap_l: float


@dataclass(frozen=True, slots=True)
class Item:
    """A parcel: mass (kg), volume (l) and the indices of the bins it may ride."""

    kg: float
    litres: float
    bins: tuple[int, ...]


def make_room(bins: list[Bin], items: list[Item], assignment: list[int], new: list[Item], *,
              max_moves: int = 80, closed: frozenset[int] | set[int] = frozenset()) -> list[int] | None:
    """Return a bin for every item of ``items + new`` with no bin over capacity, starting from
    ``assignment`` (a bin per item of ``items``, within capacity and none in ``closed``), or None if the
    search finds none within ``max_moves`` moves. Items only move to their compatible bins that are not
    ``closed``. Inputs are not changed."""
    everything = items + new
    where = list(assignment)
    cap_kg = [b.cap_kg for b in bins]
    cap_l = [b.cap_l for b in bins]
    kg = [0.0] * len(bins)
    litres = [0.0] * len(bins)
    members: list[list[int]] = [[] for _ in bins]  # kept in a deterministic order (moves are)

    def put(i: int, b: int) -> None:
        kg[b] += everything[i].kg
        litres[b] += everything[i].litres
        members[b].append(i)
        where[i] = b

    def take(i: int) -> None:
        b = where[i]
        kg[b] -= everything[i].kg
        litres[b] -= everything[i].litres
        members[b].remove(i)

    def over(b: int) -> float:
        k, v = kg[b] - cap_kg[b], litres[b] - cap_l[b]
        return (k / cap_kg[b] if k > 0 else 0.0) + (v / cap_l[b] if v > 0 else 0.0)

    open_ids = [b for b in range(len(bins)) if b not in closed]
    if (sum(it.kg for it in everything) > sum(cap_kg[b] for b in open_ids) + 1e-9
            or sum(it.litres for it in everything) > sum(cap_l[b] for b in open_ids) + 1e-9):
        return None  # not even the open bins' total capacity holds everything
    for i, b in enumerate(assignment):
        put(i, b)
    open_bins: dict[int, tuple[int, ...]] = {}

    def targets(i: int) -> tuple[int, ...]:
        """The compatible bins item i may move to (built when first needed: most items never move)."""
        hit = open_bins.get(i)
        if hit is None:
            hit = open_bins[i] = tuple(b for b in everything[i].bins if b not in closed)
        return hit

    for i in range(len(items), len(everything)):
        if not targets(i):
            return None
        where.append(-1)
        put(i, max(targets(i), key=lambda b: ((cap_l[b] - litres[b]) / cap_l[b]
                                              + (cap_kg[b] - kg[b]) / cap_kg[b], -b)))
    allowed: dict[int, frozenset[int]] = {}  # item -> its compatible bins, as a set (built when needed)
    tabu_until: dict[int, int] = {}
    # Overflow per bin, kept up to date as moves touch two bins; only overfull bins are searched.
    ov = [over(b) for b in range(len(bins))]
    overfull = {b for b in range(len(bins)) if ov[b] > 1e-12}
    for step in range(max_moves):
        if not overfull:
            return where
        b = max(overfull, key=lambda b: (ov[b], -b))
        kb, lb, ckb, clb = kg[b], litres[b], cap_kg[b], cap_l[b]
        best = (math.inf, -1, -1, -1)  # (overflow change, item, to bin, swapped item or -1)
        for i in list(members[b]):
            if tabu_until.get(i, -1) >= step:
                continue
            it = everything[i]
            for t in targets(i):
                if t == b:
                    continue
                kt, lt, ckt, clt = kg[t], litres[t], cap_kg[t], cap_l[t]
                base = ov[b] + ov[t]
                for j in [-1] + members[t]:
                    if j < 0:
                        dk, dl = it.kg, it.litres
                    else:
                        other = everything[j]
                        dk, dl = it.kg - other.kg, it.litres - other.litres
                        if (dk <= 0 and dl <= 0) or tabu_until.get(j, -1) >= step or b not in (
                                allowed.get(j) or allowed.setdefault(j, frozenset(everything[j].bins))):
                            continue  # the swap would not relieve b, or j may not (yet) move
                    k1, v1, k2, v2 = kb - dk - ckb, lb - dl - clb, kt + dk - ckt, lt + dl - clt
                    after = ((k1 / ckb if k1 > 0 else 0.0) + (v1 / clb if v1 > 0 else 0.0)
                             + (k2 / ckt if k2 > 0 else 0.0) + (v2 / clt if v2 > 0 else 0.0))
                    if after - base < best[0] - 1e-12:
                        best = (after - base, i, t, j)
        _, i, t, j = best
        if i < 0:
            return None  # every item of the worst bin is tabu or has nowhere else to go
        take(i)
        put(i, t)
        tabu_until[i] = step + _TABU_MOVES
        if j >= 0:
            take(j)
            put(j, b)
            tabu_until[j] = step + _TABU_MOVES
        for x in (b, t):
            ov[x] = over(x)
            if ov[x] > 1e-12:
                overfull.add(x)
            else:
                overfull.discard(x)
    return where if not overfull else None
