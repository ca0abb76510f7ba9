"""The same ticks, made by different keys, show the same marks and plan the same files.

GLMsingle ticked as a whole, or each of its tickable sessions (and the
subject-level averages) ticked one by one, or ticked whole then one session
unticked and ticked again: what is selected is the same, so the parent's
mark, the subject's mark, the summary (files, bytes, "held out") and the plan
must be too. Before, the parent read ``[x]`` one way and ``[-]`` the other,
and only the whole component counted the held-out sessions. Every move is a
key press.
"""

from __future__ import annotations

from keys import go_to, open_by_keys, tick_by_keys
from pilot_helpers import find, settle

from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree
from laion_fmri_tui.tui.widgets.summary import SelectionSummary

SUBJECT = "sub-01"
GLM = f"{SUBJECT}/glmsingle"


def seen(app, tree: BucketTree) -> tuple[str, str, str, frozenset[str], int]:
    """The marks of GLMsingle and its subject, the summary, the planned keys and held-out count."""
    plan = app.screen.plan
    return (str(find(tree, GLM).label)[:3], str(find(tree, SUBJECT).label)[:3],
            str(app.screen.query_one(SelectionSummary).render()),
            frozenset(i.key for i in plan.items) if plan else frozenset(), len(plan.held_out) if plan else 0)


async def test_ticking_every_session_is_ticking_the_component(context):
    # The summary shows the free space: fixed, since other work on the machine
    # changes it between two readings.
    context.disk_free = lambda _path: 500 * 10**9
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_by_keys(pilot, tree, SUBJECT)
        await open_by_keys(pilot, tree, GLM)
        tickable = [child.data.id for child in find(tree, GLM).children
                    if child.data is not None and child.data.fragments]
        held = [child for child in find(tree, GLM).children if child.data is not None and child.data.held_out]
        assert len(tickable) >= 2 and held, "sessions to tick one by one, and held-out ones"

        await tick_by_keys(pilot, tree, GLM)  # the parent itself
        whole = seen(app, tree)
        assert whole[0] == "[x]" and whole[4] > 0 and "held out" in whole[2], whole
        await tick_by_keys(pilot, tree, GLM)  # untick it
        assert tree.selected == set()

        for node_id in tickable:  # each child, one by one
            await tick_by_keys(pilot, tree, node_id)
        assert seen(app, tree) == whole

        await tick_by_keys(pilot, tree, tickable[0])  # one session off, then on again
        assert str(find(tree, GLM).label).startswith("[-]")
        await tick_by_keys(pilot, tree, tickable[0])
        assert seen(app, tree) == whole

        await go_to(pilot, tree, GLM)  # the parent unticks all of it, however it was ticked
        await pilot.press("space")
        await settle(pilot)
        assert tree.selected == set() and app.screen.plan is None
