"""The hidden tests of init_symmetry (each marked with the criterion, a grade_id of the source notebook)."""
