"""The studio's pages: Generate (form, live price, results in place), result cards, re-run, Compare.

Views parse, call one service, render. With htmx a Generate or Re-run answers the new result
card, which polls itself until it finishes; without JavaScript the same POST redirects to the
result page. Every response that charges or refunds says so with `HX-Trigger: balance-changed`
(the header's balance and the Generate button's "balance after" refresh on it).
"""

from itertools import groupby
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST, require_safe

from artio.errors import ArtioError
from billing.selectors import account_get
from catalog.models import Family, Kind
from catalog.schemas import image_fields
from catalog.selectors import model_for_charge, model_paused_notice

from . import compare, kept, selectors, services
from .forms import GenerationForm, form_query_data

BALANCE_CHANGED = "balance-changed"
STOP_POLLING = 286
RECENT_RESULTS = 6
# Kinds offered for "use as input", best first.
INPUT_KINDS = (Kind.EDIT, Kind.IMAGE_TO_IMAGE)


def form_values(data):
    """Return schema input as the form's string values (booleans as "true"/"false"); lists left out."""
    return {
        key: "true" if value is True else "false" if value is False else str(value)
        for key, value in data.items()
        if not isinstance(value, list)
    }


def form_query(model, data):
    """Return the query string that reopens /generate/ with this form's values (for top-up links)."""
    return urlencode([("model", model.slug), *form_values(data).items()])


def _picker(models, account):
    """Return [(family label, [(model, price_from, locked)])] for the model picker."""
    rows = []
    for model in models:
        prices = sorted(p.credits for p in model.prices.all())
        rows.append((model, prices[0] if prices else None, not model.allows(account.plan)))
    # Families in the catalogue's declared order (Google first), models in their sort order.
    order = {value: index for index, (value, _label) in enumerate(Family.choices)}
    rows.sort(key=lambda r: (order.get(r[0].family, 99), r[0].sort_order, r[0].slug))
    labels = dict(Family.choices)
    grouped = groupby(rows, key=lambda r: r[0].family)
    return [(labels.get(family, family), list(items)) for family, items in grouped]


def _choose_model(models, account, slug, *, needs_image=False):
    """Return the model named `slug`, else the first the plan allows (one taking an image if asked)."""
    chosen = next((m for m in models if m.slug == slug), None)
    if chosen and (not needs_image or image_fields(chosen.input_schema or {})):
        return chosen
    pool = models
    if needs_image:
        takes = [m for m in models if image_fields(m.input_schema or {}) and m.kind in INPUT_KINDS]
        pool = sorted(takes, key=lambda m: INPUT_KINDS.index(m.kind)) or models
    allowed = [m for m in pool if m.allows(account.plan)]
    return allowed[0] if allowed else (pool[0] if pool else None)


def _quote_context(request, model, data, account):
    context = {"model": model, "account": account, "quote": None, "quote_error": ""}
    try:
        quote, _errors = services.generation_quote_preview(
            user=request.user, model_slug=model.slug, data=data
        )
    except ArtioError as exc:
        context["quote_error"] = exc.message
        return context
    context["quote"] = quote
    context["balance_after"] = account.balance - quote.credits
    context["short_by"] = max(0, quote.credits - account.balance)
    generate_url = reverse("generate") + "?" + form_query(model, data)
    context["topup_url"] = reverse("billing") + "?" + urlencode({"next": generate_url})
    return context


def _coerce_initial(form, data):
    """Turn prefilled strings into the types the schema wants, where the form field knows how."""
    coerced = {}
    for name, value in data.items():
        field = form.fields.get(name)
        if field is None or name in form.upload_names:
            continue
        try:
            coerced[name] = field.clean(value)
        except forms.ValidationError:
            continue  # a bad prefill is simply left out of the price preview
    return {k: v for k, v in coerced.items() if v not in ("", None)}


def cards_prepare(generations, *, user):
    """Give each generation the price of running it again (shown on its Re-run button)."""
    for generation in generations:
        generation.rerun_credits = services.generation_rerun_quote(generation=generation, user=user)
    return generations


