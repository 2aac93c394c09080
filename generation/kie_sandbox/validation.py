"""Per-model input validation like KIE's 422s, from the catalogue's KIE schemas."""

import logging
import threading

from catalog.schemas import InputInvalid, kie_schema, validate_input

logger = logging.getLogger("generation.kie_sandbox")


def _index(models):
    if isinstance(models, dict):
        return dict(models)
    return {entry["kie_model"]: entry["input_schema"] for entry in models}


class ModelCatalogue:
    """The models the simulator accepts: `models` given, else catalog.seed.SEED_MODELS.

    The seed is read on first use, so importing the simulator never touches the catalogue. When it
    is missing every model is accepted unchecked (a warning says so).
    """

    def __init__(self, models=None):
        self._schemas = None if models is None else _index(models)
        self._permissive = False
        self._lock = threading.Lock()

    @property
    def schemas(self):
        """Return the model id → input schema map (tests may add entries)."""
        with self._lock:
            if self._schemas is None:
                self._schemas = self._load_seed()
            return self._schemas

    def _load_seed(self):
        try:
            from catalog.seed import SEED_MODELS  # lazy: read on first use, and optional
        except ImportError:
            logger.warning("catalog.seed is missing: the KIE sandbox accepts any model unchecked")
            self._permissive = True
            return {}
        return _index(SEED_MODELS)

    def error(self, model, data):
        """Return an error message like KIE's 422, or None when the input is acceptable."""
        if not isinstance(model, str) or not model:
            return "model is required"
        schemas = self.schemas
        schema = schemas.get(model)
        if schema is None and not self._permissive:
            return f"The model {model} is not supported"
        if not isinstance(data, dict):
            return "input must be an object"
        if schema is None:
            return None
        try:
            # KIE's own types (num_images "2", not 2): the schema Artio's users fill in is not KIE's.
            validate_input(kie_schema(schema), data)
        except InputInvalid as exc:
            return str(exc)
        return None
