"""Sharding a plan: disjoint, complete, balanced, stable, dataset files together."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from laion_fmri_tui.core.plan import shard
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem


def make_plan(seed: int = 1, n: int = 200) -> Plan:
    rng = random.Random(seed)
    items = [PlanItem(key=k, dest=Path("/d") / k, size=rng.randint(10, 1000), etag="",
                      component="dataset") for k in ("README", "participants.tsv", "dataset_description.json")]
    for i in range(n):
        size = rng.choice([rng.randint(1, 10_000), rng.randint(1, 10_000_000)])
        state = rng.choice(list(LocalState))
        items.append(PlanItem(key=f"sub-01/f{i:04d}.nii.gz", dest=Path("/d") / f"f{i}", size=size, etag="",
                              component="glmsingle", state=state, present=size if state is LocalState.COMPLETE else 0))
    items += [PlanItem(key=f"stimuli/{n}", dest=Path("/d/stimuli") / n, size=5000, etag="", component="stimuli")
              for n in ("a.h5", "b.csv")]
    return Plan(Path("/d"), tuple(items), held_out=("h",), refused=(("r", "unsafe"),))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_disjoint_complete_and_in_plan_order(count):
    plan = make_plan()
    parts = [shard.select(plan, k, count) for k in range(count)]
    keys = [i.key for p in parts for i in p.items]
    assert len(keys) == len(set(keys))
    assert set(keys) == {i.key for i in plan.items}
    order = {i.key: n for n, i in enumerate(plan.items)}
    for part in parts:
        assert [order[i.key] for i in part.items] == sorted(order[i.key] for i in part.items)
    assert sum(len(p.held_out) for p in parts) == 1 and parts[0].held_out == ("h",)
    assert sum(len(p.refused) for p in parts) == 1


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("count", [2, 3, 5, 8])
def test_balanced_within_one_largest_file(seed, count):
    plan = make_plan(seed)
    loads = [shard.select(plan, k, count).bytes_total for k in range(count)]
    largest = max(i.size for i in plan.items)
    assert max(loads) - min(loads) <= largest


def test_dataset_files_in_shard_zero_and_stimuli_together():
    plan = make_plan()
    for count in (2, 4, 9):
        where = shard.assign(plan.items, count)
        assert {where[i.key] for i in plan.items if i.component == "dataset"} == {0}
        assert len({where[i.key] for i in plan.items if i.component == "stimuli"}) == 1


def test_stable_across_runs_and_independent_of_local_state():
    a = make_plan(3)
    # same keys and sizes, other local state and other item order
    b_items = [PlanItem(i.key, i.dest, i.size, i.etag, i.component) for i in reversed(a.items)]
    b = Plan(a.data_dir, tuple(b_items))
    for count in (2, 5):
        assert shard.assign(a.items, count) == shard.assign(a.items, count) == shard.assign(b.items, count)


@pytest.mark.parametrize("text", ["3/3", "-1/2", "0/0", "a/b", "1", "1/2/3", ""])
def test_bad_specs_refused(text):
    with pytest.raises(UsageError):
        shard.parse_spec(text)


def test_good_spec():
    assert shard.parse_spec("0/1") == (0, 1)
    assert shard.parse_spec(" 4 / 16 ") == (4, 16)
