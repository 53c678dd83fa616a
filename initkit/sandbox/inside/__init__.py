"""What runs inside the sandbox, in the student's process: standard library and numpy only.

Inside bubblewrap the initkit package is not visible: the host binds this folder alone at
/sandbox/inside and runs it as a script (`python -I -S /sandbox/inside FD CONFIG_JSON`, see
__main__.py), so its modules import each other relatively and nothing outside it. The grader
imports the same files as initkit.sandbox.inside (wire.py is the format both sides speak).
"""
