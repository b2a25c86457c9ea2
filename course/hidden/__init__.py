"""The hidden tests: the instructor's, never in the student copy. They check the same math as the
public tests on other draws, sizes and edge cases, mostly against the formula itself (formulas.py)."""
