"""What users may put in a model's input: public https image links only, and the content filter on."""

import pytest
from django.urls import reverse

from catalog.models import AIModel
from catalog.schemas import (
    InputInvalid,
    content_filter_optional_for,
    validate_against_schema,
    validate_input,
)
from catalog.seed_schemas import flux2, nano_banana_edit, qwen_image_to_image, recraft_remove_background

# Links a user could aim at KIE's (or, through a careless proxy, our) insides.
ATTACKS = [
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:image/png;base64,iVBORw0KGgo=",
    "ftp://example.com/cat.png",
    "http://example.com/cat.png",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://127.0.0.1/cat.png",
    "https://10.0.0.8/cat.png",
    "https://192.168.1.1/cat.png",
    "https://172.16.0.1/cat.png",
    "https://100.64.0.1/cat.png",
    "https://0.0.0.0/cat.png",
    "https://224.0.0.1/cat.png",
    "https://240.0.0.1/cat.png",
    "https://2130706433/cat.png",
    "https://0x7f000001/cat.png",
    "https://0177.0.0.1/cat.png",
    "https://127.1/cat.png",
    "https://[::1]/cat.png",
    "https://[::]/cat.png",
    "https://[fe80::1]/cat.png",
    "https://[fd00::1]/cat.png",
    "https://[ff02::1]/cat.png",
    "https://[::ffff:127.0.0.1]/cat.png",
    "https://[::ffff:a9fe:a9fe]/cat.png",
    "https://[2002:7f00:1::]/cat.png",
    "https://localhost/cat.png",
    "https://LOCALHOST./cat.png",
    "https://ｌｏｃａｌｈｏｓｔ/cat.png",
    "https://app.localhost/cat.png",
    "https://printer.local/cat.png",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://intranet/cat.png",
    "https://user:pass@example.com/cat.png",
    "https://example.com@169.254.169.254/cat.png",
    "https:example.com/cat.png",
    "https://example.com:99999/cat.png",
    "https://exa mple.com/cat.png",
    "https://example.com/" + "a" * 2000,
]
GOOD = [
    "https://example.com/cat.png",
    "https://images.example.com:8443/a/b.webp?size=large",
    "https://tempfile.redpandaai.co/kieai/123/images/user-uploads/x.png",
    "https://8.8.8.8/cat.png",
    "https://[2606:4700::1111]/cat.png",
]


def refusal(schema, data, **kwargs):
    with pytest.raises(InputInvalid) as excinfo:
        validate_input(schema, data, **kwargs)
    return excinfo.value.errors


@pytest.mark.parametrize("url", ATTACKS)
def test_every_kind_of_image_field_refuses_a_link_that_is_not_public_https(url):
    list_errors = refusal(nano_banana_edit(), {"prompt": "make it blue", "image_urls": [GOOD[0], url]})
    single_errors = refusal(recraft_remove_background(), {"image": url})

    assert list(list_errors) == ["image_urls.1"]
    assert list(single_errors) == ["image"]
    message = single_errors["image"][0]
    assert message.startswith("Must be") and "link" in message


@pytest.mark.parametrize("url", GOOD)
def test_a_public_https_link_is_taken_as_it_is(url):
    data = validate_input(qwen_image_to_image(), {"prompt": "a cat", "image_url": url})

    assert data["image_url"] == url


def test_the_messages_say_what_is_wrong_in_plain_words():
    schema = recraft_remove_background()

    assert refusal(schema, {"image": "file:///etc/passwd"}) == {
        "image": ["Must be an https:// link to a public image."]
    }
    assert "private" in refusal(schema, {"image": "https://10.0.0.1/a.png"})["image"][0]
    assert "user name" in refusal(schema, {"image": "https://a:b@example.com/a.png"})["image"][0]
    assert refusal(schema, {"image": "https://example.com/" + "a" * 2000}) == {
        "image": ["Must be a link of at most 2000 characters."]
    }


