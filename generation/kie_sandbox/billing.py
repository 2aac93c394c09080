"""What the simulated KIE bills per task, like KIE's `creditsConsumed` (docs/reference/kie-api.md §2.2).

KIE bills the model's price for a finished task and nothing for a failed one. The simulator takes
its prices from the catalogue seed (the price row's `kie_credits`, per image or per task, by the
variant the input names), so a clean run reconciles to the credit with what Artio expected. Tests
steer it off the price list with `KieSandbox.bill_next(...)` to rehearse KIE billing more than
the price row, or billing a failed task.
"""

import threading
from collections import deque
from decimal import Decimal


def _price_index(models):
    """Return kie_model → (variant_field, {variant: (kie_credits, unit)}) for entries with prices."""
    index = {}
    for entry in models:
        prices = entry.get("prices") or []
        if prices:
            rows = {
                str(p.get("variant", "")): (Decimal(p["kie_credits"]), str(p.get("unit", "image")))
                for p in prices
            }
            index[entry["kie_model"]] = (entry.get("variant_field", ""), rows)
    return index


class PriceList:
    """KIE's price per task: the seed's price rows, else `credits_per_image` × images."""

    def __init__(self, models=None):
        # None: read the seed on first use (the app registry may not be ready at import time).
        self._index = None if models is None else ({} if isinstance(models, dict) else _price_index(models))
        self._lock = threading.Lock()

    def _load(self):
        from catalog.seed import SEED_MODELS

        with self._lock:
            if self._index is None:
                self._index = _price_index(SEED_MODELS)
        return self._index

    def task_cost(self, model, data, *, images, credits_per_image):
        """Return the credits a successful task of `model` on input `data` making `images` images costs."""
        priced = self._load().get(model)
        if priced is None:
            return credits_per_image * images
        variant_field, rows = priced
        variant = str(data.get(variant_field, "")) if variant_field else ""
        kie_credits, unit = rows.get(variant) or rows.get("") or next(iter(rows.values()))
        return kie_credits * images if unit == "image" else kie_credits


class BillOverrides:
    """Amounts the next created tasks are billed whatever their end (tests' `bill_next`)."""

    def __init__(self):
        self._next = deque()
        self._lock = threading.Lock()

    def push(self, credits, times):
        with self._lock:
            self._next.extend([Decimal(credits)] * times)

    def pop(self):
        """Return the next forced bill, or None to bill by the price list."""
        with self._lock:
            return self._next.popleft() if self._next else None


def task_bill(task):
    """Return what KIE reports as `creditsConsumed` for the task: 0 until it ends, then its bill."""
    if not task.finished:
        return Decimal(0)
    if task.bill is not None:
        return task.bill
    return task.cost if task.state == "success" else Decimal(0)
