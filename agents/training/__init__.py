"""Training: the loop with resume and wall-time limits (:mod:`.loop`), its callbacks
(:mod:`.callbacks`), RNG state for exact resumes (:mod:`.rng`) and the ``train.py`` request
(:mod:`.request`). Run-folder files (checkpoints, tracking) live in :mod:`agents.rundir`."""
