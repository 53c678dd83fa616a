"""Submissions whose cells use matplotlib get their process from a zygote that has it loaded;
the others from one that does not (cheaper to fork). Either way student code can use it."""

from __future__ import annotations

import pytest

from initkit.sandbox import SandboxHost
from initkit.sandbox.host import uses_plots
from initkit.submission import CodeCell

PLOTS = '''
import matplotlib.pyplot as plt
import numpy as np

def plot_and_measure():
    fig, ax = plt.subplots()
    ax.plot(np.arange(5), np.arange(5) ** 2)
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    plt.close(fig)
    return [width > 0, height > 0, "matplotlib" in __import__("sys").modules]
'''

HIDDEN_IMPORT = '''
import importlib

def backend():
    plt = importlib.import_module("matplot" + "lib.pyplot")
    return plt.get_backend().lower()
'''


@pytest.fixture(scope="module")
def host():
    with SandboxHost() as h:
        yield h


def test_plain_cells_never_start_the_plotting_zygote(host):
    with host.open_session([CodeCell(0, "def f():\n    return 2\n")]) as session:
        assert session.call("f") == 2
    assert host._plotting is None


def test_cells_that_plot_run_on_the_zygote_with_matplotlib(host):
    with host.open_session([CodeCell(0, PLOTS)]) as session:
        assert session.call("plot_and_measure") == [True, True, True]
        assert session._host is host._plotting and host._plotting.plots
    with host.open_session([CodeCell(0, "def f():\n    return 3\n")]) as session:
        assert session.call("f") == 3 and session._host is host     # the plain one again


def test_matplotlib_imported_without_its_name_still_works(host):
    """The choice of zygote is only about speed: code that hides the import gets it too."""
    cells = [CodeCell(0, HIDDEN_IMPORT)]
    assert not uses_plots(cells)
    with host.open_session(cells) as session:
        assert session.call("backend") == "agg"


def test_uses_plots_reads_every_cell():
    assert uses_plots([CodeCell(0, "x = 1"), CodeCell(1, "import seaborn as sns")])
    assert uses_plots([CodeCell(0, "from pylab import plot")])
    assert not uses_plots([CodeCell(0, "matplotlibish = 1"), CodeCell(1, "# plots later")])


PLANT = '''
import os

def plant():
    planted = []
    for folder in {os.environ.get("MPLCONFIGDIR", ""), "/tmp/.zygote/mpl", os.path.expanduser("~/.config/matplotlib")}:
        try:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "matplotlibrc"), "w") as f:
                f.write("lines.linewidth: 7\\n")
            planted.append(folder)
        except OSError:
            pass
    return planted
'''

READ = '''
import importlib, os

def linewidth():
    mpl = importlib.import_module("matplot" + "lib")
    return [mpl.rcParams["lines.linewidth"], os.environ["MPLCONFIGDIR"].startswith(os.getcwd())]
'''


def test_a_submission_cannot_set_matplotlib_defaults_for_the_next(host):
    """Each student process has its own matplotlib config folder, wiped with it."""
    with host.open_session([CodeCell(0, PLANT)]) as session:
        assert session.call("plant")               # it could write somewhere
    with host.open_session([CodeCell(0, READ)]) as session:
        assert session.call("linewidth") == [1.5, True]
