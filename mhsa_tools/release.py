"""``mhsa-ms release``: the student edition of reference lessons (solutions stubbed, outputs cleared)."""
import copy
from pathlib import Path

from .i18n import notebook_language
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

    Either edition of the course (简体中文 or English) is released the same way: the
    student edition keeps the notebook's metadata, ``mhsa_ms.language`` included, which
    tells grading which edition's reference lesson to use.

    Args:
        lessons: paths of reference lesson notebooks (never modified).
        out: output directory, created if needed; must not hold a source lesson,
            and receives one lesson of each file name (release the two editions
            into two folders).

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
    named = {}
    for path in sources:
        if path.name in named:
            raise ValueError(f"lessons {str(named[path.name])!r} and {str(path)!r} would both be written to "
                             f"{str(out / path.name)!r}: release each edition into a folder of its own")
        named[path.name] = path
    editions = [student_edition(read_notebook(path)) for path in sources]  # validate all first
    for path, nb in zip(sources, editions):
        if notebook_language(nb) is None:
            raise ValueError(f"lesson {str(path)!r}: metadata mhsa_ms.language must be 'zh' or 'en', "
                             f"got {nb.metadata['mhsa_ms']['language']!r}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, nb in zip(sources, editions):
        target = out / path.name
        with open(target, "w", encoding="utf-8") as handle:
            nbformat.write(nb, handle)
        written.append(target)
    return written
