"""The one error family every app raises for a request it refuses.

An `ArtioError` carries a stable machine-readable `code`, the HTTP status it maps to, a message fit
to show a person, and optional `details` (per-field messages, or facts such as `required`). Pages
show the message; the partner API renders the same error as {"error": {code, message, details}}
(artio/api_errors.py). Nothing changed when one is raised: each is raised before money moves, or
its transaction rolls back.
"""


class ArtioError(Exception):
    code = "invalid_input"
    http_status = 400

    def __init__(self, message, *, details=None, code=None, http_status=None, headers=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status
