"""The Generate form, built from a model's input schema."""

from django import forms

from catalog.schemas import CONTENT_FILTER_FIELDS, content_filter_optional_for, image_fields

# Fields shown as a large text box.
TEXTAREA_FIELDS = {"prompt", "negative_prompt", "style"}
# Kept under "Advanced" (collapsed); everything else is visible.
ADVANCED_FIELDS = {"negative_prompt", "seed", "nsfw_checker", "output_format", "enable_pro", "style"}
# Enums drawn as tiles (radio buttons) rather than a select.
TILE_MAX_CHOICES = 12
TOO_LONG = (
    "This is %(show_value)s characters; the limit is %(limit_value)s. Nothing was cut: "
    "shorten it and try again."
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    def __init__(self, *args, max_files=1, **kwargs):
        self.max_files = max_files
        attrs = {"accept": "image/png,image/jpeg,image/webp"}
        widget = MultipleFileInput(attrs=attrs) if max_files > 1 else forms.ClearableFileInput(attrs=attrs)
        super().__init__(*args, widget=widget, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleImageField, self).clean(d, initial) for d in data if d]
        cleaned = super().clean(data, initial)
        return [cleaned] if cleaned else []


def _label(name, prop):
    return prop.get("title") or name.replace("_", " ").capitalize()


def _field_for(name, prop, required):
    help_text = prop.get("description", "")
    label = _label(name, prop)
    kind = prop.get("type")
    if "enum" in prop:
        choices = [(str(v), str(v)) for v in prop["enum"]]
        if not required and "default" not in prop:
            choices = [("", "Default"), *choices]
        widget = forms.RadioSelect if len(choices) <= TILE_MAX_CHOICES else forms.Select
        coerce = {"integer": int, "number": float}.get(kind, str)
        field = forms.TypedChoiceField(
            label=label, choices=choices, coerce=coerce, required=required, help_text=help_text, widget=widget
        )
        field.is_tiles = widget is forms.RadioSelect
        return field
    if kind in ("integer", "number"):
        # Model knobs such as steps or guidance scale; never money.
        field_class = forms.IntegerField if kind == "integer" else forms.FloatField
        return field_class(
            label=label,
            required=required,
            min_value=prop.get("minimum"),
            max_value=prop.get("maximum"),
            help_text=help_text,
        )
    if kind == "boolean":
        return forms.TypedChoiceField(
            label=label,
            choices=[("true", "Yes"), ("false", "No")],
            coerce=lambda v: v == "true",
            required=False,
            help_text=help_text,
            widget=forms.RadioSelect,
        )
    max_length = prop.get("maxLength")
    widget = None
    if name == "prompt":
        widget = forms.Textarea(
            attrs={
                "rows": 3,
                "data-autogrow": "true",
                "class": "prompt__input",
                "placeholder": "Describe the image: subject, setting, style, light, mood…",
            }
        )
    elif name in TEXTAREA_FIELDS:
        widget = forms.Textarea(attrs={"rows": 3, "data-autogrow": "true"})
    field = forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        widget=widget,
        strip=True,
        error_messages={"max_length": TOO_LONG},
    )
    # No maxlength attribute: the browser would cut a long paste silently. The page counts
    # instead, says how much is over, and the server refuses it (TOO_LONG).
    field.widget.attrs.pop("maxlength", None)
    return field


class GenerationForm(forms.Form):
    """One field per schema property; image-URL inputs become uploads. The service re-validates.

    KIE's content filter switches are left out unless `user` may turn them off on this model
    (staff, where the model allows it); the service then sends them as on.
    """

    def __init__(self, *args, model, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        schema = model.input_schema or {}
        required = set(schema.get("required") or [])
        uploads = image_fields(schema)
        self.upload_names = list(uploads)
        filter_switchable = content_filter_optional_for(model=model, user=user)
        for name, prop in (schema.get("properties") or {}).items():
            if name in CONTENT_FILTER_FIELDS and not filter_switchable:
                continue
            if name in uploads:
                field = MultipleImageField(
                    label=_label(name, prop),
                    required=False,
                    max_files=uploads[name],
                    help_text=(
                        f"PNG, JPEG or WebP; up to {uploads[name]} file{'s' if uploads[name] > 1 else ''}."
                    ),
                )
                field.is_required_upload = name in required
                field.is_upload = True
                field.kept = []  # [(reference, preview URL)] of images it already holds (generation/kept.py)
            else:
                field = _field_for(name, prop, name in required)
                if "default" in prop and name not in self.initial:
                    default = prop["default"]
                    self.initial[name] = (
                        ("true" if default else "false") if isinstance(default, bool) else str(default)
                    )
            field.is_advanced = name in ADVANCED_FIELDS
            self.fields[name] = field

    def input_data(self):
        """Return the cleaned values as schema input, leaving out blanks so schema defaults apply."""
        data = {}
        for name, value in self.cleaned_data.items():
            if name in self.upload_names or value in (None, "", []):
                continue
            data[name] = value
        return data

    def upload_data(self):
        return {name: self.cleaned_data.get(name) or [] for name in self.upload_names}

    def add_service_errors(self, details):
        for name, messages in details.items():
            target = name.split(".")[0] if name.split(".")[0] in self.fields else None
            for message in messages:
                self.add_error(target, message)


def form_query_data(model, querydata):
    """Return the GET data that prefills the form (?model=…&prompt=…), limited to its fields."""
    names = set((model.input_schema or {}).get("properties") or {})
    return {key: querydata.get(key) for key in querydata if key in names}
