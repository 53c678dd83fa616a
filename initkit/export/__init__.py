"""Grades out of nbgrader's gradebook, for other systems.

    totals           each submission's scores, read from nbgrader's gradebook (the one place both
                     exports below read them)
    canvas           `initkit export canvas`: a Canvas gradebook export, filled in for Canvas's
                     Import
    nbgrader_plugin  `nbgrader export --exporter=initkit.export.nbgrader_plugin.CriteriaExportPlugin`:
                     one CSV row per student and assignment, a column per autograded cell
"""
