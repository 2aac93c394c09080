"""The pricing manager's admin: models with their prices, margins, bulk repricing, history, cost table.

Every price edit (change form, list-editable column, model inline, bulk action) goes through
catalog.services, which writes a PriceChange row in the same transaction. Importing the modules
below registers their admin classes.
"""

from . import ai_models, money, prices  # noqa: F401
