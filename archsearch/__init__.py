"""archsearch: search the student architecture that distils best from a teacher, without training.

Example:
    >>> import archsearch
    >>> run = archsearch.search(evaluations=100, out_dir="runs/digits")   # digits, demo teacher, NB201, DisWOT
    >>> run.top(5)
    >>> report = archsearch.distill("runs/digits")
    >>> archsearch.export("runs/digits", "students/digits")
    >>> model = archsearch.load_student("students/digits")
"""

from archsearch.version import __version__

# The subpackage archsearch.distill is imported before the function of the same name is bound,
# so the name `archsearch.distill` stays the function.
import archsearch.distill as _distill_package  # noqa: F401,E402
from archsearch.api import resume, score, search  # noqa: E402
from archsearch.data import DataSplits, load_data  # noqa: E402
from archsearch.evaluator import CostLimits, Evaluator  # noqa: E402
from archsearch.exporting import load_student  # noqa: E402
from archsearch.pipeline import distill, export, load_run  # noqa: E402
from archsearch.runner import Budget, run_search  # noqa: E402
from archsearch.store import RunStore  # noqa: E402
from archsearch.teachers import load_teacher  # noqa: E402

__all__ = ["Budget", "CostLimits", "DataSplits", "Evaluator", "RunStore", "__version__", "distill", "export",
           "load_data", "load_run", "load_student", "load_teacher", "resume", "run_search", "score", "search"]
