"""The service layer shared by the full-screen app and ``--batch``.

Nothing in this package imports Textual or Rich: both front ends drive it by
building a :class:`~laion_fmri_tui.core.plan.selection.Selection`, asking for a
:class:`~laion_fmri_tui.core.models.Plan`, and consuming the typed events of
:mod:`laion_fmri_tui.core.events` while the transfer engine runs.
"""
