"""The bucket tree: lazy levels, tick marks, sizes and local state per node.

Expanding a node posts :class:`BucketTree.LoadRequested`; the screen lists the
level in a thread worker and calls :meth:`BucketTree.populate` (or
:meth:`show_error`). Labels are rebuilt from the node's stats and whether it
is ticked; the widget itself never touches the network (the DirectoryTree
pattern: expand, queue a worker, fill that node only).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.plan.browse import BrowseNode, Fragment, covers, tick_state
from laion_fmri_tui.core.units import size
from laion_fmri_tui.tui.commands import bindings

LOADING = "loading…"
SIZE_WIDTH = 10
STATE_WIDTH = len(" complete")
"""Room kept right of the size for the longest local-state word, so it is never cut."""
MARK_WIDTH = len("[x] ")
ICON_WIDTH = len(Tree.ICON_NODE)
"""Tree draws "▶ " before expandable nodes only; leaves get as many blanks so names line up."""
MIN_NAME = 6
DEFAULT_ROW = 48
"""Row width before the first layout (the tree's width in an 80-column window)."""


@dataclass(frozen=True)
class NodeStats:
    """What the planner says about a node (or the disk about one file): bytes and what is on disk."""

    files: int
    size: int
    state: str
    """``complete``, ``partial``, ``absent`` or :data:`NO_MATCH` (nothing passes the filters)."""
    kept: int = 0
    """Bytes on disk of the files its state counts (a file row: of that file)."""
    own: tuple[PlanItem, ...] = ()
    """The files its state counts, as planned (a group's, not a companion its plan brings
    along): what the line under the tree and its details say is on disk."""
    planned: frozenset[str] | None = None
    """Every key its plan holds with the filters in force (None: not planned, as for a
    file): which of its file rows ``d`` would fetch, the others show :data:`NO_MATCH`."""


NO_MATCH = "no match"
STATE_CLASS = {"complete": "bucket-tree--complete", "partial": "bucket-tree--partial"}
"""The component class (coloured in styles/browser.tcss from the theme) of a local state."""


class BucketTree(Tree[BrowseNode]):
    """A Tree of :class:`BrowseNode` with selection by fragments."""

    BINDINGS = bindings("toggle-select", "cursor-down", "cursor-up", "expand", "collapse", "open-row")
    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        "bucket-tree--complete", "bucket-tree--partial", "bucket-tree--muted", "bucket-tree--error",
        "bucket-tree--loading",
    }
    """Colours of the rows' words, from the theme's variables (styles/browser.tcss):
    a state (complete, partial), what cannot be fetched (held out, no match), a
    failed listing, a level being listed."""

    class LoadRequested(Message):
        """A node was expanded for the first time (or retried)."""

        def __init__(self, node: TreeNode[BrowseNode]) -> None:
            super().__init__()
            self.node = node

    class SelectionChanged(Message):
        """The ticked fragments changed."""

    class DetailsRequested(Message):
        """Enter on a row that does not expand: the screen shows its details."""

        def __init__(self, node: TreeNode[BrowseNode]) -> None:
            super().__init__()
            self.node = node

    def __init__(self, root: BrowseNode, **kwargs) -> None:
        super().__init__(root.label, data=root, **kwargs)
        self.selected: set[Fragment] = set()
        self.stats: dict[str, NodeStats] = {}
        self._loaded: set[str] = set()
        self.errors: dict[str, str] = {}
        self.guide_depth = 2
        self._row_width = DEFAULT_ROW

    def on_resize(self) -> None:
        """Rows are laid out for the tree's width: redo them when it changes. The
        highlighted row stays in view when the tree gets fewer rows (the lines
        under it grew: a partial row's state takes one more)."""
        width = self.scrollable_content_region.width  # the scrollbar's column is always kept
        if width > 0 and width != self._row_width:
            self._row_width = width
            self.refresh_labels()
        if self.cursor_node is not None:
            self.call_after_refresh(self.scroll_to_node, self.cursor_node, False)

    # loading ---------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[BrowseNode]) -> None:
        node = event.node
        if node.data is not None and node.data.id not in self._loaded:
            self._request(node)

    def _request(self, node: TreeNode[BrowseNode]) -> None:
        assert node.data is not None
        self._loaded.add(node.data.id)
        self.errors.pop(node.data.id, None)
        node.remove_children()
        node.add_leaf(Text(LOADING, style=self._style("bucket-tree--loading")))
        self.refresh_label(node)
        self.post_message(self.LoadRequested(node))

    def retry(self, node: TreeNode[BrowseNode]) -> bool:
        """Re-list a node whose listing failed (or whose error row is highlighted)."""
        if node.data is None and node.parent is not None:
            node = node.parent
        if node.data is None or node.data.id not in self.errors:
            return False
        self._request(node)
        return True

    def failed_nodes(self) -> list[TreeNode[BrowseNode]]:
        """The nodes whose listing failed and was not retried yet, in row order."""
        found, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if node.data is not None and node.data.id in self.errors:
                found.append(node)
            stack.extend(reversed(node.children))
        return found

    def populate(self, node: TreeNode[BrowseNode], children: list[BrowseNode]) -> None:
        node.remove_children()
        for child in children:
            if child.expandable:
                node.add(child.label, data=child)
            else:
                node.add_leaf(child.label, data=child)
        self.refresh_labels()
        self._cursor_on_first_row()

    def show_error(self, node: TreeNode[BrowseNode], message: str) -> None:
        assert node.data is not None
        self.errors[node.data.id] = message
        node.remove_children()
        # The row is cut at the pane's width: what to press first; the whole reason is under the tree.
        node.add_leaf(Text(f"listing failed, press r to retry: {message}", style=self._style("bucket-tree--error")))
        self.refresh_label(node)
        self._cursor_on_first_row()

    def _cursor_on_first_row(self) -> None:
        """Put the cursor on the first row that can be ticked (the first subject,
        not "Dataset files") once there is one, so space, enter and r act on the
        first frame (a Tree starts with no cursor); the first row when none can be."""
        if self.cursor_line < 0 and self.root.children:
            # Only the top level is listed at this point, so a child's index is its line.
            self.cursor_line = next((line for line, child in enumerate(self.root.children)
                                     if child.data is not None and child.data.fragments), 0)

    # selection -------------------------------------------------------------
    def action_toggle_select(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.data is None:  # a failed listing's line, or "loading…": say why nothing ticks
            self._say_why_not(node)
            return
        fragments = set(node.data.fragments)
        if not fragments:
            reason = node.data.note or "nothing to select here"
            self.notify(f"{node.data.label}: {reason}", severity="warning", timeout=3)
            return
        if tick_state(fragments, self.selected) == "all":
            self._untick(node)
        else:
            self.selected |= fragments
        self._merge()
        self.refresh_labels()
        self.post_message(self.SelectionChanged())

    def _say_why_not(self, node: TreeNode[BrowseNode]) -> None:
        """space on a row without data: a silent key looked broken (as d and b say
        when nothing is selected)."""
        parent = node.parent.data if node.parent is not None else None
        if parent is not None and parent.id in self.errors:
            self.notify("this listing failed: r retries it", severity="warning", timeout=3)
        else:
            self.notify("still listing: space ticks a row once it is listed", timeout=3)

    def _untick(self, node: TreeNode[BrowseNode]) -> None:
        """Unselect a node; only ever removes.

        A selected fragment that covers the node (a whole component, when one
        of its sessions is unticked) is replaced by the fragments of that
        component's other children, so nothing beside the node changes.
        """
        mine = set(node.data.fragments)
        keep: set[Fragment] = set()
        for chosen in self.selected:
            if any(covers(f, chosen) for f in mine):
                continue  # the node (or more) is being unticked: drop it
            if any(covers(chosen, f) for f in mine):
                keep |= self._split(chosen) - mine
            else:
                keep.add(chosen)
        self.selected = keep

    def _merge(self) -> None:
        """Write the selection one way only: a whole fragment (a component, the
        embeddings) for a node whose every tickable child is ticked, as if the
        node itself had been ticked (the inverse of :meth:`_split`).

        So the same ticks give the same marks and the same plan however they
        were made: ticking each session of GLMsingle, or GLMsingle itself
        (whose plan also counts the held-out sessions), or unticking one
        session and ticking it again.
        """
        stack = [self.root]
        while stack:
            walk = stack.pop()
            stack.extend(walk.children)
            data = walk.data
            if data is None or len(data.fragments) != 1 or data.fragments[0].part is not None:
                continue
            parts = {f for child in walk.children if child.data is not None for f in child.data.fragments}
            if parts and all(f.part is not None for f in parts) and parts <= self.selected:
                self.selected = (self.selected - parts) | {data.fragments[0]}

    def _split(self, whole: Fragment) -> set[Fragment]:
        """The fragments of the children of the node that stands for ``whole``."""
        stack = [self.root]
        while stack:
            walk = stack.pop()
            if walk.data is not None and walk.data.fragments == (whole,):
                return {f for child in walk.children if child.data is not None
                        for f in child.data.fragments}
            stack.extend(walk.children)
        return set()

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()

    def action_open_row(self) -> None:
        """Enter: a branch opens or closes; any other row (a file, a part, a failed
        listing's line) asks for its details, so enter never does nothing."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand:
            node.toggle()
        else:
            self.post_message(self.DetailsRequested(node))

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # labels ----------------------------------------------------------------
    def set_stats(self, stats: dict[str, NodeStats]) -> None:
        """New stats for some rows (a level's files at once: one pass over the labels)."""
        self.stats.update(stats)
        self.refresh_labels()

    def refresh_labels(self) -> None:
        stack = [self.root]
        while stack:
            node = stack.pop()
            self.refresh_label(node)
            stack.extend(node.children)

    def refresh_label(self, node: TreeNode[BrowseNode]) -> None:
        data = node.data
        if data is None or data.id == "root":
            return
        node.set_label(self.label_for(node, self._name_width(node)))

    def _name_width(self, node: TreeNode[BrowseNode]) -> int:
        """Cells left for the name once guides, icon, tick mark, size and state have theirs.

        Sizes and states end at the same column on every row, whatever the
        depth; the name gives way (it is elided), never the size or the state.
        """
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        used = depth * self.guide_depth + ICON_WIDTH + MARK_WIDTH + SIZE_WIDTH + STATE_WIDTH
        return max(MIN_NAME, self._row_width - used)

    def render_label(self, node: TreeNode[BrowseNode], base_style, style) -> Text:
        text = super().render_label(node, base_style, style)
        if not node.allow_expand:
            text = Text(" " * ICON_WIDTH) + text
        return text

    def label_for(self, node: TreeNode[BrowseNode], name_width: int) -> Text:
        data = node.data
        assert data is not None
        if data.key is not None and not data.fragments:
            # a file: nothing to tick, so its name may use the mark's cells
            return self._with_size(node, Text(elide(data.label, name_width + MARK_WIDTH, keep_end=True)))
        if not data.fragments:
            mark = "   "
            if data.size is None and not data.held_out and data.id not in self.errors and data.id not in self.stats:
                name_width += SIZE_WIDTH + STATE_WIDTH  # nothing to show right of it: the name has the room
        else:
            mark = {"all": "[x]", "some": "[-]", "none": "[ ]"}[tick_state(data.fragments, self.selected)]
        return self._with_size(node, Text(f"{mark} {elide(data.label, name_width)}"))

    def _with_size(self, node: TreeNode[BrowseNode], text: Text) -> Text:
        data = node.data
        assert data is not None
        stats = self.stats.get(data.id)
        if data.held_out:
            text.append(f"{'held out':>{SIZE_WIDTH}}", style=self._style("bucket-tree--muted"))
        elif data.id in self.errors:
            text.append(f"{'failed':>{SIZE_WIDTH}}", style=self._style("bucket-tree--error"))
        elif data.size is not None:
            text.append(f"{size(data.size):>{SIZE_WIDTH}}")
            self._append_file_state(node, stats, text)
        elif stats is not None and stats.state == NO_MATCH:
            text.append(f"{NO_MATCH:>{SIZE_WIDTH}}", style=self._style("bucket-tree--muted"))
        elif stats is not None:
            text.append(f"{size(stats.size):>{SIZE_WIDTH}}")
            if stats.state != "absent":
                state_class = STATE_CLASS.get(stats.state)
                text.append(f" {stats.state}", style=self._style(state_class) if state_class else "")
        return text

    def _append_file_state(self, node: TreeNode[BrowseNode], stats: NodeStats | None, text: Text) -> None:
        """A file row's state in the state column: ``complete`` as on a branch, the
        share a partial file keeps (``40% kept``: its bytes are in the line under the
        tree), or :data:`NO_MATCH` when its group's plan leaves it out (the filter)."""
        data = node.data
        assert data is not None
        parent = node.parent.data if node.parent is not None else None
        group = self.stats.get(parent.id) if parent is not None else None
        if group is not None and group.planned is not None and data.key not in group.planned:
            text.append(f" {NO_MATCH}", style=self._style("bucket-tree--muted"))
        elif stats is not None and stats.state == "complete":
            text.append(" complete", style=self._style(STATE_CLASS["complete"]))
        elif stats is not None and stats.state == "partial":
            # kept bytes a run cannot use yet (a record it will discard) still read "partial"
            word = f"{kept_share(stats.kept, data.size or 0)} kept" if stats.kept > 0 else "partial"
            text.append(f" {word}", style=self._style(STATE_CLASS["partial"]))

    def _style(self, component: str) -> Style:
        """The Rich style of one of :data:`COMPONENT_CLASSES`, as the theme colours it."""
        return self.get_component_rich_style(component, partial=True)


def kept_share(kept: int, total: int) -> str:
    """The share of a partial file on disk, in at most 4 cells (``40%``, ``<1%``, ``99%``):
    with `` kept`` it fills the state column, never more."""
    share = kept * 100 // max(total, 1)
    return f"{min(share, 99)}%" if share >= 1 else "<1%"


def elide(name: str, width: int, *, keep_end: bool = False) -> str:
    """``name`` in exactly ``width`` cells: padded, or cut with an ellipsis.

    File names keep their end (a session's files share a long prefix and
    differ in the description and type at the end); group labels keep their
    start.
    """
    if cell_len(name) <= width:
        return name + " " * (width - cell_len(name))
    if keep_end:
        tail = name[-(width - 1):]
        return "…" + " " * (width - 1 - cell_len(tail)) + tail
    return set_cell_size(name, width - 1) + "…"