def _card_response(request, generation, *, charged=False, status=200):
    cards_prepare([generation], user=request.user)
    response = render(request, "generation/_card.html", {"g": generation, "fresh": charged}, status=status)
    if charged or (generation.is_terminal and generation.refunded):
        response["HX-Trigger"] = BALANCE_CHANGED
    return response


def _refs_posted(request, form):
    return {name: kept.refs_clean(request.POST.getlist(f"{name}__kept")) for name in form.upload_names}


def _uploads(request, form, refs):
    """Return {field: [files]}: the referenced images (kept or "use as input"), then new files."""
    uploads = {}
    for name in form.upload_names:
        opened = [kept.ref_open(user=request.user, ref=ref) for ref in refs.get(name, [])]
        uploads[name] = [f for f in opened if f is not None] + list(form.cleaned_data.get(name) or [])
    return uploads


def _keep_new_files(request, form, refs):
    """The form is going back with an error: keep each new image so the user need not choose it again."""
    limit = settings.ARTIO_MAX_UPLOAD_BYTES
    for name in form.upload_names:
        for upload in request.FILES.getlist(name):
            if upload.size > limit:
                form.add_error(name, f"{upload.name} is larger than {limit // (1024 * 1024)} MB.")
                continue
            ref = kept.upload_keep(user=request.user, upload=upload)
            if ref:
                refs.setdefault(name, []).append(ref)
            else:
                form.add_error(name, f"{upload.name} is not a PNG, JPEG or WebP image.")


def _create(request, form, account, refs):
    """Charge and create from a valid form; return (generation, None) or (None, ArtioError)."""
    try:
        generation = services.generation_create(
            user=request.user,
            model_slug=form.model.slug,
            data=form.input_data(),
            uploads=_uploads(request, form, refs),
            account=account,
        )
    except ArtioError as exc:
        if exc.code == "invalid_input":
            form.add_service_errors(exc.details)
        return None, exc
    kept.kept_forget(user=request.user, refs=[r for rs in refs.values() for r in rs])
    return generation, None


@login_required
def generate(request):
    """GET: the studio for the chosen model. POST: charge and create; the new card (htmx) or its page."""
    account = account_get(user=request.user)
    htmx = bool(request.headers.get("HX-Request"))
    status, error, form, refs, data = 200, None, None, {}, {}
    slug = (request.POST if request.method == "POST" else request.GET).get("model", "")
    model = model_for_charge(slug=slug)
    if model is None and slug:
        # A paused model (ops' alerts, or staff) says why and names the one to use instead.
        notice = model_paused_notice(slug=slug)
        error = services.ModelPaused(notice) if notice else None
    if request.method == "POST" and model is not None:
        form = GenerationForm(request.POST, request.FILES, model=model, user=request.user)
        refs = _refs_posted(request, form)
        if form.is_valid():
            generation, error = _create(request, form, account, refs)
            if generation is not None:
                if htmx:
                    return _card_response(request, generation, charged=True)
                return redirect(generation.get_absolute_url())
            status = error.http_status
        else:
            status = 400
        _keep_new_files(request, form, refs)
        data = form.input_data()
    models = selectors.models_for_picker()
    use = kept.refs_clean([request.GET.get("use", "")])
    if model is None or (use and not image_fields(model.input_schema or {})):
        model = _choose_model(models, account, request.GET.get("model", ""), needs_image=bool(use))
    context = {
        "families": _picker(models, account),
        "model_count": len(models),
        "model": model,
        "account": account,
        "error": error,
        "paused": selectors.dispatch_pause_get() is not None,
        "carry": urlencode({"use": use[0]}) if use else "",
    }
    if model is None:
        return render(request, "generation/generate.html", context)
    context["locked"] = not model.allows(account.plan)
    if form is None:
        form, data = _form_for_visit(request, model, context)
        if use and form.upload_names:
            refs = {form.upload_names[0]: use}
    _refs_show(request, form, refs)
    context["form"] = form
    context["has_advanced"] = any(getattr(f, "is_advanced", False) for f in form.fields.values())
    context.update(_quote_context(request, model, data, account))
    context["history"] = selectors.prompts_recent(user=request.user)
    if htmx and request.method == "POST":
        # htmx swaps only 2xx answers: the form comes back in place of itself, with its errors.
        response = render(request, "generation/generate.html#compose", context)
        response["HX-Retarget"], response["HX-Reswap"] = "#compose", "outerHTML"
        return response
    context["results"] = cards_prepare(
        selectors.generations_recent(user=request.user, limit=RECENT_RESULTS), user=request.user
    )
    context["history"] = selectors.prompts_recent(user=request.user)
    return render(request, "generation/generate.html", context, status=status)


