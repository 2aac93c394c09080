"""URL converters for the ids and slugs in our paths: a path that cannot be one is a 404 at once.

Without them a NUL or any odd character in a path reaches the database (PostgreSQL refuses NUL in
text with an error, a 500). Importing this module registers them; each app's urls.py imports it.
"""

from django.urls import register_converter


class PublicIdConverter:
    """Public ids of our rows: a prefix and base32 characters, e.g. gen_01JC9S4X…, top_9f2c…."""

    regex = "[A-Za-z0-9_]{1,64}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class ModelSlugConverter(PublicIdConverter):
    """Catalogue slugs, which contain a slash: google/imagen4-fast."""

    regex = "[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*"


register_converter(PublicIdConverter, "public_id")
register_converter(ModelSlugConverter, "model_slug")
