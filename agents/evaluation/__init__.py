"""Evaluation: episodes and their metrics (:mod:`.episodes`), fitting a scenario to the model
(:mod:`.scenario_fit`), the tasks of an evaluation and its worker processes (:mod:`.tasks`),
suite runs over scenarios with videos (:mod:`.suite_run`), the resume state of an interrupted evaluation
(:mod:`.resume_state`), reports in json/md/html (:mod:`.report`), the attention overlay for
videos (:mod:`.overlay`) and the ``evaluate.py`` request (:mod:`.request`). Evaluation
imports nothing of training."""
