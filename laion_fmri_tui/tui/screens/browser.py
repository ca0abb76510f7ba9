"""The main screen: the live bucket tree, the entity filter bar, the selection summary.

Listings and plans are blocking service calls, so they run in thread workers
(``exclusive`` per purpose) and report back with ``call_from_thread``; the UI
never waits on the network. The summary is the plan of the ticked nodes with
the filters applied: exactly what ``d`` would fetch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.widgets.tree import TreeNode

from laion_fmri_tui.core.plan.browse import ROOT, BrowseNode, BucketBrowser, selections_for, tick_state
from laion_fmri_tui.core.plan.inventory import file_state
from laion_fmri_tui.core.errors import LaionFmriError, NoMatchingDataError
from laion_fmri_tui.core.models import Plan, RemoteObject
from laion_fmri_tui.core.plan.planner import companion_keys
from laion_fmri_tui.core.plan.selection import Filters
from laion_fmri_tui.core.run.spec import RunSpec
from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.filters import parse_filters
from laion_fmri_tui.tui.row_details import details, failure_line, full_name, state_line
from laion_fmri_tui.tui.widgets.bucket_tree import NO_MATCH, BucketTree, NodeStats
from laion_fmri_tui.tui.widgets.footer import Footer
from laion_fmri_tui.tui.widgets.summary import SelectionSummary

if TYPE_CHECKING:  # httpx: loaded only when the form or a stimulus download needs it
    from laion_fmri_tui.core.access.client import Grant


FILTER_PLACEHOLDER = "no filter (press / to set one)"
"""Says that nothing filters; an example filter here read as one in force under NO_COLOR."""


class BrowserScreen(Screen[None]):
    """Pick subjects, sessions, parts and stimulus files; start or script the download."""

    BINDINGS = bindings("filter", "download", "retry", "batch-command", "preview", "leave-filter")

    def __init__(self) -> None:
        super().__init__()
        self.filters = Filters()
        self.filter_text = ""
        """The bar's text of the filters in force (shown again when the bar is left)."""
        self.plan: Plan | None = None
        self._free = 0
        """Free bytes in the data directory when :attr:`plan` was made."""
        self._plan_asked = 0
        """Counts plans asked for: only the newest one's answer is taken (see :meth:`_take_plan`)."""
        self._plan_taken = 0
        """The request :attr:`plan` answers; behind :attr:`_plan_asked` while a newer one is made."""
        self._plan_basis: tuple[frozenset, Filters] = (frozenset(), self.filters)
        """The ticks and filters of the newest plan asked for (see :meth:`_plan_is_current`)."""
        self._no_match = False
        """The newest plan found no file in the selection (with the filters in force)."""
        self._plan_error: str | None = None
        """Why the newest plan failed (a listing behind it): ``r`` plans again."""
        self._when_planned: Callable[[], None] | None = None
        """A key (``d``, ``b``) pressed while the selection was being planned: it runs once
        the newest plan is in, so the user never has to press it again."""

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="title")
        with Horizontal(id="browser"):
            with Vertical(id="tree-pane"):
                yield Input(placeholder=FILTER_PLACEHOLDER, id="filter-bar")
                yield BucketTree(ROOT, id="bucket")
                yield Static("", id="listing-failed", classes="-error", markup=False)
                yield Static("", id="row-detail", classes="-muted", markup=False)
            yield SelectionSummary(id="summary")
        yield Footer()

    def _title(self) -> str:
        context = self.app.context
        demo = "  (offline demo)" if context.demo else ""
        return f"LAION-fMRI → {context.data_dir}{demo}"

    @property
    def service(self):
        return self.app.context.service()

    @property
    def tree(self) -> BucketTree:
        return self.query_one(BucketTree)

    def on_mount(self) -> None:
        self.browser = BucketBrowser(self.service.catalog)
        self.tree.show_root = False
        self.tree.root.expand()
        self.tree.focus()

    # listing -----------------------------------------------------------------
    def on_bucket_tree_load_requested(self, event: BucketTree.LoadRequested) -> None:
        self._list(event.node)

    @work(thread=True, exit_on_error=False, group="listing", description="listing the bucket")
    def _list(self, node: TreeNode[BrowseNode]) -> None:
        assert node.data is not None
        try:
            children = self.browser.children(node.data)
        except LaionFmriError as error:
            # The tree's row is cut at the pane's width: the line under the tree says it
            # whole until the listing is retried (a toast faded before it was read).
            self.app.call_from_thread(self.tree.show_error, node, str(error))
            self.app.call_from_thread(self._show_row_detail)
            return
        self.app.call_from_thread(self.tree.populate, node, children)
        self.app.call_from_thread(self._show_row_detail)
        self._measure_level(children)

    def _measure_level(self, nodes: list[BrowseNode]) -> None:
        """Sizes and local states of one level's nodes (worker thread): its files' at
        once (a few stat calls each, one redraw), then each group's plan as it comes."""
        files = {node.id: stats for node in nodes if (stats := self._file_stats(node)) is not None}
        if files:
            self.app.call_from_thread(self._set_stats, files)
        for node in nodes:
            self._measure(node)

    def _set_stats(self, stats: dict[str, NodeStats]) -> None:
        """New stats for rows, and the line under the tree if they are the highlighted row's."""
        self.tree.set_stats(stats)
        node = self.tree.cursor_node
        if node is not None and node.data is not None and node.data.id in stats:
            self._show_row_detail()

    def _measure(self, node: BrowseNode) -> None:
        """Size and local state of one group (worker thread; listings are cached)."""
        if node.key is not None or not node.fragments or node.held_out:
            return
        selections = selections_for(node.fragments, self.filters)
        try:
            plan = self.service.plan_many(selections)
        except NoMatchingDataError:  # nothing under it passes the filters: say so, not a blank
            self.app.call_from_thread(self._set_stats, {node.id: NodeStats(0, 0, NO_MATCH, planned=frozenset())})
            return
        except LaionFmriError:
            return
        items = [i for i in plan.items if i.component != "dataset"]
        total = sum(i.size for i in items)
        companions = frozenset().union(*(companion_keys(s) for s in selections))
        own = tuple(i for i in items if i.key not in companions)  # its state is of its own files
        own_size, fetch = sum(i.size for i in own), sum(i.to_fetch for i in own)
        state = "complete" if own and fetch == 0 else ("partial" if fetch < own_size else "absent")
        stats = NodeStats(len(items), total, state, kept=own_size - fetch, own=own,
                          planned=frozenset(i.key for i in items))
        self.app.call_from_thread(self._set_stats, {node.id: stats})

    def _file_stats(self, node: BrowseNode) -> NodeStats | None:
        """One file's state on disk (a few stat calls, no network), for its row; None
        for a group."""
        data_dir = self.app.context.data_dir
        if data_dir is None or node.key is None or node.size is None:
            return None
        state, kept = file_state(RemoteObject(node.key, node.size, node.etag), Path(data_dir))
        return NodeStats(1, node.size, state.value, kept=kept)

    # the lines under the tree ---------------------------------------------------
    def on_tree_node_highlighted(self) -> None:
        self._show_row_detail()

    def _show_row_detail(self) -> None:
        """The highlighted row's whole name (its row may be cut), and every failed
        listing with its whole reason and what to do, until it is retried."""
        tree = self.tree
        failed = self.query_one("#listing-failed", Static)
        lines = [failure_line(node.data, tree.errors[node.data.id]) for node in tree.failed_nodes()]
        failed.update("\n".join(lines))
        failed.display = bool(lines)
        node = tree.cursor_node
        data = node.data if node is not None else None
        parent = node.parent.data if node is not None and node.parent is not None else None
        lines = [full_name(data, parent), state_line(data, tree.stats.get(data.id))] if data is not None else []
        detail = self.query_one("#row-detail", Static)
        detail.update("\n".join(line for line in lines if line))
        detail.display = bool(detail.visual) and data is not None

    def on_bucket_tree_details_requested(self, event: BucketTree.DetailsRequested) -> None:
        from laion_fmri_tui.tui.screens.row_info import RowInfoScreen

        node, tree = event.node, self.tree
        parent = node.parent.data if node.parent is not None else None
        data = node.data
        owner = data if data is not None else parent
        stats = tree.stats.get(data.id) if data is not None else None
        data_dir = self.app.context.data_dir
        file = None
        if data is not None and data.key is not None and data.size is not None and data_dir is not None:
            file = file_state(RemoteObject(data.key, data.size, data.etag), Path(data_dir))
        session_ticked = parent is not None and tick_state(parent.fragments, tree.selected) == "all"
        lines = details(data, failed_parent=parent, error=tree.errors.get(owner.id) if owner else None,
                        stats=stats, data_dir=data_dir, file=file, session_ticked=session_ticked)
        self.app.push_screen(RowInfoScreen(full_name(data, parent), lines))

    # selection summary -------------------------------------------------------
    def on_bucket_tree_selection_changed(self) -> None:
        if self._plan_basis != self._basis_now():  # unless d or b, read in the same burst, asked already
            self._replan()

    def _basis_now(self) -> tuple[frozenset, Filters]:
        return frozenset(self.tree.selected), self.filters

    def _replan(self) -> None:
        self._plan_asked += 1
        self._plan_basis = self._basis_now()
        self.query_one(SelectionSummary).show_planning()
        self._plan_selection(self._plan_asked, *self._plan_basis)

    def _plan_is_current(self) -> bool:
        """Whether :attr:`plan` is of the ticks and filters in force now.

        A key read in the same burst as a tick (``space d``: a paste, typing
        ahead, one SSH packet) runs before the tree's message that the ticks
        changed: the plan of the new ticks is asked for here, not later, so
        ``d`` never reviews the previous selection's."""
        if self._plan_basis != self._basis_now():
            self._replan()
        return self._plan_taken == self._plan_asked

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan", description="planning")
    def _plan_selection(self, asked: int, fragments, filters: Filters) -> None:
        """Plan in a thread; the answer goes through :meth:`_take_plan` on the UI thread.

        ``exclusive`` cancels the older worker, but a thread worker cannot be
        stopped mid-listing: its late plan must not replace a newer one."""
        if not fragments:
            self.app.call_from_thread(self._take_plan, asked, None, 0, None)
            return
        try:
            plan = self.service.plan_many(selections_for(fragments, filters))
        except NoMatchingDataError:  # the planner's words name --batch flags: the summary says it in keys
            self.app.call_from_thread(self._take_plan, asked, None, 0, None, True)
            return
        except LaionFmriError as error:
            self.app.call_from_thread(self._take_plan, asked, None, 0, str(error))
            return
        free = self.app.context.disk_free(plan.data_dir)
        self.app.call_from_thread(self._take_plan, asked, plan, free, None)

    def _take_plan(self, asked: int, plan: Plan | None, free: int, error: str | None,
                   no_match: bool = False) -> None:
        """Accept a plan only from the newest request (an older, slower one is dropped)."""
        if asked != self._plan_asked:
            return
        self.plan, self._free, self._plan_taken, self._no_match = plan, free, asked, no_match
        self._plan_error = error
        summary = self.query_one(SelectionSummary)
        if no_match:
            summary.show_no_match(self.filter_text)
        elif error is not None:
            summary.show_error(error)
        else:
            summary.show_plan(plan, free)
        then, self._when_planned = self._when_planned, None
        if then is not None and self.is_current and not isinstance(self.focused, Input):
            then()  # (another screen on top, or the filter being typed: the key is dropped)

    # filters -----------------------------------------------------------------
    def action_focus_filter(self) -> None:
        """``/`` is a priority key, so the focus moves before the keys queued after it.

        A paste or one SSH packet delivers ``/`` and the filter together; a
        plain binding ran only once the tree had been handed the letters after it
        (and ``Widget.focus`` moves the focus later still), so the tree took
        the first letters. In a text field ``/`` is typed like any other character."""
        if isinstance(self.focused, Input):
            raise SkipAction()
        self.set_focus(self.query_one("#filter-bar", Input))
        if self._when_planned is not None:  # a review opening over the bar would take its enter
            self._when_planned = None
            self.notify("the key pressed while planning is dropped: press it again once the filter is set",
                        timeout=4)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the bar. It stays the bar's own key, resolved after every key
        before it (a backspace included): made a priority key, it read the text
        before the bar had taken the edits typed just before it, and applied
        the wrong filter. A key typed after enter in the same burst may still
        land in the bar (``suffix=maskd``): the filter then matches nothing, or is
        refused, and says so; nothing wrong is fetched."""
        try:
            filters = parse_filters(event.value)
        except LaionFmriError as error:  # stay in the bar: fix it, or escape to keep the old filter
            event.input.add_class("-error")
            self.notify(f"{error} (escape keeps the filter in force)", severity="error")
            return
        self.filters = filters
        self.filter_text = " ".join(event.value.split())
        event.input.remove_class("-error")
        self.tree.focus()
        self._remeasure()
        self._replan()

    def on_paste(self, event: events.Paste) -> None:
        """A paste that starts with ``/`` into the tree (a terminal's bracketed paste)
        is a filter, as the same text typed is."""
        if self.focused is self.tree and event.text.startswith("/"):
            event.stop()
            self.action_focus_filter()
            text = event.text[1:].splitlines()[0] if event.text[1:] else ""
            # the bar's own paste, after its focus (which selects the text in force): it replaces it
            self.query_one("#filter-bar", Input).post_message(events.Paste(text))

    def action_leave_filter(self) -> None:
        """Escape in the bar: back to the tree, the bar showing the filters in force."""
        bar = self.query_one("#filter-bar", Input)
        if bar.has_focus:
            self._show_filter_in_force(bar)
            self.tree.focus()

    def on_descendant_blur(self, event) -> None:
        """Leaving the bar any other way (tab) drops unapplied text too."""
        if getattr(event.widget, "id", None) == "filter-bar" and not event.widget.has_focus:
            self._show_filter_in_force(event.widget)

    def _show_filter_in_force(self, bar: Input) -> None:
        bar.value = self.filter_text
        bar.remove_class("-error")

    @work(thread=True, exclusive=True, exit_on_error=False, group="measure")
    def _remeasure(self) -> None:
        """Every listed row again, a level at a time (after a filter or a download)."""
        stack = [self.tree.root]
        while stack:
            node = stack.pop()
            self._measure_level([child.data for child in node.children if child.data is not None])
            stack.extend(reversed(node.children))

    # actions -----------------------------------------------------------------
    def action_retry(self) -> None:
        """Retry the highlighted failed listing, else every failed one (the line under
        the tree says "press r to retry" wherever the cursor is)."""
        tree = self.tree
        node = tree.cursor_node
        if node is not None and tree.retry(node):
            retried = True
        else:
            retried = [tree.retry(failed) for failed in tree.failed_nodes()] != []
        if not retried and self._plan_error is not None:  # a listing only the plan asked for
            self.notify("planning the selection again", timeout=2)
            self._replan()
            retried = True
        if not retried:
            self.notify("no listing failed, so nothing to retry", timeout=2)
        self._show_row_detail()

    def _nothing_passes(self) -> str:
        """One line on why a selection with no file has no command and no download."""
        if self.filter_text:
            return f"nothing ticked passes the filter {self.filter_text}: press / to change it"
        return "nothing ticked holds a file to fetch: untick it (space)"

    def action_batch_command(self) -> None:
        from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen

        selections = selections_for(self.tree.selected, self.filters)
        if not selections:
            self.notify("select something first (space)", severity="warning")
            return
        if not self._plan_is_current():  # whether it matches anything is not known yet
            self._after_planning(self.action_batch_command, "the command shows")
            return
        if self._no_match:  # its command would stop with "no files matched" (exit 2)
            self.notify(f"no command to show: {self._nothing_passes()}", severity="warning", timeout=6)
            return
        context = self.app.context
        self.app.push_screen(BatchCommandScreen(selections, context.data_dir, program=context.program,
                                                endpoint_url=context.s3.endpoint_url,
                                                access_url=context.access_url, network=context.s3.network))

    def action_preview(self) -> None:
        from laion_fmri_tui.tui.preview_target import h5_path_for

        node = self.tree.cursor_node
        path = h5_path_for(node.data, self.app.context.data_dir) if node and node.data else None
        if path is None:
            self.notify("highlight an HDF5 file (embeddings, segmentations, stimulus images, a session's GLMsingle_model.h5)", timeout=3)
        elif not path.exists():
            self.notify(f"{path.name} is not downloaded yet", severity="warning")
        else:
            from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen

            self.app.push_screen(H5PreviewScreen(path))

    def _after_planning(self, action: Callable[[], None], what: str) -> None:
        """Run ``action`` when the plan being made is in (it used to say "press again")."""
        self._when_planned = action
        self.notify(f"planning the selection: {what} when it is ready", timeout=3)

    def action_download(self) -> None:
        if not self._plan_is_current():  # self.plan is the previous selection's
            self._after_planning(self.action_download, "the review opens")
            return
        if self._no_match:
            self.notify(f"nothing to download: {self._nothing_passes()}", severity="warning", timeout=6)
            return
        if self._plan_error is not None:
            self.notify(f"no plan to review: {self._plan_error}; press r to plan again", severity="warning",
                        timeout=8)
            return
        if self.plan is None or not self.plan.items:
            self.notify("select something first (space)", severity="warning")
            return
        if not self.plan.pending:
            self.notify("everything selected is already on disk", timeout=3)
            return
        from laion_fmri_tui.tui.screens.review import ReviewScreen

        plan = self.plan
        self.app.push_screen(ReviewScreen(plan, self._free),
                             lambda start: self._check_access(plan) if start else None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="access")
    def _check_access(self, plan: Plan, grant: Grant | None = None) -> None:
        """Make the run's spec, which checks access once (``grant``: the form's, just obtained)."""
        from laion_fmri_tui.core.access.errors import AccessNotFoundError, AccessRequiredError

        try:
            spec = self.service.run_spec(plan, grant)
        except (AccessRequiredError, AccessNotFoundError):
            self.app.call_from_thread(self._ask_for_access, plan)
            return
        except LaionFmriError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=8)
            return
        self.app.call_from_thread(self._start, spec)

    def _ask_for_access(self, plan: Plan) -> None:
        from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen

        def granted(grant: Grant | None) -> None:
            if grant is not None:
                self._check_access(plan, grant)

        self.app.push_screen(DuaFormScreen(), granted)

    def _start(self, spec: RunSpec) -> None:
        from laion_fmri_tui.tui.screens.transfers import TransfersScreen

        def back(_result=None) -> None:
            self.tree.stats.clear()
            self._remeasure()
            self._replan()

        self.app.push_screen(TransfersScreen(spec.plan, spec=spec), back)
