"""A/B/C/D/E experiments: assignment (assignment.py), variants run in one engine sharing stages (variants.py), the
statistics (stats.py), the simulated online test (simulation.py), the run and its published tables (runner.py,
tables.py) and the HTML report (report.py)."""
