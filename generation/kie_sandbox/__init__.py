"""The KIE simulator (docs/kie-sandbox.md): KIE's HTTP API on a local port, for `make run` and tests."""
