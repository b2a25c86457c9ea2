"""The course material: the assignment built on this project, and the notebook's exercises.

For students (these go into the student copy: course/parts.py STUDENT_COURSE_FILES):
    check.py        python -m course.check [PART ...]: run the public tests of the parts you implement
    exercises.py    the notebook's exercises and their checks (the answer key stays with the instructor)
    public/         the public tests of each part
    runner.py       runs the tests in this process; sandbox.py, child.py, wire.py, objects.py: each
                    part's student code runs in a child process of its own, with time and memory limits
    testkit.py, models.py, feedback.py, conftest.py, parts.py: what the tests are written with
For the instructor (left out of the student copy; README.md is the instructor's guide):
    assignment.py   python -m course.assignment make | documents | grade | self-check | autograder | leaks
    hidden/         the hidden tests of each part and the formulas they compare with
    grading.py, gradescope.py, autograder.py, autograder_files/: grading, locally and on Gradescope
    student_copy.py, stub.py, leaks.py, twins.py, documents.py: the copy, and what must not be in it
    wrong.py, alternatives.py, integrity.py, selfcheck.py, measure.py: wrong, correct and cheating
                    submissions, and the proof that the grader tells them apart
    exercise_answers.py   the answer key of the notebook's exercises 1-3
"""
