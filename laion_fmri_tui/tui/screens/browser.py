"""The main screen: the live bucket tree, the entity filter bar, the selection summary.

Listings and plans are blocking service calls, so they run in thread workers
(``exclusive`` per purpose) and report back with ``call_from_thread``; the UI
never waits on the network. The summary is the plan of the ticked nodes with
the filters applied: exactly what ``d`` would fetch.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.widgets.tree import TreeNode

from laion_fmri_tui.core.browse import ROOT, BrowseNode, BucketBrowser, selections_for
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.plan import Plan
from laion_fmri_tui.core.planner import companion_keys
from laion_fmri_tui.core.selection import Filters
from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.filters import parse_filters
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree, NodeStats
from laion_fmri_tui.tui.widgets.footer import Footer
from laion_fmri_tui.tui.widgets.summary import SelectionSummary


class BrowserScreen(Screen[None]):
    """Pick subjects, sessions, parts and stimulus files; start or script the download."""

    BINDINGS = bindings("filter", "download", "retry", "batch-command", "preview")

    def __init__(self) -> None:
        super().__init__()
        self.filters = Filters()
        self.plan: Plan | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="title")
        with Horizontal(id="browser"):
            with Vertical(id="tree-pane"):
                yield Input(placeholder="/ filter: task=images suffix=statmap extension=nii.gz",
                            id="filter-bar")
                yield BucketTree(ROOT, id="bucket")
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
            self.app.call_from_thread(self.tree.show_error, node, str(error))
            # The tree's row is cut at the pane's width; the notification wraps, so the
            # whole message (which endpoint, which proxy) can be read.
            self.app.call_from_thread(self.notify, f"listing {node.data.label} failed: {error} (r retries)",
                                      severity="error", timeout=20)
            return
        self.app.call_from_thread(self.tree.populate, node, children)
        for child in children:
            self._measure(child)

    def _measure(self, node: BrowseNode) -> None:
        """Size and local state of one node (worker thread; listings are cached)."""
        if not node.fragments or node.held_out:
            return
        selections = selections_for(node.fragments, self.filters)
        try:
            plan = self.service.plan_many(selections)
        except LaionFmriError:
            return
        items = [i for i in plan.items if i.component != "dataset"]
        total = sum(i.size for i in items)
        companions = frozenset().union(*(companion_keys(s) for s in selections))
        own = [i for i in items if i.key not in companions]  # its state is of its own files
        own_size, fetch = sum(i.size for i in own), sum(i.to_fetch for i in own)
        state = "complete" if own and fetch == 0 else ("partial" if fetch < own_size else "absent")
        self.app.call_from_thread(self.tree.set_stats, node.id, NodeStats(len(items), total, state))

    # selection summary -------------------------------------------------------
    def on_bucket_tree_selection_changed(self) -> None:
        self._replan()

    def _replan(self) -> None:
        self.query_one(SelectionSummary).show_planning()
        self._plan_selection(frozenset(self.tree.selected), self.filters)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan", description="planning")
    def _plan_selection(self, fragments, filters: Filters) -> None:
        summary = self.query_one(SelectionSummary)
        if not fragments:
            self.plan = None
            self.app.call_from_thread(summary.show_plan, None, 0)
            return
        try:
            plan = self.service.plan_many(selections_for(fragments, filters))
        except LaionFmriError as error:
            self.plan = None
            self.app.call_from_thread(summary.show_error, str(error))
            return
        self.plan = plan
        free = self.app.context.disk_free(plan.data_dir)
        self.app.call_from_thread(summary.show_plan, plan, free)

    # filters -----------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#filter-bar", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.filters = parse_filters(event.value)
        except LaionFmriError as error:
            self.notify(str(error), severity="error")
            return
        event.input.remove_class("-error")
        self.tree.stats.clear()
        self.tree.refresh_labels()
        self.tree.focus()
        self._remeasure()
        self._replan()

    @work(thread=True, exclusive=True, exit_on_error=False, group="measure")
    def _remeasure(self) -> None:
        stack = list(self.tree.root.children)
        while stack:
            node = stack.pop()
            if node.data is not None:
                self._measure(node.data)
            stack.extend(node.children)

    # actions -----------------------------------------------------------------
    def action_retry(self) -> None:
        node = self.tree.cursor_node
        if node is None or not self.tree.retry(node):
            self.notify("nothing to retry here", timeout=2)

    def action_batch_command(self) -> None:
        from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen

        selections = selections_for(self.tree.selected, self.filters)
        if not selections:
            self.notify("select something first (space)", severity="warning")
            return
        self.app.push_screen(BatchCommandScreen(selections, self.app.context.data_dir))

    def action_preview(self) -> None:
        from laion_fmri_tui.tui.preview_target import h5_path_for

        node = self.tree.cursor_node
        path = h5_path_for(node.data, self.app.context.data_dir) if node and node.data else None
        if path is None:
            self.notify("highlight an HDF5 file (embeddings, segmentations, stimulus images)", timeout=3)
        elif not path.exists():
            self.notify(f"{path.name} is not downloaded yet", severity="warning")
        else:
            from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen

            self.app.push_screen(H5PreviewScreen(path))

    def action_download(self) -> None:
        if self.plan is None or not self.plan.items:
            self.notify("select something first (space)", severity="warning")
            return
        if not self.plan.pending:
            self.notify("everything selected is already on disk", timeout=3)
            return
        self._check_access(self.plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="access")
    def _check_access(self, plan: Plan) -> None:
        from laion_fmri_tui.core.access.errors import AccessNotFoundError, AccessRequiredError

        try:
            self.service.check_access(plan)
        except (AccessRequiredError, AccessNotFoundError):
            self.app.call_from_thread(self._ask_for_access, plan)
            return
        except LaionFmriError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=8)
            return
        self.app.call_from_thread(self._start, plan)

    def _ask_for_access(self, plan: Plan) -> None:
        from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen

        def granted(grant) -> None:
            if grant is not None:
                self._start(plan)

        self.app.push_screen(DuaFormScreen(), granted)

    def _start(self, plan: Plan) -> None:
        from laion_fmri_tui.tui.screens.transfers import TransfersScreen

        def back(_result=None) -> None:
            self.tree.stats.clear()
            self._remeasure()
            self._replan()

        self.app.push_screen(TransfersScreen(plan), back)
