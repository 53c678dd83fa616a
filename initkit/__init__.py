"""initkit: an auto-graded nbgrader assignment on weight initialization and symmetry breaking.

Importing the package stays light: heavy modules (nbgrader, matplotlib, the sandbox) are imported
where they are used.
"""

__version__ = "0.1.0"
