"""Analysis of finished runs: one statistics module (:mod:`.stats`, which imports nothing else
of agents/), comparing runs over seeds (:mod:`.compare`) and table rendering (:mod:`.tables`)."""
