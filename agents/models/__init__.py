"""The models: features extractors and their registries (:mod:`.extractors`), the algorithm
factory (:mod:`.algorithms`), learning-rate schedules (:mod:`.schedules`) and inference on
tensors of any vehicle-row count (:mod:`.inference`). Models know nothing of training,
evaluation or the config loader."""
