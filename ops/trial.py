"""The catalogue's "test generation": one real run of a model, on the staff member's own account.

It goes through `generation_create` like any user's job — validation, quote, charge, dispatch to KIE,
storage — so it proves the model's KIE id, schema and price together. It is charged to the staff
member's account at the normal price (a `generation_charge` ledger row, refunded if it fails), never
free: the ledger stays the one record of every credit spent. Staff short of credits grant themselves
some first (`manage.py grant_credits`, an `adjustment` row). The model may still be inactive, and the
staff member's plan is not checked.
"""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.schemas import image_fields
from generation.services import generation_create

TRIAL_PROMPT = "Test image: a red lighthouse on a green cliff at dusk"


def _sample_value(prop):
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "string":
        return TRIAL_PROMPT[: prop.get("maxLength") or len(TRIAL_PROMPT)]
    if kind in ("integer", "number"):
        return prop.get("minimum", 1)
    if kind == "boolean":
        return False
    return None


def trial_input(schema):
    """Return the smallest input the schema accepts: each required field without a default, sampled.

    Image fields are left out: `trial_uploads` sends a generated picture for the required ones.
    """
    images = image_fields(schema)
    data = {}
    for name in schema.get("required", []):
        prop = schema["properties"].get(name, {})
        if name in images or "default" in prop:
            continue
        value = _sample_value(prop)
        if value is not None:
            data[name] = value
    return data


def _test_picture():
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 60, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def trial_uploads(schema):
    """Return {field: [a 256×256 PNG]} for each required image field (sent to KIE's file upload)."""
    required = set(schema.get("required", []))
    return {
        name: [SimpleUploadedFile("artio-test.png", _test_picture(), content_type="image/png")]
        for name in image_fields(schema)
        if name in required
    }


def trial_run(*, model, user, data):
    """Create (charge and queue) one generation of `model` for staff `user`; return it.

    Raises ArtioError (nothing charged) as any create does: bad input, too few credits, dispatch paused.
    """
    return generation_create(
        user=user,
        model_slug=model.slug,
        data=data,
        uploads=trial_uploads(model.input_schema),
        staff_test_model=model,
    )
