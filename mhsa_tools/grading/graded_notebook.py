"""Building the graded notebook: the reference lesson with the student's answer cells put in."""
import copy

from ..notebooks import cell_source, defined_functions, exercise_meta, strip_solutions


def find_answers(lesson, cells):
    """Student source per exercise id (None when missing) and how each was found."""
    code = [cell for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    by_id = {}
    for cell in code:
        meta = exercise_meta(cell)
        if meta is not None and meta["role"] == "answer":
            by_id[meta["exercise"]] = cell  # the last one wins, as when run top to bottom
    used = {id(cell) for cell in by_id.values()}
    found = {}
    for exercise in lesson.exercises:
        cell = by_id.get(exercise.id)
        how = "metadata"
        if cell is None and exercise.functions:
            for candidate in reversed(code):
                if id(candidate) not in used and exercise_meta(candidate) is None and \
                        set(exercise.functions) <= set(defined_functions(cell_source(candidate))):
                    cell, how = candidate, "function name"
                    used.add(id(candidate))
                    break
        found[exercise.id] = (cell_source(cell), how) if cell is not None else (None, None)
    return found


def build_graded_notebook(lesson, cells):
    """The reference lesson with the student's answer cells put in, code cells only.

    Cells after the last check cell are dropped (they cannot change a verdict);
    a missing answer is replaced by the student-edition stub.

    Returns:
        (notebook, answers) where answers maps exercise id -> (source or None, how found).
    """
    answers = find_answers(lesson, cells)
    nb = copy.deepcopy(lesson.nb)
    last_check = max(exercise.check for exercise in lesson.exercises)
    for exercise in lesson.exercises:
        cell = nb.cells[exercise.answer]
        source, _ = answers[exercise.id]
        cell.source = source if source is not None else strip_solutions(cell_source(cell), exercise.id)
    nb.cells = [cell for cell in nb.cells[: last_check + 1] if cell.cell_type == "code"]
    return nb, answers
