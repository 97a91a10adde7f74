"""Lesson notebooks as the tools read them: cell sources, exercise metadata, solution regions.

Shared by ``release``, ``grading`` and ``slides``.  An answer cell carries the
metadata ``{"mhsa_ms": {"exercise": "1.2", "role": "answer", "points": 2}}``
and holds its solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
its check cell carries ``"role": "check"``.

>>> print(strip_solutions('def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION\\n', "1.1"))
def f(x):
    raise NotImplementedError("exercise 1.1")
<BLANKLINE>
"""
import re
import warnings

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


def cell_source(cell):
    """A cell's source as one string ('' when it is malformed)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def exercise_meta(cell):
    """The ``mhsa_ms`` exercise metadata of a cell, or None.

    >>> exercise_meta({"metadata": {"mhsa_ms": {"exercise": "1.2", "role": "check", "points": 2}}})
    {'exercise': '1.2', 'role': 'check', 'points': 2}
    >>> exercise_meta({"metadata": {}}) is None
    True
    """
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("mhsa_ms") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict) or meta.get("role") not in ("answer", "check"):
        return None
    if not isinstance(meta.get("exercise"), str):
        return None
    return meta


def strip_solutions(source, exercise_id):
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by a stub.

    The stub ``raise NotImplementedError("exercise <id>")`` takes the
    indentation of the BEGIN line; the lines before and after are kept.

    Raises:
        ValueError: when the markers are unbalanced.
    """
    lines = source.splitlines(keepends=True)
    result, inside = [], False
    for number, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"exercise {exercise_id}: nested {BEGIN!r} at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            result.append(f'{indent}raise NotImplementedError("exercise {exercise_id}")\n')
        elif marker == END:
            if not inside:
                raise ValueError(f"exercise {exercise_id}: {END!r} without {BEGIN!r} at line {number}")
            inside = False
        elif not inside:
            result.append(line)
    if inside:
        raise ValueError(f"exercise {exercise_id}: {BEGIN!r} without {END!r}")
    return "".join(result)


def has_markers(source):
    return any(line.strip() in (BEGIN, END) for line in source.splitlines())


def read_notebook(path):
    """A lesson notebook as nbformat v4 node (for the instructor's own files)."""
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


def defined_functions(source):
    return tuple(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", source, re.MULTILINE))


def notebook_day(nb):
    """The ``mhsa_ms.day`` of a notebook given as a dict, or None."""
    metadata = nb.get("metadata")
    meta = metadata.get("mhsa_ms") if isinstance(metadata, dict) else None
    return meta.get("day") if isinstance(meta, dict) else None