def _form_for_visit(request, model, context):
    """Return (form, price data) for a GET: prefilled from the link, else from this user's last run."""
    initial = form_query_data(model, request.GET)
    if not initial and "defaults" not in request.GET:
        # A plain visit starts from the options this user last generated with on this model.
        initial = form_values(selectors.generation_last_settings(user=request.user, model=model))
        context["remembered"] = bool(initial)
    if source := request.GET.get("prompt_from"):
        initial["prompt"] = selectors.generation_prompt_for_owner(user=request.user, public_id=source)
    form = GenerationForm(model=model, initial=initial, user=request.user)
    data = _coerce_initial(form, {k: v for k, v in form.initial.items() if v not in ("", None)})
    return form, data


def _refs_show(request, form, refs):
    """Give each upload field the images it already holds: [(reference, preview URL)]."""
    for name in form.upload_names:
        shown = []
        for ref in refs.get(name, []):
            url = kept.ref_preview_url(user=request.user, ref=ref)
            if url:
                shown.append((ref, url))
        form.fields[name].kept = shown


@login_required
@require_GET
def generate_quote(request):
    """htmx: the Generate button with the exact cost for the form's current options."""
    account = account_get(user=request.user)
    model = model_for_charge(slug=request.GET.get("model", ""))
    if model is None:
        return HttpResponseNotFound()
    form = GenerationForm(request.GET, model=model, user=request.user)
    form.is_valid()
    data = {k: v for k, v in getattr(form, "cleaned_data", {}).items() if v not in (None, "", [])}
    data = {k: v for k, v in data.items() if k not in form.upload_names}
    context = _quote_context(request, model, data, account)
    context["locked"] = not model.allows(account.plan)
    context["paused"] = selectors.dispatch_pause_get() is not None
    return render(request, "generation/generate.html#generate-button", context)


@login_required
@require_safe
def generate_kept(request, name):
    """Show a kept upload to its owner (the preview in a form that came back with an error)."""
    handle = kept.kept_open_for_owner(user=request.user, name=name)
    if handle is None:
        raise Http404("No such image.")
    ext = name.rsplit(".", 1)[-1]
    response = FileResponse(handle, content_type=f"image/{ext.replace('jpg', 'jpeg')}")
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_GET
def generation_card(request, public_id):
    """htmx: one result card, polled every 2 s until it finishes."""
    try:
        generation = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
    except Http404:
        # Deleted meanwhile (another tab): 286 is htmx's "stop polling"; the card stays as it was.
        return HttpResponse(status=STOP_POLLING)
    return _card_response(request, generation)


@login_required
@require_POST
def generation_rerun(request, public_id):
    """Run it again at today's price (shown on the button); the new card, or its page."""
    source = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
    htmx = bool(request.headers.get("HX-Request"))
    try:
        generation = services.generation_rerun(generation=source)
    except ArtioError as exc:
        if htmx:
            response = render(request, "generation/_alert.html", {"message": exc.message, "source": source})
            response["HX-Retarget"], response["HX-Reswap"] = "#studio-alert", "innerHTML"
            return response
        messages.error(request, exc.message)
        return redirect(reverse("generate") + "?" + form_query(source.model, source.input))
    if htmx:
        return _card_response(request, generation, charged=True)
    return redirect(generation.get_absolute_url())


# --- Compare -----------------------------------------------------------------------------------


