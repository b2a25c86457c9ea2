"""The course material: the assignment built on this project, and the notebook's exercises.

For students (these go into the student copy):
    check.py        python -m course.check [PART ...]: run the public tests of the parts you implement
    exercises.py    the notebook's exercises and their checks
    public/         the public tests of each part; testkit.py, feedback.py, conftest.py, runner.py,
                    parts.py: what they run on
For the instructor (left out of the student copy; README.md is the instructor's guide):
    assignment.py   python -m course.assignment make | grade | self-check | autograder | leaks
    hidden/         the hidden tests of each part
    student_copy.py, grading.py, gradescope.py, autograder.py, wrong.py, selfcheck.py, leaks.py, stub.py
"""
