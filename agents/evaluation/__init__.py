"""Evaluation: episodes and their metrics (:mod:`.episodes`), suite runs over scenarios with
workers and videos (:mod:`.suite_run`), the resume state of an interrupted evaluation
(:mod:`.resume_state`), reports in json/md/html (:mod:`.report`), the attention overlay for
videos (:mod:`.overlay`) and the ``evaluate.py`` request (:mod:`.request`). Evaluation
imports nothing of training."""
