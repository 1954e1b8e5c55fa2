"""Where an experiment's trials run: subprocesses (:mod:`.process`) or Ray tasks (:mod:`.ray`)."""
