from django import template

from generation import selectors

register = template.Library()


@register.inclusion_tag("generation/admin/kie_status.html")
def kie_status():
    """Render KIE's account credit (cached briefly) and whether dispatch is paused."""
    balance, error = selectors.kie_credit_balance()
    return {"balance": balance, "error": error, "paused": selectors.dispatch_pause_get()}
