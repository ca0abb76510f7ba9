"""The bucket as a browsable tree, and ticked nodes as selections.

The app renders this; it holds no Textual. Each level is listed from S3 only
when asked (:meth:`BucketBrowser.children`), through the run's cached
catalog. A node knows which *fragments* selecting it selects; a set of
fragments becomes the same :class:`~laion_fmri_tui.core.plan.selection.Selection`
values ``--batch`` builds from flags, so what a user ticks by hand can be
shown as a reproducible command.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from collections.abc import Iterable

from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.s3.catalog import Catalog
from laion_fmri_tui.core.plan.inventory import present_components
from laion_fmri_tui.core.plan.selection import EMBEDDING_MODELS, Filters, Selection

COMPONENT_LABELS = {
    "glmsingle": "GLMsingle betas", "rois": "ROIs", "freesurfer": "FreeSurfer",
    "anatomical": "Anatomical", "localizers": "Localizers", "raw": "Raw BIDS",
}
STIMULUS_PARTS = ("stimuli", "embeddings", "segmentations", "captions")


@dataclass(frozen=True)
class Fragment:
    """The smallest selectable thing: a subject's component or session, or a stimulus file set."""

    subject: str | None
    component: str
    part: str | None = None
    """A glmsingle session (``02``, or ``averages``) or an embedding model."""


def covers(outer: Fragment, inner: Fragment) -> bool:
    """True when selecting ``outer`` selects ``inner`` (a whole component covers its sessions)."""
    if outer == inner:
        return True
    return (outer.part is None and inner.part is not None
            and outer.subject == inner.subject and outer.component == inner.component)


def tick_state(fragments: Iterable[Fragment], selected: set[Fragment]) -> str:
    """``all``, ``some`` or ``none`` of a node's fragments are selected."""
    own = list(fragments)
    if own and all(any(covers(s, f) for s in selected) for f in own):
        return "all"
    if any(covers(f, s) for f in own for s in selected):
        return "some"
    return "none"


@dataclass(frozen=True)
class BrowseNode:
    """One row of the tree."""

    id: str
    label: str
    fragments: tuple[Fragment, ...] = ()
    """What ticking this node selects (empty: not selectable)."""
    expandable: bool = False
    held_out: bool = False
    note: str = ""
    key: str | None = None
    """The S3 key of a single file (a session's files, the dataset files); None for groups."""
    size: int | None = None
    """A single file's size, straight from the listing."""
    etag: str = ""
    """A single file's ETag from the listing: what its state on disk is checked against."""


SESSION_FILE_UNTICKED = "select the whole session (space on it) to fetch this file"
SESSION_FILE_TICKED = "fetched with its session, which is ticked"


def file_note(session_ticked: bool) -> str:
    """Why a session's file has no tick box, true to whether its session is ticked."""
    return SESSION_FILE_TICKED if session_ticked else SESSION_FILE_UNTICKED


ROOT = BrowseNode("root", "s3://laion-fmri", expandable=True)
DATASET_NOTE = "fetched with every subject you tick, not on their own"
"""Why the dataset files have no checkbox: the planner adds them to any subject."""


