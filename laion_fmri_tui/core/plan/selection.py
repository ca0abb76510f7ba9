"""What the user asked for, independent of how they asked (tree or flags).

A :class:`Selection` is the one value both front ends build: ``--batch``
from its flags, the app from the ticked tree nodes. It can be printed back as
a ``--batch`` command line, so what a user picks by hand is reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from laion_fmri_tui.core.errors import UsageError

COMPONENTS = ("glmsingle", "rois", "freesurfer", "anatomical", "localizers", "raw")
"""Per-subject parts of the bucket, in the order they are fetched."""
DEFAULT_COMPONENTS = frozenset({"glmsingle", "rois"})
"""What upstream's ``download`` walks when no ``include_*`` flag is given."""
EMBEDDING_MODELS = ("CLIP", "DINOv2", "PEcore", "SigLIP2")
FILTER_ENTITIES = ("ses", "task", "space", "desc", "stat", "run", "echo", "part")

_SUBJECT = re.compile(r"^(?:sub-)?([A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Filters:
    """BIDS-entity filters; each is a tuple of accepted values (empty = no filter).

    Values are stored without their ``<entity>-`` prefix (``"04"``, not
    ``"ses-04"``). ``suffix`` and ``extension`` are exact (no leading dot).
    """

    ses: tuple[str, ...] = ()
    task: tuple[str, ...] = ()
    space: tuple[str, ...] = ()
    desc: tuple[str, ...] = ()
    stat: tuple[str, ...] = ()
    run: tuple[str, ...] = ()
    echo: tuple[str, ...] = ()
    part: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    extension: tuple[str, ...] = ()

    @classmethod
    def build(cls, **values: object) -> Filters:
        """Normalise user values: str or iterable, ``ses-04`` -> ``04``."""
        clean: dict[str, tuple[str, ...]] = {}
        for name, raw in values.items():
            if raw is None:
                continue
            items = [raw] if isinstance(raw, str) else list(raw)  # type: ignore[arg-type]
            out = []
            for item in items:
                text = str(item).strip()
                if name in FILTER_ENTITIES and text.startswith(f"{name}-"):
                    text = text[len(name) + 1:]
                if name == "extension":
                    text = text.lstrip(".") if text.startswith(".") else text
                if not text:
                    raise UsageError(f"--{name} got an empty value; give e.g. --{name} {_example(name)}")
                out.append(text)
            clean[name] = tuple(dict.fromkeys(out))
        return cls(**clean)

    def active(self) -> dict[str, tuple[str, ...]]:
        """Only the filters that have values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Selection:
    """Everything one download run should cover."""

    subjects: tuple[str, ...] = ()
    """Normalised ids (``sub-01``); ``("all",)`` means every discovered subject."""
    filters: Filters = field(default_factory=Filters)
    components: frozenset[str] = DEFAULT_COMPONENTS
    """Which per-subject parts to walk (see :data:`COMPONENTS`)."""
    embeddings: tuple[str, ...] = ()
    """Embedding models to fetch from ``stimuli/``."""
    segmentations: bool = False
    captions: bool = False
    stimuli: bool = False
    """The gated stimulus images (through the access service)."""

    @property
    def is_empty(self) -> bool:
        return not (self.subjects or self.embeddings or self.segmentations
                    or self.captions or self.stimuli)


def normalise_subject(raw: str) -> str:
    """``01`` / ``sub-01`` -> ``sub-01``; ``all`` stays; anything else is refused."""
    text = raw.strip()
    if text == "all":
        return text
    match = _SUBJECT.match(text)
    if not match:
        raise UsageError(
            f"malformed subject {raw!r}: use an id like 01 or sub-01, or 'all'"
        )
    return f"sub-{match.group(1)}"


def normalise_models(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Bare flag (empty) -> all four models; unknown names are refused."""
    if not raw:
        return EMBEDDING_MODELS
    by_lower = {m.lower(): m for m in EMBEDDING_MODELS}
    out = []
    for name in raw:
        model = by_lower.get(name.strip().lower())
        if model is None:
            raise UsageError(
                f"unknown embedding model {name!r}; choose from {', '.join(EMBEDDING_MODELS)}"
            )
        out.append(model)
    return tuple(dict.fromkeys(out))


def _example(name: str) -> str:
    return {"ses": "01", "task": "images", "space": "T1w", "desc": "SingletrialBetas",
            "stat": "effect", "run": "01", "echo": "1", "part": "mag",
            "suffix": "statmap", "extension": "nii.gz"}.get(name, "VALUE")
