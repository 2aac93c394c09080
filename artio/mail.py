"""Development e-mail: print messages as a person reads them.

Django's console backend prints the MIME source, where long lines (the verification link) are
quoted-printable encoded and broken with `=`; this one prints the plain-text body as written.
"""

from django.core.mail.backends.console import EmailBackend


class ReadableConsoleBackend(EmailBackend):
    def write_message(self, message):
        self.stream.write(
            f"From: {message.from_email}\nTo: {', '.join(message.to)}\nSubject: {message.subject}\n\n"
            f"{message.body}\n"
        )
        self.stream.write("-" * 79 + "\n")
