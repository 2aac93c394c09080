"""Fixtures that run the KIE simulator over real HTTP (filled in by the KIE client work)."""
