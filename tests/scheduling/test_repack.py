"""`repack.make_room`: re-assigning parcels among placed flights to make room for more."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.scheduling.repack import Bin, Item, make_room

BOX = Bin(cap_kg=5.0, cap_l=40.0)


def _loads(bins: list[Bin], items: list[Item], where: list[int]) -> list[tuple[float, float]]:
    kg = [0.0] * len(bins)
    litres = [0.0] * len(bins)
    for item, b in zip(items, where):
        kg[b] += item.kg
        litres[b] += item.litres
    return list(zip(kg, litres))


def _valid(bins: list[Bin], items: list[Item], where: list[int]) -> bool:
    within = all(k <= b.cap_kg + 1e-9 and v <= b.cap_l + 1e-9 for b, (k, v) in zip(bins, _loads(bins, items, where)))
    return within and len(where) == len(items) and all(b in item.bins for item, b in zip(items, where))


def test_a_parcel_moves_to_another_flight_to_make_room():
    bins = [BOX, BOX]
    items = [Item(kg=1.0, litres=25.0, bins=(0, 1)), Item(kg=1.0, litres=10.0, bins=(1,))]
    new = [Item(kg=1.0, litres=20.0, bins=(0,))]  # only the first flight is in time for it
    where = make_room(bins, items, [0, 1], new)
    assert where == [1, 1, 0]


def test_two_parcels_swap_when_no_single_move_makes_room():
    bins = [BOX, BOX]
    items = [Item(kg=1.0, litres=30.0, bins=(0, 1)),  # on flight 0
             Item(kg=1.0, litres=18.0, bins=(0, 1)), Item(kg=1.0, litres=5.0, bins=(1,))]  # on flight 1
    new = [Item(kg=1.0, litres=12.0, bins=(0,))]
    # Moving the 30 l parcel to flight 1 overfills it (53 l); swapping it with the 18 l one works.
    where = make_room(bins, items, [0, 1, 1], new)
    assert where == [1, 0, 1, 0]


def test_no_room_anywhere_is_reported_and_the_mass_limit_counts_too():
    bins = [BOX, BOX]
    items = [Item(kg=1.0, litres=30.0, bins=(0, 1)), Item(kg=1.0, litres=30.0, bins=(0, 1))]
    assert make_room(bins, items, [0, 1], [Item(kg=1.0, litres=15.0, bins=(0, 1))]) is None
    heavy = [Item(kg=4.0, litres=5.0, bins=(0, 1)), Item(kg=4.0, litres=5.0, bins=(0, 1))]
    assert make_room(bins, heavy, [0, 1], [Item(kg=1.5, litres=1.0, bins=(0, 1))]) is None
    assert make_room(bins, heavy, [0, 1], [Item(kg=1.0, litres=1.0, bins=(0, 1))]) is not None


def test_a_parcel_that_may_not_move_stays_and_a_parcel_without_a_flight_is_refused():
    bins = [BOX, BOX]
    items = [Item(kg=1.0, litres=35.0, bins=(0,)), Item(kg=1.0, litres=1.0, bins=(1,))]
    assert make_room(bins, items, [0, 1], [Item(kg=1.0, litres=10.0, bins=(0,))]) is None
    assert make_room(bins, items, [0, 1], [Item(kg=1.0, litres=1.0, bins=())]) is None


_item = st.builds(lambda kg, litres, mask: (kg, litres, mask),
                  st.floats(0.1, 4.0), st.floats(1.0, 30.0), st.integers(1, 7))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(_item, min_size=1, max_size=7), st.lists(_item, min_size=1, max_size=2))
def test_any_answer_keeps_every_limit_and_every_compatibility_and_small_feasible_cases_are_found(raw, raw_new):
    """Three flights: a start within capacity is built first-fit; whatever make_room answers must be a
    valid assignment. When one item is added and moving at most one parcel makes room, it finds it."""
    bins = [BOX, BOX, BOX]

    def item(kg: float, litres: float, mask: int) -> Item:
        return Item(kg=kg, litres=litres, bins=tuple(b for b in range(3) if mask >> b & 1))

    items, where = [], []
    load = [[0.0, 0.0] for _ in bins]
    for kg, litres, mask in raw:
        it = item(kg, litres, mask)
        fit = next((b for b in it.bins if load[b][0] + kg <= 5.0 and load[b][1] + litres <= 40.0), None)
        if fit is None:
            continue
        load[fit][0] += kg
        load[fit][1] += litres
        items.append(it)
        where.append(fit)
    new = [item(*r) for r in raw_new]
    answer = make_room(bins, items, where, new)
    if answer is not None:
        assert _valid(bins, items + new, answer)
    if len(new) == 1:
        # Exhaustive: is there an answer that differs from the start by at most one parcel moved?
        candidates = [where + [b] for b in new[0].bins]
        for i, it in enumerate(items):
            for t in it.bins:
                candidates += [[t if k == i else w for k, w in enumerate(where)] + [b] for b in new[0].bins]
        if any(_valid(bins, items + new, c) for c in candidates):
            assert answer is not None


def test_a_closed_flight_is_emptied_and_never_receives_a_parcel():
    """Dropping a flight: its parcels are the new ones, it is closed, and the others take them."""
    bins = [BOX, BOX, BOX]
    items = [Item(kg=1.0, litres=30.0, bins=(0, 1)), Item(kg=1.0, litres=12.0, bins=(1, 2))]
    leaving = [Item(kg=1.0, litres=8.0, bins=(0, 1, 2)), Item(kg=1.0, litres=25.0, bins=(1, 2))]
    where = make_room(bins, items, [0, 1], leaving, closed={2})
    assert where is not None and 2 not in where
    assert _valid(bins[:2], items + leaving, where)
    # A parcel whose only other flights are closed has nowhere to go.
    assert make_room(bins, items, [0, 1], [Item(kg=1.0, litres=1.0, bins=(2,))], closed={2}) is None
    # Not even the open flights' total capacity holds everything: refused before any search.
    assert make_room(bins, items, [0, 1], [Item(kg=1.0, litres=39.0, bins=(0, 1))], closed={2}) is None


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(_item, min_size=1, max_size=8), st.integers(0, 2))
def test_emptying_any_flight_gives_a_valid_answer_without_it_or_none(raw, closed_bin):
    """Whatever is on the closed flight goes elsewhere or the answer is None; an answer keeps every
    limit and compatibility and puts nothing on the closed flight."""
    bins = [BOX, BOX, BOX]
    items, where = [], []
    load = [[0.0, 0.0] for _ in bins]
    for kg, litres, mask in raw:
        it = Item(kg=kg, litres=litres, bins=tuple(b for b in range(3) if mask >> b & 1))
        fit = next((b for b in it.bins if load[b][0] + kg <= 5.0 and load[b][1] + litres <= 40.0), None)
        if fit is not None:
            load[fit][0] += kg
            load[fit][1] += litres
            items.append(it)
            where.append(fit)
    stay = [k for k, b in enumerate(where) if b != closed_bin]
    leave = [k for k, b in enumerate(where) if b == closed_bin]
    answer = make_room(bins, [items[k] for k in stay], [where[k] for k in stay], [items[k] for k in leave],
                       closed={closed_bin})
    if answer is not None:
        assert closed_bin not in answer
        assert _valid(bins, [items[k] for k in stay + leave], answer)
    elif not leave:
        raise AssertionError("nothing to move: the start itself is an answer")
