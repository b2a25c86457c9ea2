"""The one-off research scripts, apart from the engine they use (harness/): each reads a reproduce.py
run's models or results and asks one further question of them.

    python -m harness.research.attack_sweep     attack strength (lr, steps) against the headline's models
    python -m harness.research.basin            the loss along lines from theta_0 through each model
    python -m harness.research.memorisation     DiMUM's memorisation of D_alt against its budget
    python -m harness.research.rejudge          more samples for a table's cells, both judges
    python -m harness.research.across_classes   one method across forget classes (one seed each)
    python -m harness.research.compare_results  two runs' verdicts side by side
"""