def _compare_context(request, account, *, prompt="", chosen=(), aspect_ratio=""):
    models = compare.comparable_models()
    context = {
        "account": account,
        "prompt": prompt,
        "chosen": list(chosen),
        "aspect_ratio": aspect_ratio,
        "aspect_ratios": _shared_aspect_ratios(models),
        "families": _picker(models, account),
        "max_models": compare.MAX_MODELS,
        "max_prompt": 5000,
    }
    context.update(_compare_quote_context(request, account, prompt, chosen, aspect_ratio))
    return context


def _shared_aspect_ratios(models):
    seen = []
    for model in models:
        enum = ((model.input_schema or {}).get("properties") or {}).get("aspect_ratio", {}).get("enum") or []
        seen.extend(v for v in enum if v not in seen)
    preferred = ["1:1", "16:9", "9:16", "4:3", "3:4"]
    return [v for v in preferred if v in seen]


def _compare_quote_context(request, account, prompt, chosen, aspect_ratio):
    if not chosen:
        return {"cq": None, "cq_error": "Choose up to four models to compare."}
    try:
        cq = compare.compare_quote(
            user=request.user, prompt=prompt, model_slugs=chosen, aspect_ratio=aspect_ratio, preview=True
        )
    except ArtioError as exc:
        return {"cq": None, "cq_error": exc.message}
    query = urlencode([("prompt", prompt), ("aspect_ratio", aspect_ratio), *(("models", s) for s in chosen)])
    return {
        "cq": cq,
        "cq_error": "",
        "short_by": max(0, cq.total - account.balance),
        "balance_after": account.balance - cq.total,
        "topup_url": reverse("billing") + "?" + urlencode({"next": reverse("compare") + "?" + query}),
    }


def _compare_source(data):
    return (
        (data.get("prompt") or "").strip(),
        [s for s in data.getlist("models") if s][: compare.MAX_MODELS + 1],
        data.get("aspect_ratio", ""),
    )


@login_required
def compare_page(request):
    """GET: the compare form (and, with ?ids=, the grid of an earlier comparison). POST: start it."""
    account = account_get(user=request.user)
    source = request.POST if request.method == "POST" else request.GET
    prompt, chosen, aspect_ratio = _compare_source(source)
    htmx = bool(request.headers.get("HX-Request"))
    error, status = None, 200
    if request.method == "POST":
        try:
            generations = compare.compare_create(
                user=request.user, prompt=prompt, model_slugs=chosen, aspect_ratio=aspect_ratio
            )
        except ArtioError as exc:
            error, status = exc, exc.http_status
        else:
            ids = ",".join(g.public_id for g in generations)
            url = reverse("compare") + "?" + urlencode({"ids": ids})
            if not htmx:
                return redirect(url)
            response = render(
                request,
                "generation/compare.html#grid",
                {"results": cards_prepare(generations, user=request.user)},
            )
            response["HX-Trigger"], response["HX-Push-Url"] = BALANCE_CHANGED, url
            return response
        account = account_get(user=request.user)
    context = _compare_context(request, account, prompt=prompt, chosen=chosen, aspect_ratio=aspect_ratio)
    context["error"] = error
    if htmx and request.method == "POST":
        response = render(request, "generation/compare.html#compare-error", context)
        response["HX-Retarget"], response["HX-Reswap"] = "#compare-error", "outerHTML"
        return response
    ids = [i for i in request.GET.get("ids", "").split(",") if i][: compare.MAX_MODELS]
    results = selectors.generations_by_ids(user=request.user, public_ids=ids) if ids else []
    context["results"] = cards_prepare(results, user=request.user)
    if results and not prompt:
        context["prompt"] = results[0].prompt
    return render(request, "generation/compare.html", context, status=status)


@login_required
@require_GET
def compare_quote(request):
    """htmx: the Compare button with the total price and expected time for the current choice."""
    account = account_get(user=request.user)
    prompt, chosen, aspect_ratio = _compare_source(request.GET)
    context = {"account": account, **_compare_quote_context(request, account, prompt, chosen, aspect_ratio)}
    return render(request, "generation/compare.html#compare-button", context)
