"""Experiments: the plan (grid x seeds, :mod:`.plan`), the trial runner (:mod:`.runner`), backends
(:mod:`.backends.process`, :mod:`.backends.ray`), the experiment command (:mod:`.experiment`),
sweeps through Ray Tune (:mod:`.sweep_spec`, :mod:`.sweep`, :mod:`.trial_report`), the child
process entry (``python -m agents.experiments.child``) and the requests of ``train.py``
(:mod:`.request`)."""