class BucketBrowser:
    """Lists tree levels lazily through one catalog (blocking: call from a worker)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def children(self, node: BrowseNode) -> list[BrowseNode]:
        if node.id == "root":
            return self._top()
        if node.id == "dataset":
            return [BrowseNode(f"dataset/{o.key}", o.key, note=DATASET_NOTE, key=o.key, size=o.size, etag=o.etag)
                    for o in self.catalog.level("").objects if o.key in bids.DATASET_KEYS]
        if node.id == "stimuli":
            return self._stimuli()
        if node.id == "stimuli/embeddings":
            return [BrowseNode(f"stimuli/embeddings/{m}", m, (Fragment(None, "embeddings", m),))
                    for m in EMBEDDING_MODELS]
        subject, _, component = node.id.partition("/")
        if not component:
            return self._components(subject)
        if component == "glmsingle":
            return self._sessions(subject)
        if component.startswith("glmsingle/ses-"):
            return self._session_files(subject, component.rsplit("/", 1)[1])
        return []

    def _top(self) -> list[BrowseNode]:
        subjects = self.catalog.subjects()
        nodes = [BrowseNode("dataset", "Dataset files", expandable=True, note=DATASET_NOTE)]
        for subject in subjects:
            nodes.append(BrowseNode(subject, subject, tuple(Fragment(subject, c) for c in
                                                            self._present(subject)), expandable=True))
        nodes.append(BrowseNode("stimuli", "Stimuli (all subjects)",
                                tuple(f for n in self._stimuli() for f in n.fragments), expandable=True))
        return nodes

    def _present(self, subject: str) -> list[str]:
        """Components that exist in the bucket for this subject."""
        return present_components(self.catalog, subject)

    def _components(self, subject: str) -> list[BrowseNode]:
        return [BrowseNode(f"{subject}/{c}", COMPONENT_LABELS[c], (Fragment(subject, c),),
                           expandable=c == "glmsingle") for c in self._present(subject)]

    def _sessions(self, subject: str) -> list[BrowseNode]:
        level = self.catalog.level(bids.component_prefix("glmsingle", subject))
        nodes = []
        for name in level.names:
            if not name.startswith("ses-"):
                continue
            held = name in bids.HELD_OUT_SESSIONS
            fragments = () if held else (Fragment(subject, "glmsingle", name[4:]),)
            nodes.append(BrowseNode(f"{subject}/glmsingle/{name}", name, fragments, held_out=held,
                                    expandable=not held,
                                    note="held out (not yet released)" if held else ""))
        if level.objects:
            nodes.append(BrowseNode(f"{subject}/glmsingle/averages", "averages (subject level)",
                                    (Fragment(subject, "glmsingle", "averages"),)))
        return nodes

    def _session_files(self, subject: str, session: str) -> list[BrowseNode]:
        """A session's files, so ``i`` can reach its ``GLMsingle_model.h5``.

        Single files are not selectable (a selection is a session or more,
        what ``--batch`` can express: the details say so, knowing whether the
        session is ticked, see :func:`file_note`); the label drops the ``sub-XX_ses-YY_``
        every name there starts with."""
        prefix = f"{bids.component_prefix('glmsingle', subject)}{session}/"
        common = f"{subject}_{session}_"
        return [BrowseNode(f"{subject}/glmsingle/{session}/{o.key[len(prefix):]}",
                           o.key.rsplit("/", 1)[1].removeprefix(common), key=o.key, size=o.size,
                           etag=o.etag)
                for o in self.catalog.objects(prefix)]

    @staticmethod
    def _stimuli() -> list[BrowseNode]:
        return [
            BrowseNode("stimuli/images", "Stimulus images (data-use agreement)", (Fragment(None, "stimuli"),)),
            BrowseNode("stimuli/embeddings", "Embeddings",
                       tuple(Fragment(None, "embeddings", m) for m in EMBEDDING_MODELS), expandable=True),
            BrowseNode("stimuli/segmentations", "Segmentations", (Fragment(None, "segmentations"),)),
            BrowseNode("stimuli/captions", "Captions", (Fragment(None, "captions"),)),
        ]


def selections_for(fragments: Iterable[Fragment], filters: Filters | None = None) -> list[Selection]:
    """Ticked fragments -> the fewest Selections that fetch exactly them.

    Whole components and chosen sessions of a subject become separate
    selections (a session pick is a ``ses`` filter, which must not narrow
    the subject's other components); selections that differ only in their
    subject are merged, as ``--subject 01 03`` would. The stimulus files are
    one selection without subjects; its components stay the default, as
    ``--batch`` parses them (they walk nothing without a subject), so the
    selection prints as a command and parses back equal.
    """
    base = replace(filters or Filters(), ses=())
    whole: dict[str, set[str]] = defaultdict(set)
    sessions: dict[str, set[str]] = defaultdict(set)
    stimulus: dict[str, set[str]] = defaultdict(set)
    for f in fragments:
        if f.subject is None:
            stimulus[f.component].add(f.part or "")
        elif f.component == "glmsingle" and f.part:
            sessions[f.subject].add(f.part)
        else:
            whole[f.subject].add(f.component)
    per_subject: list[tuple[str, frozenset[str], tuple[str, ...]]] = []
    for subject in sorted(set(whole) | set(sessions)):
        if whole[subject]:
            per_subject.append((subject, frozenset(whole[subject]), ()))
        picked = sessions[subject]
        if picked and "glmsingle" not in whole[subject]:
            per_subject.append((subject, frozenset({"glmsingle"}), tuple(sorted(picked))))
    merged: dict[tuple[frozenset[str], tuple[str, ...]], list[str]] = defaultdict(list)
    for subject, components, ses in per_subject:
        merged[(components, ses)].append(subject)
    out = [Selection(subjects=tuple(subjects), components=components,
                     filters=replace(base, ses=ses))
           for (components, ses), subjects in merged.items()]
    if stimulus:
        out.append(Selection(
            embeddings=tuple(m for m in EMBEDDING_MODELS if m in stimulus.get("embeddings", ())),
            segmentations="segmentations" in stimulus, captions="captions" in stimulus,
            stimuli="stimuli" in stimulus, filters=base,
        ))
    return out
