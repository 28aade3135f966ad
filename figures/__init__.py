"""Figures of issue 4: one script per figure (``python figures/<name>.py``), all of them with
``python -m figures`` (or ``make figures``).  See ``figures/common.py`` (data) and
``figures/plotting.py`` (drawing); ``boundary`` and ``theory_scores`` are helper modules, not
figures: only the names in ``FIGURES`` are."""

#: The figures, in the order ``python -m figures`` makes them (theory_vs_sim reads 1-4).
FIGURES = (
    "scratch_phase",
    "transfer_phase",
    "fraction_inherited",
    "task_correlation",
    "dynamics",
    "distillation",
    "estimators",
    "digits",
    "asymptotics",
    "theory_vs_sim",
)