def test_links_on_kies_configured_upload_host_pass_and_nothing_else_on_loopback(settings):
    # The sandbox's upload host is the simulator on loopback; its links go into web users' inputs.
    settings.KIE_UPLOAD_BASE = "http://127.0.0.1:8001"
    schema = recraft_remove_background()

    ok = validate_input(schema, {"image": "http://127.0.0.1:8001/uploads/abc/input.png?expires=1&sig=x"})
    other_port = refusal(schema, {"image": "http://127.0.0.1:8002/uploads/abc/input.png"})
    with_user = refusal(schema, {"image": "http://u@127.0.0.1:8001/uploads/abc/input.png"})

    assert ok["image"].startswith("http://127.0.0.1:8001/")
    assert list(other_port) == list(with_user) == ["image"]


def test_kies_own_schema_check_still_takes_what_kie_takes():
    # The KIE simulator judges createTask as KIE does: by the schema alone.
    data = validate_against_schema(flux2(image_to_image=True), {
        "prompt": "a cat", "input_urls": ["http://127.0.0.1:8001/uploads/a/x.png"],
        "aspect_ratio": "1:1", "resolution": "1K", "nsfw_checker": False,
    })  # fmt: skip

    assert data["nsfw_checker"] is False


T2I = {"prompt": "a cat", "aspect_ratio": "1:1", "resolution": "1K"}


def test_content_filter_is_refused_off_and_forced_on_for_users():
    schema = flux2(image_to_image=False)

    assert refusal(schema, {**T2I, "nsfw_checker": False}) == {
        "nsfw_checker": ["The content filter is always on; it cannot be turned off."]
    }
    assert validate_input(schema, {**T2I, "nsfw_checker": True})["nsfw_checker"] is True
    assert validate_input(schema, T2I)["nsfw_checker"] is True


def test_content_filter_is_forced_on_even_where_a_schema_defaults_it_off():
    schema = flux2(image_to_image=False)
    schema["properties"]["nsfw_checker"]["default"] = False

    assert validate_input(schema, T2I)["nsfw_checker"] is True


def test_qwens_safety_checker_counts_as_a_content_filter():
    schema = qwen_image_to_image()
    data = {"prompt": "a cat", "image_url": GOOD[0]}

    assert list(refusal(schema, {**data, "enable_safety_checker": False})) == ["enable_safety_checker"]
    filled = validate_input(schema, data)
    assert filled["enable_safety_checker"] is True and filled["nsfw_checker"] is True


def test_content_filter_may_be_switched_off_only_when_the_caller_allows_it():
    schema = flux2(image_to_image=False)

    data = validate_input(schema, {**T2I, "nsfw_checker": False}, content_filter_switchable=True)

    assert data["nsfw_checker"] is False


@pytest.mark.django_db
def test_only_staff_on_a_model_that_allows_it_may_switch_the_filter(make_user):
    staff = make_user(is_staff=True)
    user = make_user()
    allowing = AIModel.objects.get(slug="flux-2/pro-text-to-image")
    allowing.content_filter_optional = True
    closed = AIModel.objects.get(slug="grok-imagine/text-to-image")

    assert content_filter_optional_for(model=allowing, user=staff) is True
    assert content_filter_optional_for(model=allowing, user=user) is False
    assert content_filter_optional_for(model=closed, user=staff) is False
    assert content_filter_optional_for(model=allowing, user=None) is False


@pytest.mark.django_db
def test_seed_models_keep_the_filter_closed():
    assert not AIModel.objects.filter(content_filter_optional=True).exists()


@pytest.mark.django_db
def test_model_admin_offers_the_staff_switch_with_help(client, staff):
    client.force_login(staff)
    model = AIModel.objects.get(slug="grok-imagine/text-to-image")

    body = client.get(reverse("admin:catalog_aimodel_change", args=[model.pk])).content.decode()

    assert 'name="content_filter_optional"' in body
    assert "switch it off for this model" in body
