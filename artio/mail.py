"""E-mail in Artio's voice: every message is plain text with an HTML alternative.

`mail_send` renders templates/email/<name>.txt and .html (both extend email/base.*, the brand and
the sign-off) and sends them as one message. allauth's messages (confirm your e-mail, password
reset, ...) use the same layout through templates/account/email/.

In development, ReadableConsoleBackend prints messages as a person reads them.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.console import EmailBackend
from django.template.loader import render_to_string


def mail_render(name, context):
    """Return (text, html) of the e-mail `name` (templates/email/<name>.txt and .html)."""
    context = {"PUBLIC_URL": settings.ARTIO_PUBLIC_URL, **context}
    text = render_to_string(f"email/{name}.txt", context).strip() + "\n"
    html = render_to_string(f"email/{name}.html", context)
    return text, html


def mail_send(*, to, subject, name, context):
    """Send the e-mail `name` to the addresses in `to`, as text with an HTML alternative."""
    text, html = mail_render(name, context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=list(to))
    message.attach_alternative(html, "text/html")
    message.send()


class ReadableConsoleBackend(EmailBackend):
    """Django's console backend prints the MIME source, where long lines (the verification link)
    are quoted-printable encoded and broken with `=`; this one prints the plain-text body as written."""

    def write_message(self, message):
        self.stream.write(
            f"From: {message.from_email}\nTo: {', '.join(message.to)}\nSubject: {message.subject}\n\n"
            f"{message.body}\n"
        )
        self.stream.write("-" * 79 + "\n")
