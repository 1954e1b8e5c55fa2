"""Run folders, shared by training, evaluation and experiments.

A run folder holds ``config.yaml`` (fully resolved), ``provenance.json``, ``model.zip``,
``best_model.zip``, ``checkpoints/``, ``metrics.csv``, ``tensorboard/``, ``wandb/`` and
``eval/<suite>/``:

- :mod:`.layout`: names and places; :mod:`.provenance`: ``provenance.json``;
- :mod:`.checkpoints`: atomic checkpoints with a sha256 manifest;
- :mod:`.tracking`: metrics.csv, TensorBoard and W&B writers;
- :mod:`.loading`: the config and the model (parameters only) read back;
- :mod:`.wandb_offline`: an offline W&B run read back without wandb's services.
"""
