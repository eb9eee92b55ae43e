"""netorch as a daemon: scheduled drift checks, an authenticated HTTP API, metrics, webhooks."""
