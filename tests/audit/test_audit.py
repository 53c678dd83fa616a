"""`initkit audit` (initkit/audit, docs/audit.md): operators, screening, the course's audit folder,
the report; slow: the audit on this course through the real pipeline, and on copies of the course
whose hidden tests are made too weak (a survivor appears) or too strict (a false fail appears)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import ASSIGNMENT, REPO, copy_real_course
from initkit.audit import alternatives as alt
from initkit.audit import mutate, report, screen
from initkit.audit.run import classify, run_audit
from initkit.course import Course, assignments
from initkit.reference import reference_cells

COURSE = Course.open(REPO, ASSIGNMENT)
AUDIT = REPO / "audit" / ASSIGNMENT

SAMPLE = '''def f(A, B, tol=1e-8):
    """Docstring: never mutated 1.5 sum axis."""
    Z = A @ B.T
    s = np.sum(Z, axis=1, keepdims=True) / 2.0
    ok = np.allclose(Z, Z[0], rtol=0.0, atol=tol)
    return np.abs(s), ok, A.copy()
'''


def _ops(mutants):
    return {m.operator for m in mutants}


# --------------------------------------------------------------------------- operators

def test_every_operator_family_applies_one_site_at_a_time():
    made = mutate.mutants("sample", "f", SAMPLE)
    ops = _ops(made)
    for family in ("numpy.axis", "numpy.keepdims", "numpy.sum_mean", "numpy.transpose",
                   "numpy.matmul", "numpy.constant", "numpy.tolerance", "numpy.function",
                   "numpy.drop_call", "mutmut.number", "mutmut.swap_op", "mutmut.arg_removal",
                   "mutmut.assignment"):
        assert family in ops, family
    for m in made:
        assert m.source != SAMPLE
        compile(m.source, "<m>", "exec")
        changed = [line for line in m.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
        assert len(changed) == 1, m.diff                 # one site, one line here
    assert not any("Docstring" in line for m in made for line in m.diff.splitlines()
                   if line.startswith(("+", "-")) and not line.startswith(("+++", "---")))
    sources = [m.source for m in made]
    assert len(sources) == len(set(sources))


def test_numpy_operators_make_the_changes_the_issue_names():
    made = {m.source for m in mutate.mutants("sample", "f", SAMPLE)}

    def has(fragment):
        return any(fragment in s for s in made)

    assert has("axis=0, keepdims=True") and has("axis=None, keepdims=True")      # axis changed
    assert has("axis=1, keepdims=False") and has("axis=1)")                      # keepdims
    assert has("np.mean(Z, axis=1")                                              # sum/mean
    assert has("Z = A @ B\n")                                                    # transpose dropped
    assert has("Z = A * B.T")                                                    # @ -> *
    assert has("/ 2.2")                                                          # constant 10% off
    assert has("rtol=(0.0) * 10") and has("atol=(tol) / 10") and has("tol=1e-8 * 10")
    assert has("np.array_equal(Z, Z[0]")                                         # numpy function swap
    assert has("return (s), ok") and has("ok, (A)\n")                            # call dropped


def test_mutant_ids_are_stable_and_distinct():
    a = mutate.mutants("reference", "f", SAMPLE)
    b = mutate.mutants("reference", "f", SAMPLE)
    assert [m.id for m in a] == [m.id for m in b]
    assert len({m.id for m in a}) == len(a)
    assert all(m.id.startswith("reference:f:") for m in a)


def test_mutmut_operators_are_the_librarys_own():
    from mutmut.mutation.mutators import mutation_operators

    names = {name for name, _, _ in mutate.library_operators()}
    assert len(names) == len({fn.__name__ for _, fn in mutation_operators})
    assert "mutmut.swap_op" in names


# --------------------------------------------------------------------------- the audit folder

def test_the_course_has_at_least_seven_genuinely_different_alternatives():
    origins = alt.origins(COURSE, AUDIT)
    ref = origins[0]
    assert ref.name == alt.REFERENCE
    alternatives = origins[1:]
    assert len(alternatives) >= 7
    covered = set()
    for o in alternatives:
        assert o.own and o.description
        for f in o.own:
            assert o.functions[f].strip() != ref.functions[f].strip()
            covered.add(f)
    assert covered == set(ref.functions)          # every answer function has another style
    text = "\n".join(o.cell(f) for o in alternatives for f in o.own)
    for marker in ("np.einsum", "np.matmul", "expit", "np.log1p", "np.allclose", "np.ptp",
                   "caches.append", "-= learning_rate", "for j in range"):
        assert marker in text, marker
    scipy = next(o for o in alternatives if o.name == "scipy_special")
    assert "from scipy.special import expit" in scipy.cell("forward_propagation")


def test_every_answer_function_has_a_probe_and_its_own_criterion():
    probes = alt.load_probes(COURSE, AUDIT)
    ref = alt.reference_origin(COURSE)
    assert set(ref.functions) <= set(probes)
    own = alt.function_criteria(COURSE, list(ref.functions))
    assert own["is_layer_symmetric"] == ["symmetry_check"]
    assert own["backward_propagation"] == ["backward_gradients"]
    assert all(len(c) == 1 and c[0] in COURSE.criteria for c in own.values())


def test_accepted_file_format(tmp_path):
    (tmp_path / "accepted.toml").write_text(textwrap.dedent('''
        [[accepted]]
        id = "reference:f:numpy.constant:0123456789"
        reason = """Within the
          assignment's words."""
    '''))
    got = alt.load_accepted(COURSE, tmp_path)
    assert got["reference:f:numpy.constant:0123456789"].reason == "Within the assignment's words."
    (tmp_path / "accepted.toml").write_text('[[accepted]]\nid = "x"\n')
    with pytest.raises(alt.AuditSetupError, match="reason"):
        alt.load_accepted(COURSE, tmp_path)
    assert isinstance(alt.load_accepted(COURSE, AUDIT), dict)     # the course's own file parses


# --------------------------------------------------------------------------- screening

def _screen(function, original, mutant_sources, probes, probes_per_mutant=screen.PROBES):
    origins = {"o": [original]}
    tasks = [("o", function, m) for m in mutant_sources]
    return screen.screen(tasks, base=["import numpy as np\n"], origins=origins, probes=probes,
                         answers=[function], workers=1, probes_per_mutant=probes_per_mutant,
                         budget=2.0)


def _x_probe(rng, fns):
    return (rng.standard_normal((3, 2)),), {}


KNOWN_DIFFERENT = {   # each behaves differently from ORIGINAL on some input the probe can draw
    "value": "def g(x, tol=1e-3):\n    return float(np.sum(x)) * 1.0000001\n",
    "type": "def g(x, tol=1e-3):\n    return np.sum(x)\n",
    "raises": "def g(x, tol=1e-3):\n    return float(np.sum(x[5]))\n",
    "in_place": "def g(x, tol=1e-3):\n    y = float(np.sum(x))\n    x[0, 0] = 7.0\n    return y\n",
    "hangs": "def g(x, tol=1e-3):\n    while True:\n        pass\n",
    "tie": "def g(x, tol=1e-3):\n    return float(np.sum(x)) if np.max(np.abs(x)) != 0.5 else 0.0\n",
}
ORIGINAL = "def g(x, tol=1e-3):\n    return float(np.sum(x))\n"


def _tie_probe(rng, fns):
    x = rng.standard_normal((3, 2))
    if rng.random() < 0.3:
        x[:] = 0.0
        x[1, 1] = 0.5
    return (x,), {}


def test_screening_keeps_every_known_different_mutant_and_says_why():
    verdicts = _screen("g", ORIGINAL, list(KNOWN_DIFFERENT.values()), {"g": _tie_probe})
    for (name, _), v in zip(KNOWN_DIFFERENT.items(), verdicts):
        assert not v.equivalent, name
        assert v.probe, name
    assert "did not return" in verdicts[list(KNOWN_DIFFERENT).index("hangs")].probe
    assert "arguments after the call differ" in verdicts[list(KNOWN_DIFFERENT).index("in_place")].probe


def test_screening_drops_equivalent_mutants():
    same = ["def g(x, tol=1e-3):\n    return float(np.sum(x, axis=None))\n",
            "def g(x, tol=1e-3):\n    y = x\n    return float(np.sum(y))\n"]
    assert all(v.equivalent for v in _screen("g", ORIGINAL, same, {"g": _x_probe}))


def test_screening_seeds_a_functions_own_default_generator():
    """np.random.default_rng() without a seed draws the same numbers for both sides, so an
    unseeded original is not 'different from itself', and ignoring it is caught."""
    original = "def r(n, rng=None):\n    rng = np.random.default_rng() if rng is None else rng\n    return rng.standard_normal(n)\n"
    ignores = "def r(n, rng=None):\n    rng = np.random.default_rng()\n    return rng.standard_normal(n)\n"

    def probe(rng, fns):
        return (3,), ({"rng": np.random.default_rng(int(rng.integers(99)))} if rng.random() < 0.5 else {})

    v_same, v_ignores = _screen("r", original, [original, ignores], {"r": probe})
    assert v_same.equivalent and not v_ignores.equivalent


@settings(max_examples=60, deadline=None)
@given(a=st.floats(-5, 5, allow_nan=False), c=st.floats(-5, 5, allow_nan=False),
       b=st.floats(-5, 5, allow_nan=False))
def test_screening_never_drops_a_mutant_that_differs_on_probe_inputs(a, b, c):
    """Property: a mutant that gives another result on some probe input is never screened out."""
    original = f"def h(x):\n    return x * {a!r} + {b!r}\n"
    mutant = f"def h(x):\n    return x * {c!r} + {b!r}\n"

    def probe(rng, fns):
        return (rng.standard_normal(4),), {}

    differs = any(not np.array_equal(x * a + b, x * c + b)
                  for x in (probe(np.random.default_rng(s), None)[0][0] for s in range(screen.PROBES)))
    verdict = _screen("h", original, [mutant], {"h": probe})[0]
    assert verdict.equivalent is not differs


def test_course_screening_equivalents_stay_equivalent_on_ten_times_more_probes():
    """The mutants of the reference that the course's probes screen out still behave exactly
    like the reference on 400 fresh probes (other seeds)."""
    ref = alt.reference_origin(COURSE)
    probes = alt.load_probes(COURSE, AUDIT)
    made = [m for f in ref.own for m in mutate.mutants(ref.name, f, ref.functions[f])]
    kwargs = dict(base=reference_cells(COURSE.source_notebook),
                  origins={ref.name: [ref.cell(f) for f in ref.own]}, probes=probes,
                  answers=list(ref.functions), workers=2)
    tasks = [(m.origin, m.function, ref.cell(m.function, m.source)) for m in made]
    verdicts = screen.screen(tasks, **kwargs)
    equivalent = [t for t, v in zip(tasks, verdicts) if v.equivalent]
    assert 0 < len(equivalent) < len(tasks) // 10
    again = screen.screen(equivalent, probes_per_mutant=400, seed=10_000, **kwargs)
    assert all(v.equivalent for v in again), [t[2] for t, v in zip(equivalent, again) if not v.equivalent]


# --------------------------------------------------------------------------- classifying, the report

def _result(student, failed=(), status="graded"):
    tests = [{"name": f"t_{c}", "criterion": c, "outcome": "failed" if c in failed else "passed",
              "message": f"{c} is wrong"} for c in COURSE.criteria]
    crit = {c: {"score": 0.0 if c in failed else p, "max_score": p} for c, p in COURSE.criteria.items()}
    return {"student": student, "status": status, "tests": tests, "criteria": crit,
            "score": sum(v["score"] for v in crit.values()), "max_score": COURSE.max_score}


def _fake_report():
    ref = alt.reference_origin(COURSE)
    src = ref.functions["is_layer_symmetric"]
    made = mutate.mutants("reference", "is_layer_symmetric", src)[:4]
    kept = [(m, screen.Verdict(False, f"probe {i}")) for i, m in enumerate(made)]
    results = {"alt:reference": _result("alt:reference"),
               f"mut:{made[0].id}": _result("m0", failed=("symmetry_check",)),
               f"mut:{made[1].id}": _result("m1", failed=("symmetry_check", "zeros")),
               f"mut:{made[2].id}": _result("m2"),
               f"mut:{made[3].id}": _result("m3")}
    accepted = {made[3].id: alt.Accepted(made[3].id, "fine <by> the words")}
    own = alt.function_criteria(COURSE, list(ref.functions))
    data = classify(COURSE, [ref], kept, results, accepted, own, student_of=lambda k, key: f"{k}:{key}")
    data.update(assignment=ASSIGNMENT, generated=5, screened_out=1, operators=["x"], workers=2,
                graded_now=5, reused=0, timing={"grade": 1.0}, seconds=1.5)
    return data, made


def test_classify_counts_kills_survivors_accepted_and_isolation():
    data, made = _fake_report()
    assert (data["mutants"], data["killed"]) == (4, 2)
    assert data["mutation_score"] == pytest.approx(2 / 3)
    assert [s["id"] for s in data["survivors"]] == [made[2].id]
    assert data["survivors"][0]["diff"].startswith("---") and data["survivors"][0]["probe"] == "probe 2"
    assert [a["id"] for a in data["accepted"]] == [made[3].id]
    assert [i["id"] for i in data["isolation"]] == [made[1].id]
    assert data["isolation_summary"][0]["criterion"] == "zeros"
    assert data["criteria"]["symmetry_check"]["mutants"] == 4
    assert data["false_fails"] == 0 and data["alternatives"][0]["score"] == COURSE.max_score
    for field in ("mutation_score", "mutants", "killed", "survivors", "accepted", "alternatives",
                  "false_fails", "seconds"):
        assert field in data


def test_false_fails_are_the_tests_a_correct_solution_fails():
    ref = alt.reference_origin(COURSE)
    results = {"alt:reference": _result("alt:reference", failed=("cost",))}
    data = classify(COURSE, [ref], [], results, {}, {}, student_of=lambda k, key: f"{k}:{key}")
    assert data["false_fails"] == 1
    assert data["false_fail_details"][0] == {"alternative": "reference", "criterion": "cost",
                                             "test": "t_cost", "message": "cost is wrong"}


def test_report_json_and_html(tmp_path):
    data, made = _fake_report()
    report.write_json(data, tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text())["killed"] == 2
    page = report.write_html(data, tmp_path / "a.html").read_text()
    assert made[2].id in page and "fine &lt;by&gt; the words" in page and "<by>" not in page
    assert "symmetry_check" in page
    assert any("mutation score 66.7%" in line for line in report.summary_lines(data))


def test_cli_has_an_audit_command():
    from initkit.cli import build_parser

    args = build_parser().parse_args(["audit", "--assignment", ASSIGNMENT, "--min-score", "0.995",
                                      "--json", "a.json", "--html", "a.html"])
    assert args.min_score == 0.995 and args.json == "a.json" and args.func.__name__ == "_audit"


# --------------------------------------------------------------------------- slow: the real pipeline

# init_symmetry's accepted survivors (29 of 1,121, each with its reason) predate the 2% bar the
# second assignment was built to.
MAX_ACCEPTED = {"init_symmetry": 0.03}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments(REPO))
def test_audit_of_each_assignment(assignment, tmp_path):
    """The bar every assignment of the course meets: at least 5 correct styles besides the
    reference, none losing a point; at least 300 graded mutants; a mutation score of at least
    99.5%, with accepted survivors at most 2% of the graded mutants."""
    data = run_audit(Course.open(REPO, assignment), out_dir=tmp_path / "cache", progress=False,
                     force=True)
    assert data["false_fails"] == 0, data["false_fail_details"]
    assert data["mutation_score"] >= 0.995, [s["id"] for s in data["survivors"]]
    assert not data["stale_accepted"], data["stale_accepted"]
    assert all(a["score"] == a["max_score"] for a in data["alternatives"])
    assert len(data["alternatives"]) >= 6                      # the reference and 5 styles
    assert data["mutants"] >= 300
    assert len(data["accepted"]) <= MAX_ACCEPTED.get(assignment, 0.02) * data["mutants"], len(data["accepted"])
    assert data["killed"] + len(data["survivors"]) + len(data["accepted"]) == data["mutants"]
    for s in data["survivors"]:
        assert s["diff"].startswith("---") and s["probe"].startswith(("probe", "the mutant"))
    print(f"audit: {data['generated']} generated, {data['screened_out']} screened out, "
          f"{data['mutants']} graded in {data['seconds']} s ({data['timing']})")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.mark.slow
def test_a_removed_hidden_case_shows_up_as_a_survivor(tmp_path):
    """The same audit on two copies of the course; in one, the hidden symmetry check loses its
    'same weights, different biases' case: the mutants only that case killed now survive."""
    def survivors(root):
        data = run_audit(Course.open(root, ASSIGNMENT), folder=AUDIT, out_dir=root / "cache",
                         progress=False, functions=["is_layer_symmetric"], only_origins=["reference"])
        return {s["id"] for s in data["survivors"]}

    intact = survivors(copy_real_course(tmp_path / "intact"))
    weak = copy_real_course(tmp_path / "weak")
    _edit(weak / "autograder" / ASSIGNMENT / "test_symmetry.py", '"rows-differ", "same-W-different-biases", ',
          '"rows-differ", ')
    new = survivors(weak) - intact
    assert "reference:is_layer_symmetric:numpy.function:eb25a43d4f" in new      # np.all -> np.any on b


@pytest.mark.slow
def test_a_too_strict_hidden_check_shows_up_as_a_false_fail(tmp_path):
    """The hidden cost check made exact (no tolerance): correct costs computed another way
    (a loop of math.log, log1p, matmul) lose points, reported as false fails with the message."""
    root = copy_real_course(tmp_path / "strict")
    _edit(root / "autograder" / ASSIGNMENT / "test_network.py",
          "if abs(got - expected) > 1e-10 * max(1.0, abs(expected)):", "if got != expected:")
    data = run_audit(Course.open(root, ASSIGNMENT), folder=AUDIT, out_dir=root / "cache",
                     progress=False, functions=[],
                     only_origins=["reference", "loops", "scipy_special", "einsum_matmul"])
    assert data["mutants"] == 0 and data["false_fails"] > 0
    fails = data["false_fail_details"]
    assert {f["criterion"] for f in fails} == {"cost"}
    assert all(f["alternative"] != "reference" and "compute_cost: the cost is" in f["message"] for f in fails)
