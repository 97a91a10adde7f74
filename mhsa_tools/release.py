"""``mhsa-ms release``: the student edition of reference lessons (solutions stubbed, outputs cleared)."""
import copy
from pathlib import Path

from .notebooks import BEGIN, cell_source, exercise_meta, has_markers, read_notebook, strip_solutions


def student_edition(nb):
    """A copy of a lesson notebook with solutions stubbed and answer/check outputs cleared.

    Raises:
        ValueError: when a cell holds solution markers but is not an answer
            cell, an answer cell has no solution region, or a region is not
            inside a function body (the stub would stop a top-to-bottom run).
    """
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        meta = exercise_meta(cell)
        source = cell_source(cell)
        if meta is None or meta["role"] != "answer":
            if has_markers(source):
                raise ValueError(f"cell {index} holds {BEGIN!r} but is not an answer cell "
                                 "(metadata mhsa_ms.role must be 'answer')")
            if meta is None:
                continue
        else:
            if BEGIN not in source:
                raise ValueError(f"answer cell {index} (exercise {meta['exercise']}) has no {BEGIN!r} region")
            cell.source = strip_solutions(source, meta["exercise"])
            if any(line.startswith("raise NotImplementedError") for line in cell.source.splitlines()):
                raise ValueError(f"answer cell {index} (exercise {meta['exercise']}): the solution must lie "
                                 "inside a function body, so that the student edition still runs")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    meta = nb.metadata.get("mhsa_ms")
    if isinstance(meta, dict):
        meta["edition"] = "student"
    return nb


def release(lessons, out):
    """Write the student edition of each lesson into directory ``out``.

    Args:
        lessons: paths of reference lesson notebooks (never modified).
        out: output directory, created if needed; must not hold a source lesson.

    Returns:
        The written paths, in the order of ``lessons``.
    """
    import nbformat

    out = Path(out)
    sources = [Path(path) for path in lessons]
    if not sources:
        raise ValueError("lessons must name at least one notebook")
    for path in sources:
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"lesson {str(path)!r} is not an existing .ipynb file")
        if (out / path.name).resolve() == path.resolve():
            raise ValueError(f"out {str(out)!r} would overwrite the source lesson {str(path)!r}")
    editions = [student_edition(read_notebook(path)) for path in sources]  # validate all first
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, nb in zip(sources, editions):
        target = out / path.name
        with open(target, "w", encoding="utf-8") as handle:
            nbformat.write(nb, handle)
        written.append(target)
    return written
