"""The plans on sale, for pages outside billing (the price list) that show them beside Free and Standard."""

from django import template

from billing import subscriptions

register = template.Library()


@register.simple_tag
def subscription_plans():
    """Return the subscription plans on sale."""
    return subscriptions.plans_for_sale()
