"""Per-model input validation like KIE's 422s, from the catalogue's KIE schemas."""

import threading

from catalog.schemas import InputInvalid, kie_schema, validate_against_schema


def _index(models):
    if isinstance(models, dict):
        return dict(models)
    return {entry["kie_model"]: entry["input_schema"] for entry in models}


def _outputs(models):
    # Images a task makes when the input names no count (the seed's `images_per_task`: Grok's 6).
    if isinstance(models, dict):
        return {}
    return {entry["kie_model"]: entry.get("images_per_task", 1) for entry in models}


class ModelCatalogue:
    """The models the simulator accepts: `models` given, else catalog.seed.SEED_MODELS.

    The seed is read on first use, so importing the simulator never touches the catalogue.
    """

    def __init__(self, models=None):
        self._schemas = None if models is None else _index(models)
        self._outputs = {} if models is None else _outputs(models)
        self._lock = threading.Lock()

    @property
    def schemas(self):
        """Return the model id → input schema map (tests may add entries)."""
        self._load()
        return self._schemas

    def _load(self):
        from catalog.seed import SEED_MODELS  # here, not at the top: the app registry may not be ready

        with self._lock:
            if self._schemas is None:
                self._schemas, self._outputs = _index(SEED_MODELS), _outputs(SEED_MODELS)

    def image_count(self, model, data):
        """Return how many images a task makes: its `num_images`, else the model's usual count."""
        self._load()
        try:
            count = int(data.get("num_images", 0))
        except (TypeError, ValueError):
            count = 0
        return min(count if count > 0 else self._outputs.get(model, 1), 10)

    def error(self, model, data):
        """Return an error message like KIE's 422, or None when the input is acceptable."""
        if not isinstance(model, str) or not model:
            return "model is required"
        schema = self.schemas.get(model)
        if schema is None:
            return f"The model {model} is not supported"
        if not isinstance(data, dict):
            return "input must be an object"
        try:
            # KIE's own types (num_images "2", not 2): the schema Artio's users fill in is not KIE's.
            validate_against_schema(kie_schema(schema), data)
        except InputInvalid as exc:
            return str(exc)
        return None
