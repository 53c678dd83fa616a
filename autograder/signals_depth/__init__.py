"""The hidden tests of signals_depth (each marked with the criterion, a grade_id of the source notebook)."""
