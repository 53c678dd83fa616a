"""The assignment's grading contract: its name, its notebook, and its criteria with their points.

One table, read by the source notebook's test cells (grade_id and points), the hidden autograder,
the batch reports and the gradebook writer.
"""

ASSIGNMENT = "init_symmetry"
NOTEBOOK = "init_symmetry.ipynb"

# Cells tagged with this are heavy experiments (training runs, plots); grading skips them.
EXPERIMENT_TAG = "experiment"

# Criterion name -> points, in the fixed order used by grades.csv and the reports.
CRITERIA: dict[str, int] = {
    "zeros": 5,
    "constant": 5,
    "random": 10,
    "xavier_variance": 10,
    "he_variance": 10,
    "forward": 10,
    "cost": 5,
    "backward_gradients": 15,
    "gradient_equality": 10,
    "symmetry_breaking": 10,
    "symmetry_check": 5,
    "update": 5,
}

MAX_SCORE = sum(CRITERIA.values())
assert MAX_SCORE == 100
